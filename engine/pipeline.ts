import { errorMessage } from './errors.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { dropReason, type DecodedFrame, type Detector } from './pools/index.js';
import { FreshnessScheduler, type SchedulerDropReason } from './scheduler.js';
import type { FrameCues } from '../pipelines/analytics/types.js';
import type { Detection, Sample } from './types.js';

/** Where a sample's time went, in milliseconds. */
export interface StageTimings {
  /** Waiting for a decode worker (freshness scheduler + pool queue). */
  decodeQueueMs: number;
  decodeMs: number;
  /** Decoded, waiting for an inference worker and a batch. */
  inferQueueMs: number;
  /** The inference call (the whole batch). */
  inferMs: number;
  /** Arrival at the pipeline to detections ready. */
  pipelineMs: number;
}

export interface PipelineResult {
  /** The sample as submitted; its `data` was transferred to the decoder and is detached now. */
  sample: Sample;
  detections: Detection[];
  /** Source frame size: detection boxes are in these pixels. */
  width: number;
  height: number;
  batchSize: number;
  timings: StageTimings;
  /** Pixel cues for the analytics (grey thumbnail). */
  cues: FrameCues;
}

export interface FramePipelineOptions {
  detector: Detector;
  /** Drops (kuzet_dropped_total{stage,reason}), stage latencies and batch sizes are recorded here. */
  metrics: Metrics;
  onResult: (result: PipelineResult) => void;
  /** Cameras with a sample waiting to decode, over all cameras (default 4096); past it the oldest is dropped. */
  maxWaiting?: number;
  log?: Logger;
}

interface Pending {
  sample: Sample;
  priority: boolean;
  arrivedAt: number;
}

interface Decoded extends Pending {
  frame: DecodedFrame;
  decodedAt: number;
  decodeQueueMs: number;
}

/**
 * One detector's two-stage pipeline: sample → decode pool → inference pool → result.
 *
 * Each stage has a freshness scheduler: a camera has at most one sample waiting per stage, a newer one replaces
 * it, cameras are served round-robin, and boosted cameras first. Decoding only starts while the inference
 * stage has room for its output, so under overload the backlog stays as compressed access units (cheap, and
 * superseded by fresher ones) instead of 2 MB tensors, and memory stays bounded whatever the input rate.
 * Every sample ends as exactly one result or one counted drop.
 */
export class FramePipeline {
  private readonly decodeStage: FreshnessScheduler<Pending>;
  private readonly inferStage: FreshnessScheduler<Decoded>;
  private readonly detector: Detector;
  private readonly metrics: Metrics;
  private submitted = 0;
  private delivered = 0;
  private droppedCount = 0;

  constructor(private readonly opts: FramePipelineOptions) {
    const { detector, metrics } = opts;
    this.detector = detector;
    this.metrics = metrics;
    const decodeThreads = detector.decodePool.stats().threads;
    const infer = detector.inferPool;
    // Enough frames inside the inference pool to run every worker on a full batch and form the next one.
    const inferInFlight = infer.threads * infer.maxBatch * 2;
    // Decoded frames allowed to wait (or be in decode) before decoding pauses: one more batch per worker.
    const decodedBound = infer.threads * infer.maxBatch + decodeThreads;
    this.inferStage = new FreshnessScheduler<Decoded>({
      maxInFlight: inferInFlight,
      run: (d) => this.infer(d),
      onDrop: (d, reason) => {
        detector.decodePool.recycle(d.frame.tensor);
        this.drop('infer', reason);
      },
    });
    this.decodeStage = new FreshnessScheduler<Pending>({
      maxInFlight: decodeThreads * 2,
      maxWaiting: opts.maxWaiting ?? 4096,
      canStart: () => this.inferStage.pending + this.decodeStage.running < decodedBound,
      run: (p) => this.decode(p),
      onDrop: (_p, reason) => this.drop('decode', reason),
    });
  }

  /** Hands a sample in. `sample.data` is transferred to a decode worker: do not read it afterwards. */
  submit(key: string, sample: Sample, priority = false): void {
    this.submitted++;
    this.decodeStage.submit(key, { sample, priority, arrivedAt: performance.now() }, priority);
  }

  /** Samples waiting in either stage (not yet handed to a pool). */
  get waiting(): number {
    return this.decodeStage.pending + this.inferStage.pending;
  }

