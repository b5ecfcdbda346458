import { Piscina } from 'piscina';
import type { Worker } from 'node:worker_threads';
import type { ResizeKernel } from '../../detectors/jpeg-letterbox.js';
import { KuzetError } from '../errors.js';
import { compiledPath } from '../paths.js';
import type { Sample } from '../types.js';
import { PoolQueueFullError, poolError } from './errors.js';
import type { DecodeReply, DecodeTask, DecodeWorkerData, DecodedFrame } from './protocol.js';
import { lanesStats, type PoolStats } from './stats.js';
import { transferable } from './transfer.js';
import { WorkerLoadTracker } from './worker-loaded.js';

export interface DecodePoolOptions {
  /** Worker threads (default 1). Each is a lane that owns the decoders of the cameras routed to it. */
  threads?: number;
  /** Tasks allowed to wait beyond the running ones, over all lanes; more are rejected with PoolQueueFullError (default 16). */
  maxQueue?: number;
  /** Open H.264/H.265 contexts kept per worker, least recently used evicted (default 256). */
  maxDecoders?: number;
  /**
   * Resize kernel for still images. Default lanczos3, sharp's own default: it is what the YOLOX reference
   * detections were made with. Video frames always use FFmpeg's bicubic scaler.
   */
  jpegKernel?: ResizeKernel;
  /** Side of the square letterbox tensor, the model input size (default 416, the shipped YOLOX-Nano). */
  size?: number;
}

interface Lane {
  pool: Piscina<DecodeTask, DecodeReply>;
  /** Streams whose decoder lives in this lane's worker. */
  streams: number;
}

/**
 * Decodes keyframes and still images off the main thread into model-ready tensors. Input bytes are
 * transferred to the worker (the caller's buffer is detached after submit) and the tensor comes back the same way.
 *
 * Routing is sticky: each worker is a one-thread lane, and a camera is bound to one lane the first time it is
 * seen (the lane with the fewest cameras), so its decoder context stays warm in exactly one worker instead of
 * being opened in every worker it happens to land on. Still images carry no decoder state and go to the
 * least busy lane.
 */
export class DecodePool {
  readonly maxQueue: number;
  private readonly lanes: Lane[] = [];
  private readonly loads = new WorkerLoadTracker();
  private readonly laneOf = new Map<string, Lane>();
  /** Used tensors waiting to be written again; bounded so a burst does not pin memory forever. */
  private readonly spare: Float32Array[] = [];
  private readonly maxSpare: number;
  private readonly laneQueue: number;
  private crashes = 0;

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
      size: opts.size ?? 416,
    };
    if (!Number.isInteger(workerData.size) || workerData.size < 32 || workerData.size > 4096)
      throw new RangeError(`decode.size must be an integer in 32..4096, got ${workerData.size}`);
    this.laneQueue = Math.ceil(this.maxQueue / threads);
    for (let i = 0; i < threads; i++) {
      this.lanes.push({
        pool: new Piscina({
          filename: compiledPath('engine', 'pools', 'decode-worker.ts'),
          name: 'default',
          minThreads: 1,
          maxThreads: 1,
          // The next frame is already in the worker when it finishes one, instead of the worker idling for a
          // round trip through the main thread (measured: ~0.5 ms of every 4 ms keyframe). H.264 decoding is
          // synchronous, so the two still run one after the other.
          concurrentTasksPerWorker: 2,
          maxQueue: this.laneQueue,
          idleTimeout: Infinity,
          workerData,
        }),
        streams: 0,
      });
      this.loads.watch(this.lanes[i]!.pool);
    }
    this.maxSpare = threads * 2 + 2;
  }

  /** Decodes one keyframe access unit. `sample.data` is transferred: do not read it afterwards. */
  async decodeSample(sample: Sample): Promise<DecodedFrame> {
    const stream = `${sample.schoolId}/${sample.cameraId}`;
    const lane = this.route(stream);
    this.checkRoom(lane);
    const { view, transfer } = transferable(sample.data);
    return this.submit(lane, { kind: 'video', codec: sample.codec, stream, data: view, out: null }, transfer);
  }

  /** Decodes a JPEG (or PNG/WebP) still. The buffer is transferred when it owns its memory. */
  async decodeJpeg(data: Uint8Array): Promise<DecodedFrame> {
    let lane = this.lanes[0];
    for (const l of this.lanes) if (load(l) < load(lane)) lane = l;
    this.checkRoom(lane);
    const { view, transfer } = transferable(data);
    return this.submit(lane, { kind: 'image', data: view, out: null }, transfer);
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

  /** Which lane (worker index) a camera's decoder lives in; assigns one if the camera is new. */
  laneIndex(schoolId: string, cameraId: string): number {
    return this.lanes.indexOf(this.route(`${schoolId}/${cameraId}`));
  }

  /** The live worker threads, lane by lane (diagnostics: thread ids, resource use). */
  workers(): Worker[] {
    return this.lanes.flatMap((l) => l.pool.threads);
  }

  stats(): PoolStats {
    return lanesStats(
      this.lanes.map((l) => l.pool),
      this.maxQueue,
      this.crashes,
    );
  }

  async close(): Promise<void> {
    const pools = this.lanes.map((l) => l.pool);
    await this.loads.settled(pools);
    await Promise.all(pools.map((p) => p.close()));
  }

  private route(stream: string): Lane {
    let lane = this.laneOf.get(stream);
    if (lane === undefined) {
      lane = this.lanes[0];
      for (const l of this.lanes) if (l.streams < lane.streams) lane = l;
      lane.streams++;
      this.laneOf.set(stream, lane);
    }
    return lane;
  }

  /** Checked here as well as by piscina so a full queue rejects before the caller's buffer is detached. */
  private checkRoom(lane: Lane): void {
    if (lane.pool.queueSize >= this.laneQueue && lane.pool.idleThreads === 0) {
      throw new PoolQueueFullError('decode', this.maxQueue);
    }
  }

  private async submit(lane: Lane, task: DecodeTask, transferList: ArrayBuffer[]): Promise<DecodedFrame> {
    const out = this.spare.pop() ?? null;
    if (out) {
      task.out = out;
      transferList.push(out.buffer as ArrayBuffer);
    }
    let reply: DecodeReply;
    try {
      reply = await lane.pool.run(task, { transferList });
    } catch (err) {
      const e = poolError(err, 'decode', this.maxQueue);
      if ('reason' in e && e.reason === 'worker_crashed') this.crashes++;
      throw e;
    }
    if (!reply.ok) throw new KuzetError(reply.code, reply.message);
    return {
      tensor: reply.tensor,
      width: reply.width,
      height: reply.height,
      scale: reply.scale,
      decodeMs: reply.decodeMs,
      thumb: reply.thumb,
      thumbWidth: reply.thumbWidth,
      thumbHeight: reply.thumbHeight,
    };
  }
}

function load(lane: Lane): number {
  return lane.pool.queueSize + (lane.pool.idleThreads === 0 ? 1 : 0);
}
