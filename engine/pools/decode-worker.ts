/** Piscina worker: keyframe (node-av) or image (sharp) → letterboxed planar BGR tensor, transferred back. */
import { workerData } from 'piscina';
import { letterboxJpeg } from '../../detectors/jpeg-letterbox.js';
import { tensorLength, type LetterboxGeometry } from '../../detectors/letterbox.js';
import { frameCues } from '../../pipelines/analytics/cues.js';
import { KuzetError, errorMessage } from '../errors.js';
import { DecoderCache } from './decoder-cache.js';
import type { DecodeReply, DecodeTask, DecodeWorkerData } from './protocol.js';
import { moveReply } from './transfer.js';

const config = workerData as DecodeWorkerData;
const SIZE = config.size;
const decoders = new DecoderCache(config.maxDecoders, SIZE);

export default async function decode(task: DecodeTask): Promise<DecodeReply> {
  const t0 = performance.now();
  // The tensor leaves this thread with the reply (transferred), so it is either a recycled one the pool sent
  // along with the task or a fresh one.
  const tensor = task.out?.length === tensorLength(SIZE) ? task.out : new Float32Array(tensorLength(SIZE));
  try {
    if (task.kind === 'image') {
      const { geometry } = await letterboxJpeg(task.data, tensor, SIZE, config.jpegKernel);
      return reply(tensor, geometry, t0);
    }
    let geometry;
    try {
      geometry = decoders.get(task.stream, task.codec).decodeToTensor(task.data, tensor);
    } catch (err) {
      // Start the stream's next keyframe from a clean context rather than trusting one that just failed.
      decoders.drop(task.stream);
      throw err;
    }
    return reply(tensor, geometry, t0);
  } catch (err) {
    const code = err instanceof KuzetError ? err.code : 'KUZET_ERR_DECODE';
    return { ok: false, code, message: errorMessage(err) };
  }
}

function reply(tensor: Float32Array, g: LetterboxGeometry, t0: number): DecodeReply {
  // The analytics' pixel cues (motion, tamper): a small grey thumbnail made while the tensor is in cache.
  const { thumb, thumbWidth, thumbHeight } = frameCues(tensor, g);
  return moveReply<DecodeReply>(
    {
      ok: true,
      tensor,
      width: g.srcWidth,
      height: g.srcHeight,
      scale: g.scale,
      decodeMs: performance.now() - t0,
      thumb,
      thumbWidth,
      thumbHeight,
    },
    [tensor.buffer as ArrayBuffer, thumb.buffer as ArrayBuffer],
  );
}