  /** Samples inside the pools. */
  get running(): number {
    return this.decodeStage.running + this.inferStage.running;
  }

  /** Totals since start: submitted = delivered + dropped + (waiting + running). */
  counts(): { submitted: number; delivered: number; dropped: number } {
    return { submitted: this.submitted, delivered: this.delivered, dropped: this.droppedCount };
  }

  /** Resolves once every submitted sample has a result or a drop. */
  async drained(): Promise<void> {
    while (this.waiting + this.running > 0) {
      await Promise.all([this.decodeStage.idle(), this.inferStage.idle()]);
    }
  }

  /** Drops what waits, finishes what runs. */
  async stop(): Promise<void> {
    await this.decodeStage.stop();
    await this.inferStage.stop();
  }

  private drop(stage: 'decode' | 'infer', reason: SchedulerDropReason | string): void {
    this.droppedCount++;
    this.metrics.dropped.inc({ stage, reason });
  }

  private async decode(p: Pending): Promise<void> {
    const { sample } = p;
    const key = `${sample.schoolId}/${sample.cameraId}`;
    let frame: DecodedFrame;
    try {
      frame =
        sample.codec === 'jpeg'
          ? await this.detector.decodePool.decodeJpeg(sample.data)
          : await this.detector.decodePool.decodeSample(sample);
    } catch (err) {
      this.fail('decode', dropReason(err, 'decode_failed'), sample, err);
      return;
    }
    const now = performance.now();
    const decodeQueueMs = now - p.arrivedAt - frame.decodeMs;
    this.metrics.stageSeconds.observe({ stage: 'decode_queue' }, Math.max(0, decodeQueueMs) / 1000);
    this.metrics.stageSeconds.observe({ stage: 'decode' }, frame.decodeMs / 1000);
    this.inferStage.submit(key, { ...p, frame, decodedAt: now, decodeQueueMs }, p.priority);
  }

  private async infer(d: Decoded): Promise<void> {
    try {
      const out = await this.detector.inferPool.infer(d.frame);
      this.detector.decodePool.recycle(out.tensor);
      const now = performance.now();
      const inferQueueMs = now - d.decodedAt - out.inferMs;
      this.metrics.stageSeconds.observe({ stage: 'infer_queue' }, Math.max(0, inferQueueMs) / 1000);
      this.metrics.stageSeconds.observe({ stage: 'infer' }, out.inferMs / 1000);
      this.metrics.inferBatchSize.observe(out.batchSize);
      const pipelineMs = now - d.arrivedAt;
      this.metrics.stageSeconds.observe({ stage: 'pipeline' }, pipelineMs / 1000);
      this.delivered++;
      this.opts.onResult({
        sample: d.sample,
        detections: out.detections,
        width: d.frame.width,
        height: d.frame.height,
        batchSize: out.batchSize,
        cues: { thumb: d.frame.thumb, thumbWidth: d.frame.thumbWidth, thumbHeight: d.frame.thumbHeight },
        timings: {
          decodeQueueMs: Math.max(0, d.decodeQueueMs),
          decodeMs: d.frame.decodeMs,
          inferQueueMs: Math.max(0, inferQueueMs),
          inferMs: out.inferMs,
          pipelineMs,
        },
      });
    } catch (err) {
      // A refused frame still owns its tensor (a crashed worker's is gone with it).
      if (d.frame.tensor.byteLength > 0) this.detector.decodePool.recycle(d.frame.tensor);
      this.fail('infer', dropReason(err, 'model_failed'), d.sample, err);
    } finally {
      this.decodeStage.kick();
    }
  }

  private fail(stage: 'decode' | 'infer', reason: string, sample: Sample, err: unknown): void {
    this.drop(stage, reason);
    this.metrics.errors.inc({ component: stage, type: reason });
    const fields = {
      school: sample.schoolId,
      camera: sample.cameraId,
      seq: sample.seq,
      reason,
      error: errorMessage(err),
    };
    // A crashed worker is rare and worth a line; bad frames from a camera are routine and counted.
    if (reason === 'worker_crashed') this.opts.log?.warn('Pool worker died; replaced, frame dropped', fields);
    else this.opts.log?.debug('Sample dropped', fields);
  }
}
