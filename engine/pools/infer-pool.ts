import { Piscina } from 'piscina';
import type { Worker } from 'node:worker_threads';
import { classFilterIds, headKinds, readLabels, type HeadKind } from '../../detectors/head.js';
import { defaultLabelsPath } from '../../detectors/yolox/labels.js';
import { defaultModelPath } from '../../detectors/yolox/model.js';
import type { ExecutionProvider } from '../../detectors/yolox/session.js';
import { KuzetError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { compiledPath } from '../paths.js';
import type { Detection } from '../types.js';
import { PoolQueueFullError, PoolWorkerCrashError, poolError } from './errors.js';
import type {
  DecodedFrame,
  InferFaultInjection,
  InferFrame,
  InferReply,
  InferTask,
  InferWorkerData,
} from './protocol.js';
import { lanesStats, type PoolStats } from './stats.js';
import { WorkerLoadTracker } from './worker-loaded.js';

export interface InferOptions {
  modelPath?: string;
  labelsPath?: string;
  /** Output adapter for the model family (default 'yolox'; see README, Detector adapters). */
  head?: HeadKind;
  /** Side of the square model input (default 416). Frames must be letterboxed to this size. */
  inputSize?: number;
  /** Class name -> score threshold, overriding scoreThreshold for that class. Names must be in the labels file. */
  classThresholds?: Record<string, number>;
  /** Report only these class names (default: all). Names must be in the labels file. */
  classes?: string[];
  /** ORT intra-op threads per worker (default 1). */
  intraOpNumThreads?: number;
  /** Default ['cpu']; ['cuda','cpu'] tries CUDA and falls back to CPU with one warning. */
  executionProviders?: ExecutionProvider[];
  /** Default 0.35. */
  scoreThreshold?: number;
  /** Class-wise NMS IoU, default 0.45. */
  iouThreshold?: number;
  /** Test and chaos-drill hook (see InferFaultInjection); never set in production configs. */
  faultInjection?: InferFaultInjection;
}

export interface InferPoolOptions extends InferOptions {
  /** Worker threads, one ONNX session each (default 1). */
  threads?: number;
  /** Frames allowed to wait for a worker (default 8); more are rejected with PoolQueueFullError. */
  maxQueue?: number;
  /**
   * Frames per inference call for models with a dynamic batch dimension (default 1). A fixed-batch model
   * always runs one frame per call, and a larger value is ignored with one warning.
   */
  maxBatch?: number;
  /**
   * How long a worker that is free waits for a batch to fill before running a smaller one (default 2 ms).
   * 0 never waits: batches then only form from frames that queued while every worker was busy.
   */
  maxWaitMs?: number;
}

export interface InferOutput {
  detections: Detection[];
  /** Wall time of the inference call this frame was part of. */
  inferMs: number;
  /** Time the frame waited in the pool for a worker and a batch. */
  queueMs: number;
  /** Frames in that call. */
  batchSize: number;
  /** The input tensor's memory, back from the worker; hand it to DecodePool.recycle() or drop it. */
  tensor: Float32Array;
}

interface Queued {
  frame: InferFrame;
  enqueuedAt: number;
  resolve: (out: InferOutput) => void;
  reject: (err: Error) => void;
}

export function inferWorkerData(opts: InferOptions): InferWorkerData {
  const score = opts.scoreThreshold ?? 0.35;
  const iou = opts.iouThreshold ?? 0.45;
  if (!(score >= 0 && score < 1))
    throw new RangeError(`infer.scoreThreshold must be in [0, 1), got ${score}`);
  if (!(iou > 0 && iou <= 1)) throw new RangeError(`infer.iouThreshold must be in (0, 1], got ${iou}`);
  const intra = opts.intraOpNumThreads ?? 1;
  if (!Number.isInteger(intra) || intra < 1)
    throw new RangeError(`infer.intraOpNumThreads must be a positive integer, got ${intra}`);
  const head = opts.head ?? 'yolox';
  if (!headKinds.includes(head))
    throw new RangeError(`infer.head must be one of ${headKinds.join(', ')}, got ${String(head)}`);
  const inputSize = opts.inputSize ?? 416;
  if (!Number.isInteger(inputSize) || inputSize < 32 || inputSize > 4096)
    throw new RangeError(`infer.inputSize must be an integer in 32..4096, got ${inputSize}`);
  for (const [name, thr] of Object.entries(opts.classThresholds ?? {}))
    if (!(thr >= 0 && thr < 1))
      throw new RangeError(`infer.classThresholds.${name} must be in [0, 1), got ${thr}`);
  const labelsPath = opts.labelsPath ?? defaultLabelsPath;
  // Class names are resolved here, on the main thread at start-up, so a typo fails the start with its name
  // instead of every frame in the workers. The labels file is only read when there is something to resolve.
  const byId =
    opts.classThresholds || opts.classes
      ? classFilterIds(readLabels(labelsPath), opts)
      : { classThresholds: [], keepClasses: null };
  return {
    modelPath: opts.modelPath ?? defaultModelPath,
    labelsPath,
    head,
    inputSize,
    classThresholds: byId.classThresholds,
    keepClasses: byId.keepClasses,
    intraOpNumThreads: intra,
    executionProviders: opts.executionProviders?.length ? [...opts.executionProviders] : ['cpu'],
    scoreThreshold: score,
    iouThreshold: iou,
    faultInjection: opts.faultInjection ?? null,
  };
}

/**
 * Detector inference (any head of detectors/head.ts) on worker threads with dynamic batching. Frames queue here on the main thread (bounded);
 * whenever a worker is free it gets the next batch: up to `maxBatch` frames, waiting at most `maxWaitMs` for
 * the batch to fill. Tensors are transferred to the worker (detached on the caller's side) and come back with
 * the reply for reuse.
 */
export class InferPool {
  readonly maxQueue: number;
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  readonly threads: number;
  private readonly loads = new WorkerLoadTracker();
  private readonly pool: Piscina<InferTask, InferReply>;
  private readonly queue: Queued[] = [];
  private busy = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Unknown until the first reply; until then batches are single frames. */
  private batchCapable: boolean | null = null;
  private warnedFallback = false;
  private crashes = 0;
  private closed = false;
  private readonly readyPromise: Promise<void>;

  constructor(
    opts: InferPoolOptions = {},
    private readonly log: Logger = createLogger('pools.infer'),
  ) {
    this.threads = opts.threads ?? 1;
    if (!Number.isInteger(this.threads) || this.threads < 1)
      throw new RangeError(`infer.threads must be a positive integer, got ${this.threads}`);
    this.maxQueue = opts.maxQueue ?? 8;
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 0)
      throw new RangeError(`infer.maxQueue must be an integer >= 0, got ${this.maxQueue}`);
    this.maxBatch = opts.maxBatch ?? 1;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1 || this.maxBatch > 256)
      throw new RangeError(`infer.maxBatch must be an integer in 1..256, got ${this.maxBatch}`);
    this.maxWaitMs = opts.maxWaitMs ?? 2;
    if (!(this.maxWaitMs >= 0 && this.maxWaitMs <= 1000))
      throw new RangeError(`infer.maxWaitMs must be in 0..1000, got ${this.maxWaitMs}`);
    this.pool = new Piscina({
      filename: compiledPath('engine', 'pools', 'infer-worker.ts'),
      name: 'default',
      minThreads: this.threads,
      maxThreads: this.threads,
      // One batch runs and the next waits inside the worker (it runs them in turn), so a worker never idles
      // for a round trip through the main thread between batches.
      concurrentTasksPerWorker: 2,
      // Work is only handed over when a worker has room, so piscina's own queue stays (almost) empty.
      maxQueue: this.threads * 2,
      idleTimeout: Infinity,
      // With atomics an idle worker blocks in Atomics.wait, so the model it starts loading at start-up (and
      // its load announcement, see worker-loaded.ts) would wait for its first task. A 15 ms inference does
      // not miss the microseconds atomics save per task.
      atomics: 'disabled',
      workerData: inferWorkerData(opts),
    });
    this.loads.watch(this.pool, { announces: true });
    // An empty task learns the model's batch capability (and waits out the model load) before real frames come.
    this.readyPromise = this.pool.run({ frames: [] }).then(
      (r) => {
        if (r.ok) this.noteCapabilities(r.batchCapable, r.fallback);
      },
      () => undefined, // a worker that cannot start fails real tasks too, with the reason
    );
  }

  /** Resolves once a worker has loaded the model and the pool knows whether it can batch. */
  whenReady(): Promise<void> {
    return this.readyPromise;
  }

  /** Queues one frame for inference. Its tensor is transferred when its batch starts. */
  infer(frame: Pick<DecodedFrame, 'tensor' | 'width' | 'height' | 'scale'>): Promise<InferOutput> {
    if (this.closed) return Promise.reject(new KuzetError('KUZET_ERR_MODEL', 'infer pool is closed'));
    if (this.queue.length >= Math.max(this.maxQueue, this.batchLimit() - 1) && this.busy >= this.threads * 2)
      return Promise.reject(new PoolQueueFullError('infer', this.maxQueue));
    return new Promise<InferOutput>((resolve, reject) => {
      this.queue.push({
        frame: { tensor: frame.tensor, width: frame.width, height: frame.height, scale: frame.scale },
        enqueuedAt: performance.now(),
        resolve,
        reject,
      });
      this.dispatch();
    });
  }

  stats(): PoolStats {
    const st = lanesStats([this.pool], this.maxQueue, this.crashes);
    return { ...st, queued: st.queued + this.queue.length };
  }

  /** The live worker threads (diagnostics: thread ids, resource use). */
  workers(): Worker[] {
    return [...this.pool.threads];
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const q of this.queue.splice(0)) q.reject(new KuzetError('KUZET_ERR_MODEL', 'infer pool closed'));
    await this.loads.settled([this.pool]);
    await this.pool.close();
  }

  private batchLimit(): number {
    return this.batchCapable ? this.maxBatch : 1;
  }

  private dispatch(): void {
    while (this.busy < this.threads * 2 && this.queue.length > 0) {
      const limit = this.batchLimit();
      if (this.queue.length < limit && this.maxWaitMs > 0) {
        const waited = performance.now() - this.queue[0].enqueuedAt;
        if (waited < this.maxWaitMs) {
          this.timer ??= setTimeout(
            () => {
              this.timer = null;
              this.dispatch();
            },
            Math.ceil(this.maxWaitMs - waited),
          );
          return;
        }
      }
      this.runBatch(this.queue.splice(0, limit));
    }
  }

  private runBatch(batch: Queued[]): void {
    this.busy++;
    const started = performance.now();
    const frames = batch.map((q) => q.frame);
    const transferList = frames.map((f) => f.tensor.buffer as ArrayBuffer);
    this.pool
      .run({ frames }, { transferList })
      .then(
        (reply) => {
          if (!reply.ok) {
            const err = new KuzetError(reply.code, reply.message);
            for (const q of batch) q.reject(err);
            return;
          }
          this.noteCapabilities(reply.batchCapable, reply.fallback);
          batch.forEach((q, i) =>
            q.resolve({
              detections: reply.detections[i],
              inferMs: reply.inferMs,
              queueMs: started - q.enqueuedAt,
              batchSize: batch.length,
              tensor: reply.tensors[i],
            }),
          );
        },
        (err: unknown) => {
          const e = poolError(err, 'infer', this.maxQueue);
          if (e instanceof PoolWorkerCrashError) this.crashes++;
          for (const q of batch) q.reject(e);
        },
      )
      .finally(() => {
        this.busy--;
        if (!this.closed) this.dispatch();
      });
  }

  private noteCapabilities(batchCapable: boolean, fallback: string | null): void {
    if (this.batchCapable === null) {
      this.batchCapable = batchCapable;
      if (!batchCapable && this.maxBatch > 1)
        this.log.warn('Model has a fixed batch size of 1: dynamic batching is off', {
          maxBatch: this.maxBatch,
        });
    }
    if (fallback !== null && !this.warnedFallback) {
      this.warnedFallback = true;
      this.log.warn('GPU execution provider unavailable, inference runs on CPU', { reason: fallback });
    }
  }
}
