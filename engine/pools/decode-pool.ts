import { Piscina } from 'piscina';
import type { ResizeKernel } from '../../detectors/jpeg-letterbox.js';
import { KuzetError } from '../errors.js';
import { compiledPath } from '../paths.js';
import type { Sample } from '../types.js';
import { PoolQueueFullError, poolError } from './errors.js';
import type { DecodeReply, DecodeTask, DecodeWorkerData, DecodedFrame } from './protocol.js';
import { poolStats, type PoolStats } from './stats.js';
import { transferable } from './transfer.js';

export interface DecodePoolOptions {
  /** Worker threads (default 1). */
  threads?: number;
  /** Tasks allowed to wait beyond the running ones; more are rejected with PoolQueueFullError (default 16). */
  maxQueue?: number;
  /** Open H.264/H.265 contexts kept per worker, least recently used evicted (default 256). */
  maxDecoders?: number;
  /**
   * Resize kernel for still images. Default lanczos3, sharp's own default: it is what the YOLOX reference
   * detections were made with. Video frames always use FFmpeg's bicubic scaler.
   */
  jpegKernel?: ResizeKernel;
}

/**
 * Decodes keyframes and still images off the main thread into model-ready tensors. Input bytes are
 * transferred to the worker (the caller's buffer is detached after submit) and the tensor comes back the same way.
 */
export class DecodePool {
  readonly maxQueue: number;
  private readonly pool: Piscina<DecodeTask, DecodeReply>;
  /** Used tensors waiting to be written again; bounded so a burst does not pin memory forever. */
  private readonly spare: Float32Array[] = [];
  private readonly maxSpare: number;

  constructor(opts: DecodePoolOptions = {}) {
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1)
      throw new RangeError(`decode.threads must be a positive integer, got ${threads}`);
    this.maxQueue = opts.maxQueue ?? 16;
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 0)
      throw new RangeError(`decode.maxQueue must be an integer >= 0, got ${this.maxQueue}`);
    const workerData: DecodeWorkerData = {
      maxDecoders: opts.maxDecoders ?? 256,
      jpegKernel: opts.jpegKernel ?? 'lanczos3',
    };
    this.pool = new Piscina({
      filename: compiledPath('engine', 'pools', 'decode-worker.ts'),
      name: 'default',
      minThreads: threads,
      maxThreads: threads,
      maxQueue: this.maxQueue,
      idleTimeout: Infinity,
      workerData,
    });
    this.maxSpare = threads * 2 + 2;
  }

  /** Decodes one keyframe access unit. `sample.data` is transferred: do not read it afterwards. */
  decodeSample(sample: Sample): Promise<DecodedFrame> {
    const { view, transfer } = transferable(sample.data);
    return this.submit(
      {
        kind: 'video',
        codec: sample.codec,
        stream: `${sample.schoolId}/${sample.cameraId}`,
        data: view,
        out: null,
      },
      transfer,
    );
  }

  /** Decodes a JPEG (or PNG/WebP) still. The buffer is transferred when it owns its memory. */
  decodeJpeg(data: Uint8Array): Promise<DecodedFrame> {
    const { view, transfer } = transferable(data);
    return this.submit({ kind: 'image', data: view, out: null }, transfer);
  }

  /** Gives a tensor this pool produced back for reuse once nothing reads it any more (Detector does this). */
  recycle(tensor: Float32Array): void {
    if (
      this.spare.length < this.maxSpare &&
      tensor.buffer instanceof ArrayBuffer &&
      tensor.byteLength === tensor.buffer.byteLength &&
      tensor.length > 0
    ) {
      this.spare.push(tensor);
    }
  }

  stats(): PoolStats {
    return poolStats(this.pool, this.maxQueue);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async submit(task: DecodeTask, transferList: ArrayBuffer[]): Promise<DecodedFrame> {
    // Checked here as well as by piscina so a full queue rejects before the caller's buffer is detached.
    if (this.pool.queueSize >= this.maxQueue && this.pool.idleThreads === 0) {
      throw new PoolQueueFullError('decode', this.maxQueue);
    }
    const out = this.spare.pop() ?? null;
    if (out) {
      task.out = out;
      transferList.push(out.buffer as ArrayBuffer);
    }
    let reply: DecodeReply;
    try {
      reply = await this.pool.run(task, { transferList });
    } catch (err) {
      throw poolError(err, 'decode', this.maxQueue, 'KUZET_ERR_DECODE');
    }
    if (!reply.ok) throw new KuzetError(reply.code, reply.message);
    return {
      tensor: reply.tensor,
      width: reply.width,
      height: reply.height,
      scale: reply.scale,
      decodeMs: reply.decodeMs,
    };
  }
}
