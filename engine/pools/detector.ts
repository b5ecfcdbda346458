import type { DetectorConfig } from '../config/schema.js';
import { YOLOX_INPUT_SIZE } from '../../detectors/yolox/model.js';
import { KuzetError } from '../errors.js';
import type { Logger } from '../log.js';
import type { FrameCues } from '../../pipelines/analytics/types.js';
import type { Detection, Sample } from '../types.js';
import { DecodePool, type DecodePoolOptions } from './decode-pool.js';
import { InferPool, inferWorkerData, type InferOptions, type InferPoolOptions } from './infer-pool.js';
import type { DecodedFrame } from './protocol.js';
import type { PoolStats } from './stats.js';

/**
 * Flat options mirror the `detectors[]` and `engine.pools` config sections; `decode` / `infer` give full control
 * of each pool and win over the flat fields.
 */
export interface DetectorOptions extends Pick<
  InferOptions,
  | 'modelPath'
  | 'labelsPath'
  | 'head'
  | 'classThresholds'
  | 'classes'
  | 'scoreThreshold'
  | 'executionProviders'
> {
  /**
   * Model input side: the decode pool letterboxes to it. YOLOX must be 416 (the shipped YOLOX-Nano export is
   * fixed there); YOLOv5/v8 take the size their model was exported at (default 640).
   */
  inputSize?: number;
  /** Class-wise NMS IoU (default 0.45). */
  nmsIou?: number;
  decodeThreads?: number;
  inferThreads?: number;
  intraOpThreads?: number;
  /** Queue bound of each pool. */
  maxQueue?: number;
  /** Dynamic batching of the inference pool (see InferPoolOptions). */
  maxBatch?: number;
  batchWaitMs?: number;
  log?: Logger;
  decode?: DecodePoolOptions;
  infer?: InferPoolOptions;
}

export interface DetectResult {
  detections: Detection[];
  /** Source frame size; detection boxes are in these pixels. */
  width: number;
  height: number;
  decodeMs: number;
  inferMs: number;
  /** Grey thumbnail for the analytics' pixel cues. */
  cues: FrameCues;
}

export interface DetectorStats {
  decode: PoolStats;
  infer: PoolStats;
  /** Shorthands for kuzet_queue_depth{stage}. */
  decodeQueue: number;
  inferQueue: number;
}

/**
 * Decode pool + inference pool behind one call. Several calls may be in flight: while one frame is in
 * inference the next is already decoding, which is where the throughput over a sequential loop comes from.
 * Either stage may reject with PoolQueueFullError (count as a drop) or a KuzetError (decode/model failure).
 */
export class Detector {
  readonly decodePool: DecodePool;
  readonly inferPool: InferPool;

  constructor(opts: DetectorOptions = {}, log?: Logger) {
    const head = opts.head ?? 'yolox';
    if (head === 'yolox' && opts.inputSize !== undefined && opts.inputSize !== YOLOX_INPUT_SIZE) {
      throw new KuzetError(
        'KUZET_ERR_CONFIG',
        `detector inputSize: must be ${YOLOX_INPUT_SIZE} for the shipped YOLOX-Nano export, got ${opts.inputSize}`,
      );
    }
    const inputSize = opts.inputSize ?? (head === 'yolox' ? YOLOX_INPUT_SIZE : 640);
    const infer: InferPoolOptions = {
      modelPath: opts.modelPath,
      labelsPath: opts.labelsPath,
      head,
      inputSize,
      classThresholds: opts.classThresholds,
      classes: opts.classes,
      scoreThreshold: opts.scoreThreshold,
      iouThreshold: opts.nmsIou,
      executionProviders: opts.executionProviders,
      threads: opts.inferThreads,
      intraOpNumThreads: opts.intraOpThreads,
      maxQueue: opts.maxQueue,
      maxBatch: opts.maxBatch,
      maxWaitMs: opts.batchWaitMs,
      ...opts.infer,
    };
    // Validated (class names resolved) before any worker starts, so a bad option leaves no threads behind.
    inferWorkerData(infer);
    // Frames are letterboxed to the model's own input size.
    this.decodePool = new DecodePool({
      threads: opts.decodeThreads,
      maxQueue: opts.maxQueue,
      size: infer.inputSize,
      ...opts.decode,
    });
    this.inferPool = new InferPool(infer, log ?? opts.log);
  }

  /** `sample.data` is transferred to the decode worker: the caller's buffer is detached on return. */
  async detectSample(sample: Sample): Promise<DetectResult> {
    return this.infer(await this.decodePool.decodeSample(sample));
  }

  async detectJpeg(data: Uint8Array): Promise<DetectResult> {
    return this.infer(await this.decodePool.decodeJpeg(data));
  }

  stats(): DetectorStats {
    const decode = this.decodePool.stats();
    const infer = this.inferPool.stats();
    return { decode, infer, decodeQueue: decode.queued, inferQueue: infer.queued };
  }

  async close(): Promise<void> {
    await Promise.all([this.decodePool.close(), this.inferPool.close()]);
  }

  private async infer(frame: DecodedFrame): Promise<DetectResult> {
    const { detections, inferMs, tensor } = await this.inferPool.infer(frame);
    this.decodePool.recycle(tensor);
    return {
      detections,
      width: frame.width,
      height: frame.height,
      decodeMs: frame.decodeMs,
      inferMs,
      cues: { thumb: frame.thumb, thumbWidth: frame.thumbWidth, thumbHeight: frame.thumbHeight },
    };
  }
}

/** The Detector options a `detectors[]` config entry gives (paths resolved by `resolve`); pool sizes are the caller's. */
export function detectorOptionsFromConfig(
  d: DetectorConfig,
  resolve: (p: string) => string,
): DetectorOptions {
  return {
    modelPath: resolve(d.model),
    labelsPath: resolve(d.labels),
    head: d.type,
    inputSize: d.inputSize,
    classThresholds: d.classThresholds,
    classes: d.classes,
    scoreThreshold: d.scoreThreshold,
    nmsIou: d.nmsIou,
    executionProviders: d.executionProviders,
  };
}
