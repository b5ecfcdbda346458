import { letterboxJpeg, type ResizeKernel } from '../../detectors/jpeg-letterbox.js';
import { tensorLength } from '../../detectors/letterbox.js';
import { YoloxDecoder } from '../../detectors/yolox/decode.js';
import { loadLabels } from '../../detectors/yolox/labels.js';
import { createYoloxSession, runYolox, type YoloxSession } from '../../detectors/yolox/session.js';
import { frameCues } from '../../pipelines/analytics/cues.js';
import { createLogger, type Logger } from '../log.js';
import type { DetectResult } from './detector.js';
import { inferWorkerData, type InferOptions } from './infer-pool.js';

export interface InProcessDetector {
  yolox: YoloxSession;
  decoder: YoloxDecoder;
  /** Reused input tensor: the in-process path never hands it to another thread. */
  tensor: Float32Array;
  scoreThreshold: number;
  iouThreshold: number;
  jpegKernel: ResizeKernel;
}

/**
 * The same model, letterbox and decoding as the pools, on the calling thread with no workers. It is the
 * baseline the bench compares against and the reference the pool tests compare with.
 */
export async function createInProcessDetector(
  opts: InferOptions & { jpegKernel?: ResizeKernel } = {},
  log: Logger = createLogger('pools.in-process'),
): Promise<InProcessDetector> {
  const cfg = inferWorkerData(opts);
  const yolox = await createYoloxSession(cfg, log);
  return {
    yolox,
    decoder: new YoloxDecoder(loadLabels(cfg.labelsPath)),
    tensor: new Float32Array(tensorLength()),
    scoreThreshold: cfg.scoreThreshold,
    iouThreshold: cfg.iouThreshold,
    jpegKernel: opts.jpegKernel ?? 'lanczos3',
  };
}

/** sharp letterbox + session.run + decode, sequentially on this thread. */
export async function detectInProcess(det: InProcessDetector, jpeg: Uint8Array): Promise<DetectResult> {
  const t0 = performance.now();
  const { geometry } = await letterboxJpeg(jpeg, det.tensor, 416, det.jpegKernel);
  const decodeMs = performance.now() - t0;
  const { detections, inferMs } = await runYolox(det.yolox.session, det.decoder, det.tensor, geometry, {
    scoreThreshold: det.scoreThreshold,
    iouThreshold: det.iouThreshold,
  });
  const cues = frameCues(det.tensor, geometry);
  return { detections, width: geometry.srcWidth, height: geometry.srcHeight, decodeMs, inferMs, cues };
}

export async function closeInProcessDetector(det: InProcessDetector): Promise<void> {
  await det.yolox.session.release();
}
