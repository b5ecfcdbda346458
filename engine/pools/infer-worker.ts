/** Piscina worker: one ONNX Runtime session per thread; tensors in (transferred), detections out. */
import * as ort from 'onnxruntime-node';
import { workerData } from 'piscina';
import {
  createHead,
  prepareInput,
  readLabels,
  type DetectorHead,
  type FrameGeometry,
} from '../../detectors/head.js';
import type { DecodeOptions } from '../../detectors/yolox/decode.js';
import { tensorLength } from '../../detectors/letterbox.js';
import { acceptsBatches, createYoloxSession, type YoloxSession } from '../../detectors/yolox/session.js';
import { KuzetError, errorMessage } from '../errors.js';
import type { Detection } from '../types.js';
import type { InferReply, InferTask, InferWorkerData } from './protocol.js';
import { moveReply } from './transfer.js';
import { announceWorkerLoaded } from './worker-loaded.js';

const config = workerData as InferWorkerData;
let fallback: string | null = null;
/** Batch input, grown to the largest batch seen and reused: frames are copied in, never allocated per batch. */
let batchInput = new Float32Array(0);
/** Built once: the heads cache their per-class threshold table by the identity of these. */
const decodeOptions: DecodeOptions = {
  scoreThreshold: config.scoreThreshold,
  iouThreshold: config.iouThreshold,
  classThresholds: config.classThresholds.length ? new Map(config.classThresholds) : undefined,
  keepClasses: config.keepClasses ? new Set(config.keepClasses) : null,
};

interface Ready {
  model: YoloxSession;
  head: DetectorHead;
  inputName: string;
  outputName: string;
  batchCapable: boolean;
}

// Opened as soon as the thread starts so the first frame does not pay for model loading. Failures are kept
// and reported on every task (never thrown at module level, which would fail the worker's start-up).
const ready: Promise<Ready | KuzetError> = (async () => {
  const head = createHead(config.head, readLabels(config.labelsPath), config.inputSize);
  const model = await createYoloxSession(
    {
      modelPath: config.modelPath,
      intraOpNumThreads: config.intraOpNumThreads,
      executionProviders: config.executionProviders,
    },
    {
      // The session's fallback warning goes to the pool, which logs it once for all workers.
      warn: (_msg, fields) => {
        fallback = String(fields?.reason ?? 'unknown');
      },
      debug: () => {},
      info: () => {},
      error: () => {},
      child() {
        return this;
      },
    },
  );
  // Exports name their tensors differently (YOLOX 'images'/'output', Ultralytics 'images'/'output0'): take the first.
  const inputName = model.session.inputNames[0];
  const outputName = model.session.outputNames[0];
  if (!inputName || !outputName)
    throw new KuzetError('KUZET_ERR_MODEL', `${config.modelPath}: model has no input or no output`);
  return { model, head, inputName, outputName, batchCapable: acceptsBatches(model.session) };
})().catch((err: unknown) =>
  err instanceof KuzetError ? err : new KuzetError('KUZET_ERR_MODEL', errorMessage(err), { cause: err }),
);
// Safe to terminate once onnxruntime and the session are loaded (or failed): see worker-loaded.ts.
void ready.then(announceWorkerLoaded);

/** Runs `count` prepared images packed in `input` as one call and decodes each image's slice of the output. */
async function runHead(
  state: Ready,
  input: Float32Array,
  geometries: readonly FrameGeometry[],
): Promise<Detection[][]> {
  const size = state.head.inputSize;
  const count = geometries.length;
  const tensor = new ort.Tensor('float32', input.subarray(0, count * tensorLength(size)), [
    count,
    3,
    size,
    size,
  ]);
  let out: ort.InferenceSession.OnnxValueMapType;
  try {
    out = await state.model.session.run({ [state.inputName]: tensor });
  } catch (err) {
    throw new KuzetError(
      'KUZET_ERR_MODEL',
      `${state.head.kind} inference of ${count} failed: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  const output = out[state.outputName];
  if (!output || !(output.data instanceof Float32Array) || output.data.length % count !== 0) {
    throw new KuzetError('KUZET_ERR_MODEL', `model output '${state.outputName}' missing or not float32`);
  }
  const per = output.data.length / count;
  const detections: Detection[][] = [];
  try {
    for (let i = 0; i < count; i++)
      detections.push(
        state.head.decode(
          output.data.subarray(i * per, (i + 1) * per),
          output.dims,
          geometries[i],
          decodeOptions,
        ),
      );
  } finally {
    output.dispose();
  }
  return detections;
}

/** Batches run one at a time per worker (the pool sends the next one early so it is waiting, not in flight). */
let turn: Promise<unknown> = Promise.resolve();

export default function infer(task: InferTask): Promise<InferReply> {
  const mine = turn.then(() => inferNow(task));
  turn = mine.catch(() => undefined);
  return mine;
}

async function inferNow(task: InferTask): Promise<InferReply> {
  const state = await ready;
  if (state instanceof KuzetError) return { ok: false, code: state.code, message: state.message };
  const { frames } = task;
  const fault = config.faultInjection;
  if (fault && frames.some((f) => f.width === fault.crashOnWidth)) {
    setTimeout(() => {
      throw new Error(`fault injection: infer worker crash on a ${fault.crashOnWidth}-wide frame`);
    });
    return new Promise<never>(() => {});
  }
  if (frames.length === 0) {
    // The pool's start-up probe: report what the model can do.
    return { ok: true, detections: [], inferMs: 0, tensors: [], fallback, batchCapable: state.batchCapable };
  }
  const geometries = frames.map((f) => ({ scale: f.scale, srcWidth: f.width, srcHeight: f.height }));
  try {
    let detections: Detection[][];
    const t0 = performance.now();
    // The decode pool makes BGR 0..255; a head trained on another order/scale converts it in place (the
    // buffer goes back to the decode pool, which rewrites every element).
    for (const f of frames) prepareInput(f.tensor, state.head);
    if (frames.length === 1 || !state.batchCapable) {
      // Fixed-batch model (or a single frame): one call per frame.
      detections = [];
      for (let i = 0; i < frames.length; i++)
        detections.push((await runHead(state, frames[i].tensor, [geometries[i]]))[0]);
    } else {
      const per = tensorLength(state.head.inputSize);
      if (batchInput.length < frames.length * per) batchInput = new Float32Array(frames.length * per);
      for (let i = 0; i < frames.length; i++) batchInput.set(frames[i].tensor.subarray(0, per), i * per);
      detections = await runHead(state, batchInput, geometries);
    }
    const inferMs = performance.now() - t0;
    // ORT is done with the inputs once run() resolves; send the buffers home for reuse.
    const tensors = frames.map((f) => f.tensor);
    return moveReply<InferReply>(
      { ok: true, detections, inferMs, tensors, fallback, batchCapable: state.batchCapable },
      tensors.map((t) => t.buffer as ArrayBuffer),
    );
  } catch (err) {
    return {
      ok: false,
      code: err instanceof KuzetError ? err.code : 'KUZET_ERR_MODEL',
      message: errorMessage(err),
    };
  }
}
