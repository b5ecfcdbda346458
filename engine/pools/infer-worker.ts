/** Piscina worker: one ONNX Runtime session per thread; tensor in (transferred), detections out. */
import { workerData } from 'piscina';
import { YoloxDecoder } from '../../detectors/yolox/decode.js';
import { loadLabels } from '../../detectors/yolox/labels.js';
import { createYoloxSession, runYolox, type YoloxSession } from '../../detectors/yolox/session.js';
import { KuzetError, errorMessage } from '../errors.js';
import type { InferReply, InferTask, InferWorkerData } from './protocol.js';
import { moveReply } from './transfer.js';

const config = workerData as InferWorkerData;
let fallback: string | null = null;

// Opened as soon as the thread starts so the first frame does not pay for model loading. Failures are kept
// and reported on every task (never thrown at module level, which would fail the worker's start-up).
const ready: Promise<{ yolox: YoloxSession; decoder: YoloxDecoder } | KuzetError> = (async () => {
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
  return { yolox, decoder };
})().catch((err: unknown) =>
  err instanceof KuzetError ? err : new KuzetError('KUZET_ERR_MODEL', errorMessage(err), { cause: err }),
);

export default async function infer(task: InferTask): Promise<InferReply> {
  const state = await ready;
  if (state instanceof KuzetError) return { ok: false, code: state.code, message: state.message };
  try {
    const geometry = { scale: task.scale, srcWidth: task.width, srcHeight: task.height };
    const { detections, inferMs } = await runYolox(
      state.yolox.session,
      state.decoder,
      task.tensor,
      geometry,
      {
        scoreThreshold: config.scoreThreshold,
        iouThreshold: config.iouThreshold,
      },
    );
    // ORT is done with the input once run() resolves; send the buffer home for reuse.
    return moveReply<InferReply>({ ok: true, detections, inferMs, tensor: task.tensor, fallback }, [
      task.tensor.buffer as ArrayBuffer,
    ]);
  } catch (err) {
    return {
      ok: false,
      code: err instanceof KuzetError ? err.code : 'KUZET_ERR_MODEL',
      message: errorMessage(err),
    };
  }
}
