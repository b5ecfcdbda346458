import { Piscina } from 'piscina';
import { defaultLabelsPath } from '../../detectors/yolox/labels.js';
import { defaultModelPath } from '../../detectors/yolox/model.js';
import type { ExecutionProvider } from '../../detectors/yolox/session.js';
import { KuzetError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { compiledPath } from '../paths.js';
import type { Detection } from '../types.js';
import { PoolQueueFullError, poolError } from './errors.js';
import type { DecodedFrame, InferReply, InferTask, InferWorkerData } from './protocol.js';
import { poolStats, type PoolStats } from './stats.js';

export interface InferOptions {
  modelPath?: string;
  labelsPath?: string;
  /** ORT intra-op threads per worker (default 1). */
  intraOpNumThreads?: number;
  /** Default ['cpu']; ['cuda','cpu'] tries CUDA and falls back to CPU with one warning. */
  executionProviders?: ExecutionProvider[];
  /** Default 0.35. */
  scoreThreshold?: number;
  /** Class-wise NMS IoU, default 0.45. */
  iouThreshold?: number;
}

export interface InferPoolOptions extends InferOptions {
  /** Worker threads, one ONNX session each (default 1). */
  threads?: number;
  /** Tasks allowed to wait beyond the running ones (default 8). */
  maxQueue?: number;
}

export interface InferOutput {
  detections: Detection[];
  inferMs: number;
  /** The input tensor's memory, back from the worker; hand it to DecodePool.recycle() or drop it. */
  tensor: Float32Array;
}

export function inferWorkerData(opts: InferOptions): InferWorkerData {
  const score = opts.scoreThreshold ?? 0.35;
  const iou = opts.iouThreshold ?? 0.45;
  if (!(score >= 0 && score < 1))
    throw new RangeError(`infer.scoreThreshold must be in [0, 1), got ${score}`);
  if (!(iou > 0 && iou <= 1)) throw new RangeError(`infer.iouThreshold must be in (0, 1], got ${iou}`);
  const intra = opts.intraOpNumThreads ?? 1;
  if (!Number.isInteger(intra) || intra < 1)
    throw new RangeError(`infer.intraOpNumThreads must be a positive integer, got ${intra}`);
  return {
    modelPath: opts.modelPath ?? defaultModelPath,
    labelsPath: opts.labelsPath ?? defaultLabelsPath,
    intraOpNumThreads: intra,
    executionProviders: opts.executionProviders?.length ? [...opts.executionProviders] : ['cpu'],
    scoreThreshold: score,
    iouThreshold: iou,
  };
}

/** YOLOX inference on worker threads. The tensor is transferred in (detached on the caller's side). */
export class InferPool {
  readonly maxQueue: number;
  private readonly pool: Piscina<InferTask, InferReply>;
  private warned = false;

  constructor(
    opts: InferPoolOptions = {},
    private readonly log: Logger = createLogger('pools.infer'),
  ) {
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1)
      throw new RangeError(`infer.threads must be a positive integer, got ${threads}`);
    this.maxQueue = opts.maxQueue ?? 8;
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 0)
      throw new RangeError(`infer.maxQueue must be an integer >= 0, got ${this.maxQueue}`);
    this.pool = new Piscina({
      filename: compiledPath('engine', 'pools', 'infer-worker.ts'),
      name: 'default',
      minThreads: threads,
      maxThreads: threads,
      maxQueue: this.maxQueue,
      idleTimeout: Infinity,
      workerData: inferWorkerData(opts),
    });
  }

  async infer(frame: Pick<DecodedFrame, 'tensor' | 'width' | 'height' | 'scale'>): Promise<InferOutput> {
    if (this.pool.queueSize >= this.maxQueue && this.pool.idleThreads === 0)
      throw new PoolQueueFullError('infer', this.maxQueue);
    const task: InferTask = {
      tensor: frame.tensor,
      width: frame.width,
      height: frame.height,
      scale: frame.scale,
    };
    let reply: InferReply;
    try {
      reply = await this.pool.run(task, { transferList: [frame.tensor.buffer as ArrayBuffer] });
    } catch (err) {
      throw poolError(err, 'infer', this.maxQueue, 'KUZET_ERR_MODEL');
    }
    if (!reply.ok) throw new KuzetError(reply.code, reply.message);
    if (reply.fallback !== null && !this.warned) {
      this.warned = true;
      this.log.warn('GPU execution provider unavailable, inference runs on CPU', { reason: reply.fallback });
    }
    return { detections: reply.detections, inferMs: reply.inferMs, tensor: reply.tensor };
  }

  stats(): PoolStats {
    return poolStats(this.pool, this.maxQueue);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
