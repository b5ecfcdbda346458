import * as ort from 'onnxruntime-node';
import { KuzetError, errorMessage } from '../../engine/errors.js';
import type { Logger } from '../../engine/log.js';
import type { Detection } from '../../engine/types.js';
import { defaultDecodeOptions, type DecodeOptions, type FrameGeometry, type YoloxDecoder } from './decode.js';
import { YOLOX_INPUT_NAME, YOLOX_INPUT_SIZE, YOLOX_OUTPUT_NAME, defaultModelPath } from './model.js';

export type ExecutionProvider = 'cpu' | 'cuda';

// ORT's native logger is process-wide and fixed when the first session opens; a GPU provider that cannot load
// prints a raw multi-line error through it, whatever the session's own level. Every ORT failure also surfaces
// as an exception that becomes a KuzetError or a structured warning here, so the native logger stays at fatal.
ort.env.logLevel = 'fatal';

export interface YoloxSessionOptions {
  modelPath?: string;
  /** Threads inside one inference (ORT intra-op pool). Default 1: parallelism comes from pool workers. */
  intraOpNumThreads?: number;
  /** Tried in order as one list; if a GPU provider cannot load, retried with CPU only. Default ['cpu']. */
  executionProviders?: readonly ExecutionProvider[];
}

export interface YoloxSession {
  session: ort.InferenceSession;
  /** The provider list the session was finally created with. */
  providers: readonly ExecutionProvider[];
}

/**
 * Opens the model. A provider list like ['cuda','cpu'] makes ORT throw when the CUDA libraries are absent
 * (it does not fall back by itself), so the fallback is done here, with one warning instead of a crash.
 */
export async function createYoloxSession(opts: YoloxSessionOptions, log?: Logger): Promise<YoloxSession> {
  const modelPath = opts.modelPath ?? defaultModelPath;
  const providers = opts.executionProviders?.length
    ? [...opts.executionProviders]
    : (['cpu'] as ExecutionProvider[]);
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // ORT's intra-op threads busy-wait after each run by default. Here they share cores with JPEG/H.264 decoding
    // and other workers, and the spinning measurably slowed sharp decodes (~20 -> ~28 ms on 2 cores).
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  const gpu = providers.some((p) => p !== 'cpu');
  try {
    const session = await ort.InferenceSession.create(modelPath, {
      ...base,
      executionProviders: providers,
    });
    return { session, providers };
  } catch (err) {
    if (!gpu || !providers.includes('cpu')) {
      throw new KuzetError(
        'KUZET_ERR_MODEL',
        `Cannot open model ${modelPath} with providers [${providers.join(',')}]: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    log?.warn('GPU execution provider unavailable, falling back to CPU', {
      requested: providers.join(','),
      reason: errorMessage(err),
    });
  }
  try {
    const session = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ['cpu'] });
    return { session, providers: ['cpu'] };
  } catch (err) {
    throw new KuzetError('KUZET_ERR_MODEL', `Cannot open model ${modelPath} on CPU: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

export interface InferResult {
  detections: Detection[];
  inferMs: number;
}

/** Runs one letterboxed tensor through the model and decodes it; inferMs covers session.run + decode. */
export async function runYolox(
  session: ort.InferenceSession,
  decoder: YoloxDecoder,
  tensor: Float32Array,
  geometry: FrameGeometry,
  opts: DecodeOptions = defaultDecodeOptions,
): Promise<InferResult> {
  const size = YOLOX_INPUT_SIZE;
  const t0 = performance.now();
  let out: ort.InferenceSession.OnnxValueMapType;
  const input = new ort.Tensor('float32', tensor, [1, 3, size, size]);
  try {
    out = await session.run({ [YOLOX_INPUT_NAME]: input });
  } catch (err) {
    throw new KuzetError('KUZET_ERR_MODEL', `YOLOX inference failed: ${errorMessage(err)}`, { cause: err });
  }
  const output = out[YOLOX_OUTPUT_NAME];
  if (!output || !(output.data instanceof Float32Array)) {
    throw new KuzetError('KUZET_ERR_MODEL', `YOLOX output '${YOLOX_OUTPUT_NAME}' missing or not float32`);
  }
  const detections = decoder.decode(output.data, geometry, opts);
  output.dispose();
  return { detections, inferMs: performance.now() - t0 };
}

/**
 * Does the model take a batch of images? True when input dim 0 is symbolic (a dynamic-batch export), false for
 * a fixed [1,3,H,W] export, which can only run one image per call.
 */
export function acceptsBatches(session: ort.InferenceSession): boolean {
  const meta = session.inputMetadata?.[0];
  if (!meta || !meta.isTensor) return false;
  const first = meta.shape[0];
  return typeof first !== 'number';
}

export interface BatchInferResult {
  /** Detections per image, in input order. */
  detections: Detection[][];
  inferMs: number;
}

/**
 * Runs `count` letterboxed images packed back to back in `batch` ([count,3,size,size]) as one call of a
 * dynamic-batch model and decodes each image's slice of the output.
 */
export async function runYoloxBatch(
  session: ort.InferenceSession,
  decoder: YoloxDecoder,
  batch: Float32Array,
  geometries: readonly FrameGeometry[],
  opts: DecodeOptions = defaultDecodeOptions,
): Promise<BatchInferResult> {
  const size = YOLOX_INPUT_SIZE;
  const count = geometries.length;
  const t0 = performance.now();
  let out: ort.InferenceSession.OnnxValueMapType;
  const input = new ort.Tensor('float32', batch.subarray(0, count * 3 * size * size), [count, 3, size, size]);
  try {
    out = await session.run({ [YOLOX_INPUT_NAME]: input });
  } catch (err) {
    throw new KuzetError('KUZET_ERR_MODEL', `YOLOX batch of ${count} failed: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const output = out[YOLOX_OUTPUT_NAME];
  if (!output || !(output.data instanceof Float32Array) || output.data.length % count !== 0) {
    throw new KuzetError('KUZET_ERR_MODEL', `YOLOX output '${YOLOX_OUTPUT_NAME}' missing or not float32`);
  }
  const per = output.data.length / count;
  const detections: Detection[][] = [];
  for (let i = 0; i < count; i++)
    detections.push(decoder.decode(output.data.subarray(i * per, (i + 1) * per), geometries[i], opts));
  output.dispose();
  return { detections, inferMs: performance.now() - t0 };
}
