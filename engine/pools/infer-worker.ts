/** Piscina worker: one ONNX Runtime session per thread; tensors in (transferred), detections out. */
import { workerData } from 'piscina';
import { tensorLength } from '../../detectors/letterbox.js';
import { YoloxDecoder } from '../../detectors/yolox/decode.js';
import { loadLabels } from '../../detectors/yolox/labels.js';
import {
  acceptsBatches,
  createYoloxSession,
  runYolox,
  runYoloxBatch,
  type YoloxSession,
} from '../../detectors/yolox/session.js';
import { KuzetError, errorMessage } from '../errors.js';
import type { Detection } from '../types.js';
import type { InferReply, InferTask, InferWorkerData } from './protocol.js';
import { moveReply } from './transfer.js';

const config = workerData as InferWorkerData;
let fallback: string | null = null;
/** Batch input, grown to the largest batch seen and reused: frames are copied in, never allocated per batch. */
let batchInput = new Float32Array(0);

// Opened as soon as the thread starts so the first frame does not pay for model loading. Failures are kept
// and reported on every task (never thrown at module level, which would fail the worker's start-up).
const ready: Promise<{ yolox: YoloxSession; decoder: YoloxDecoder; batchCapable: boolean } | KuzetError> =
  (async () => {
    const decoder = new YoloxDecoder(loadLabels(config.labelsPath));
    const yolox = await createYoloxSession(
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
    return { yolox, decoder, batchCapable: acceptsBatches(yolox.session) };
  })().catch((err: unknown) =>
    err instanceof KuzetError ? err : new KuzetError('KUZET_ERR_MODEL', errorMessage(err), { cause: err }),
  );

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
  const opts = { scoreThreshold: config.scoreThreshold, iouThreshold: config.iouThreshold };
  const geometries = frames.map((f) => ({ scale: f.scale, srcWidth: f.width, srcHeight: f.height }));
  try {
    let detections: Detection[][];
    let inferMs: number;
    if (frames.length === 1 || !state.batchCapable) {
      // Fixed-batch model (or a single frame): one call per frame.
      detections = [];
      inferMs = 0;
      for (let i = 0; i < frames.length; i++) {
        const r = await runYolox(state.yolox.session, state.decoder, frames[i].tensor, geometries[i], opts);
        detections.push(r.detections);
        inferMs += r.inferMs;
      }
    } else {
      const per = tensorLength();
      if (batchInput.length < frames.length * per) batchInput = new Float32Array(frames.length * per);
      for (let i = 0; i < frames.length; i++) batchInput.set(frames[i].tensor.subarray(0, per), i * per);
      ({ detections, inferMs } = await runYoloxBatch(
        state.yolox.session,
        state.decoder,
        batchInput,
        geometries,
        opts,
      ));
    }
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
