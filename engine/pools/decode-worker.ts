/** Piscina worker: keyframe (node-av) or image (sharp) → letterboxed planar BGR tensor, transferred back. */
import { workerData } from 'piscina';
import { letterboxJpeg } from '../../detectors/jpeg-letterbox.js';
import { tensorLength } from '../../detectors/letterbox.js';
import { KuzetError, errorMessage } from '../errors.js';
import { DecoderCache } from './decoder-cache.js';
import type { DecodeReply, DecodeTask, DecodeWorkerData } from './protocol.js';
import { moveReply } from './transfer.js';

const SIZE = 416;
const config = workerData as DecodeWorkerData;
const decoders = new DecoderCache(config.maxDecoders, SIZE);

export default async function decode(task: DecodeTask): Promise<DecodeReply> {
  const t0 = performance.now();
  // The tensor leaves this thread with the reply (transferred), so it is either a recycled one the pool sent
  // along with the task or a fresh one.
  const tensor = task.out?.length === tensorLength(SIZE) ? task.out : new Float32Array(tensorLength(SIZE));
  try {
    if (task.kind === 'image') {
      const { geometry } = await letterboxJpeg(task.data, tensor, SIZE, config.jpegKernel);
      return reply(tensor, geometry.srcWidth, geometry.srcHeight, geometry.scale, t0);
    }
    let geometry;
    try {
      geometry = decoders.get(task.stream, task.codec).decodeToTensor(task.data, tensor);
    } catch (err) {
      // Start the stream's next keyframe from a clean context rather than trusting one that just failed.
      decoders.drop(task.stream);
      throw err;
    }
    return reply(tensor, geometry.srcWidth, geometry.srcHeight, geometry.scale, t0);
  } catch (err) {
    const code = err instanceof KuzetError ? err.code : 'KUZET_ERR_DECODE';
    return { ok: false, code, message: errorMessage(err) };
  }
}

function reply(tensor: Float32Array, width: number, height: number, scale: number, t0: number): DecodeReply {
  return moveReply<DecodeReply>(
    { ok: true, tensor, width, height, scale, decodeMs: performance.now() - t0 },
    [tensor.buffer as ArrayBuffer],
  );
}
