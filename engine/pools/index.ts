/** Public surface of the decode/inference worker pools. Workers, protocol and adapters stay private. */
export { DecodePool, type DecodePoolOptions } from './decode-pool.js';
export { InferPool, type InferPoolOptions, type InferOptions, type InferOutput } from './infer-pool.js';
export {
  Detector,
  detectorOptionsFromConfig,
  type DetectorOptions,
  type DetectResult,
  type DetectorStats,
} from './detector.js';
export {
  createInProcessDetector,
  detectInProcess,
  closeInProcessDetector,
  type InProcessDetector,
} from './in-process.js';
export {
  PoolQueueFullError,
  PoolWorkerCrashError,
  dropReason,
  isQueueFull,
  type PoolStage,
} from './errors.js';
export type { DecodedFrame } from './protocol.js';
export type { PoolStats } from './stats.js';
