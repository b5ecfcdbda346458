/**
 * Messages between the pools and their workers. Failures travel as plain reply objects rather than thrown
 * errors: structured clone drops the `code` of a KuzetError, and a reply can never take a worker down.
 */
import type { ErrorCode } from '../errors.js';
import type { Detection, VideoCodec } from '../types.js';
import type { ResizeKernel } from '../../detectors/jpeg-letterbox.js';
import type { HeadKind } from '../../detectors/head.js';
import type { ExecutionProvider } from '../../detectors/yolox/session.js';

export type DecodeTask = (
  | {
      kind: 'video';
      codec: VideoCodec;
      /** schoolId/cameraId: the decoder cache key. */ stream: string;
      data: Uint8Array;
    }
  | { kind: 'image'; data: Uint8Array }
) & {
  /** A used tensor handed back for the worker to write into, so steady state allocates no 2 MB buffers. */
  out: Float32Array | null;
};

export interface DecodedFrame {
  /** Planar BGR float32 [1,3,size,size] (size 416 by default), letterboxed top-left, pad 114; transferred, not copied. */
  tensor: Float32Array;
  /** Source frame size. */
  width: number;
  height: number;
  /** Letterbox scale r: source pixels = model pixels / r. */
  scale: number;
  decodeMs: number;
  /** Grey thumbnail of the frame (pipelines/analytics/cues.ts), for motion and tamper cues. */
  thumb: Uint8Array;
  thumbWidth: number;
  thumbHeight: number;
}

export interface WorkerFailure {
  ok: false;
  code: ErrorCode;
  message: string;
}

export type DecodeReply = ({ ok: true } & DecodedFrame) | WorkerFailure;

export interface DecodeWorkerData {
  maxDecoders: number;
  /** Side of the square letterbox tensor (the model input size). */
  size: number;
  jpegKernel: ResizeKernel;
}

export interface InferFrame {
  tensor: Float32Array;
  width: number;
  height: number;
  scale: number;
}

/** One batch: a single frame, or several for a dynamic-batch model (the worker packs them into one input). */
export interface InferTask {
  frames: InferFrame[];
}

export type InferReply =
  | {
      ok: true;
      /** Detections per frame, in task order. */
      detections: Detection[][];
      /** Wall time of the batch's session.run + decoding. */
      inferMs: number;
      /** The input tensors, transferred back so the decode pool can reuse them. */
      tensors: Float32Array[];
      /** Set when the requested GPU provider could not load and the worker runs on CPU: the pool warns once. */
      fallback: string | null;
      /** Whether the model has a dynamic batch dimension (the pool only sends batches > 1 when it does). */
      batchCapable: boolean;
    }
  | WorkerFailure;

export interface InferWorkerData {
  modelPath: string;
  labelsPath: string;
  /** Which adapter decodes the model output (detectors/head.ts). */
  head: HeadKind;
  /** Side of the square model input; the decode pool letterboxes to the same size. */
  inputSize: number;
  /** [class id, threshold] pairs overriding scoreThreshold (a Map does not survive workerData as cheaply). */
  classThresholds: Array<[number, number]>;
  /** Only these class ids are reported; null: all. */
  keepClasses: number[] | null;
  intraOpNumThreads: number;
  executionProviders: ExecutionProvider[];
  scoreThreshold: number;
  iouThreshold: number;
  faultInjection: InferFaultInjection | null;
}

/**
 * Chaos-drill and test hook, off unless set: a frame whose source width is `crashOnWidth` makes its worker die
 * from an uncaught error, the way a native crash or an out-of-memory would, with the frame in flight.
 * (Terminating a worker from outside while onnxruntime runs aborts the whole process, so that is no way to
 * rehearse a crash.)
 */
export interface InferFaultInjection {
  crashOnWidth: number;
}
