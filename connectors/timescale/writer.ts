import type { Sql } from 'postgres';
import { KuzetError, errorMessage } from '../../engine/errors.js';
import { createLogger, type Logger } from '../../engine/log.js';
import type { Metrics } from '../../engine/metrics.js';
import type { FrameDetections } from '../../engine/types.js';
import { Spool, type SpoolBatch } from './spool.js';

/** Options shared by every batched table writer. */
export interface BatchWriterOptions {
  /** Rows per INSERT, at most 1000 (a 5000-row statement crashes the embedded WASM build). */
  maxBatchRows?: number;
  /** Rows held while the database is slow or down; beyond it the oldest are dropped and counted. */
  maxQueueRows?: number;
  flushIntervalMs?: number;
  /** First retry delay after a failed write; doubles up to retryMaxMs. */
  retryMinMs?: number;
  retryMaxMs?: number;
  metrics?: Metrics;
  log?: Logger;
  /**
   * Folder of an on-disk journal (see spool.ts). With it, rows that would wait too long in memory while the
   * database is down go to disk instead, and are replayed in order, before newer rows, when it is back; rows
   * left at stop() stay there for the next process. Without it, rows beyond maxQueueRows are dropped.
   */
  spoolDir?: string;
  /** Spool the queue once the database has been down this long (5000 ms by default)... */
  spoolAfterMs?: number;
  /** ...or as soon as this many rows are queued (maxQueueRows / 2 by default). */
  spoolAtRows?: number;
  /** Disk budget of the spool; past it its oldest rows are dropped and counted (1 GiB by default). */
  spoolMaxBytes?: number;
  spoolSegmentBytes?: number;
}

export type DetectionWriterOptions = BatchWriterOptions;

/** What distinguishes one batched table writer from another. */
export interface BatchTarget<Row> {
  table: string;
  /** Columns to insert; keys of Row named as the columns. */
  columns: ReadonlyArray<keyof Row & string>;
  /** Skip rows the table already holds (by its unique key) instead of failing the batch: idempotent retries. */
  ignoreConflicts: boolean;
  /** `stage` label for queue depth, write timings and drops (one per table, so gauges do not collide). */
  stage: string;
  /** `component` label for errors. */
  component: string;
  /** What the rows are, in log lines ("detections"). */
  noun: string;
}

/** Row shape of the detections table; keys are the column names. */
export interface DetectionRow {
  time: Date;
  school_id: string;
  camera_id: string;
  class: string;
  score: number;
  box: number[];
  track_id: number | null;
  frame_seq: number;
  frame_w: number;
  frame_h: number;
  /** Index of the detection within its frame: with (school_id, camera_id, frame_seq, time) the row's unique key. */
  det_idx: number;
}

const DETECTIONS: BatchTarget<DetectionRow> = {
  table: 'detections',
  columns: [
    'time',
    'school_id',
    'camera_id',
    'class',
    'score',
    'box',
    'track_id',
    'frame_seq',
    'frame_w',
    'frame_h',
    'det_idx',
  ],
  // (school_id, camera_id, frame_seq, det_idx, time) is unique (migration 004): replays are stored once.
  ignoreConflicts: true,
  stage: 'store',
  component: 'timescale_writer',
  noun: 'detections',
};
const HARD_MAX_BATCH_ROWS = 1000;
const STOP_DEADLINE_MS = 5000;
const DEFAULT_SPOOL_AFTER_MS = 5000;

/**
 * FIFO of rows with O(1) removal at the head (dropping the oldest happens on every enqueue while the database
 * is down, so Array.shift on 100k rows is not an option).
 */
class RowQueue<Row> {
  private rows: Row[] = [];
  private head = 0;

  get length(): number {
    return this.rows.length - this.head;
  }

  push(row: Row): void {
    this.rows.push(row);
  }

  /** Removes and returns up to n rows from the head. */
  take(n: number): Row[] {
    const out = this.rows.slice(this.head, this.head + n);
    this.head += out.length;
    this.compact();
    return out;
  }

  /** Puts rows back at the head, in order (a failed batch goes back before anything newer). */
  unshift(batch: Row[]): void {
    this.rows = batch.concat(this.rows.slice(this.head));
    this.head = 0;
  }

  dropOldest(n: number): number {
    const k = Math.min(n, this.length);
    this.head += k;
    this.compact();
    return k;
  }

  private compact(): void {
    if (this.head === this.rows.length) {
      this.rows = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.rows.length) {
      this.rows = this.rows.slice(this.head);
      this.head = 0;
    }
  }
}

/** Errors that retrying cannot fix: the batch's data itself is refused (SQLSTATE classes 22 and 23). */
function isRejection(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^(22|23)[0-9A-Z]{3}$/.test(code);
}

function errorType(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return 'write';
  if (/^[0-9A-Z]{5}$/.test(code)) return isRejection(err) ? 'rejected' : 'query';
  return 'connection';
}

/**
 * Batches rows into multi-row INSERTs. The database may be slow, down or not there yet: rows wait in a
 * bounded queue (oldest dropped and counted when full), writes retry with backoff, and nothing here ever
 * throws into the frame path. Delivery is at least once: a batch whose commit reply is lost is sent again
 * (targets with ignoreConflicts make that harmless).
 *
 * With spoolDir, rows go to an on-disk journal instead of piling up in memory while the database is down
 * (down for spoolAfterMs, or spoolAtRows queued). Order is kept: the spool only ever takes the head of the
 * queue (never while a queued batch is in flight, whose failure would put it back behind them), and the pump
 * replays the spool before the queue. A spooled batch is committed in the journal only after its INSERT
 * succeeds, so a crash in between replays it, and ON CONFLICT DO NOTHING stores it once.
 */
export class BatchWriter<Row extends object> {
  private readonly log: Logger;
  private readonly metrics: Metrics | undefined;
  private readonly maxBatchRows: number;
  private readonly maxQueueRows: number;
  private readonly flushIntervalMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly queue = new RowQueue<Row>();
  private inflightRows = 0;
  private timer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private started = false;
  private stopped = false;
  private retryDelayMs = 0;
  private retryAt = 0;
  private downSince: number | null = null;
  private readonly spool: Spool<Row> | null = null;
  private readonly spoolAfterMs: number;
  private readonly spoolAtRows: number;
  private replayIter: AsyncGenerator<SpoolBatch<Row>> | null = null;
  /** Read from the spool, not yet written (a failed attempt keeps it here for the retry). */
  private replayHeld: SpoolBatch<Row> | null = null;
  private spoolFailing = false;

  constructor(
    private readonly sql: Sql,
    private readonly target: BatchTarget<Row>,
    opts: BatchWriterOptions = {},
  ) {
    this.log = opts.log ?? createLogger(`timescale.writer.${target.table}`);
    this.metrics = opts.metrics;
    this.maxBatchRows = Math.max(1, Math.min(opts.maxBatchRows ?? HARD_MAX_BATCH_ROWS, HARD_MAX_BATCH_ROWS));
    this.maxQueueRows = Math.max(this.maxBatchRows, opts.maxQueueRows ?? 100_000);
    this.flushIntervalMs = opts.flushIntervalMs ?? 500;
    this.retryMinMs = opts.retryMinMs ?? 250;
    this.retryMaxMs = opts.retryMaxMs ?? 5000;
    this.spoolAfterMs = opts.spoolAfterMs ?? DEFAULT_SPOOL_AFTER_MS;
    this.spoolAtRows = Math.max(1, opts.spoolAtRows ?? Math.floor(this.maxQueueRows / 2));
    if (opts.spoolDir !== undefined) {
      try {
        this.spool = new Spool<Row>(opts.spoolDir, {
          ...(opts.spoolMaxBytes !== undefined ? { maxBytes: opts.spoolMaxBytes } : {}),
          ...(opts.spoolSegmentBytes !== undefined ? { segmentBytes: opts.spoolSegmentBytes } : {}),
        });
      } catch (err) {
        throw new KuzetError(
          'KUZET_ERR_DB',
          `Cannot open the ${target.noun} spool in ${opts.spoolDir}: ${errorMessage(err)}`,
          { cause: err },
        );
      }
      const truncated = this.spool.truncatedRecords;
      if (truncated > 0) {
        this.metrics?.dropped.inc({ stage: target.stage, reason: 'spool_truncated' }, truncated);
        this.log.warn(`Skipped ${target.noun} spool records cut short by a crash`, {
          records: truncated,
          spoolDir: opts.spoolDir,
        });
      }
      if (this.spool.pendingRows > 0)
        this.log.info(`Found spooled ${target.noun}; replaying them first`, {
          rows: this.spool.pendingRows,
          spoolDir: opts.spoolDir,
        });
    }
  }

  /** Rows waiting in the on-disk spool (0 without spoolDir). */
  get spooledRows(): number {
    return this.spool?.pendingRows ?? 0;
  }

  /** Rows not yet confirmed written (queued, in flight and spooled). */
  get pendingRows(): number {
    return this.queue.length + this.inflightRows + this.spooledRows;
  }

  /** Whether the last write attempt failed. */
  get databaseDown(): boolean {
    return this.downSince !== null;
  }

  /** Queues rows (ignored once stopped). */
  protected enqueueRows(rows: Iterable<Row>): void {
    if (this.stopped) return;
    for (const row of rows) this.queue.push(row);
    // From the frame path, spool whole batches only: one tiny record per frame would replay slowly.
    this.maybeSpool(this.maxBatchRows);
    this.enforceBound();
    this.metrics?.queueDepth.set({ stage: this.target.stage }, this.pendingRows);
    // A full batch need not wait for the timer, unless we are backing off from a failure.
    if (this.started && this.queue.length >= this.maxBatchRows && Date.now() >= this.retryAt)
      this.kick(false);
  }

  /** Starts the periodic flush. Rows enqueued before start() wait (bounded) until then. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.timer = setInterval(() => this.kick(false), this.flushIntervalMs);
    // The engine's own lifetime keeps the process up; a pending flush timer must not.
    this.timer.unref();
    this.kick(false);
  }

  /**
   * Writes everything queued now. Resolves when the queue is empty or a write failed (the rows then stay
   * queued for the background retry); never rejects.
   */
  async flush(): Promise<void> {
    while (this.pumping) await this.pumping;
    await this.run(true);
  }

  /** Stops the timer and flushes under a deadline; rows still unwritten then are dropped and counted. */
  async stop(deadlineMs = STOP_DEADLINE_MS): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const deadline = Date.now() + deadlineMs;
    const expired = delay(deadlineMs);
    try {
      while (this.pendingRows > 0 && Date.now() < deadline) {
        // A write that hangs (database accepts TCP but never answers) must not hold shutdown past the deadline.
        const attempt = (this.pumping ?? this.run(true)).then(() => 'done' as const);
        if ((await Promise.race([attempt, expired.promise])) === 'expired') break;
        if (this.pendingRows > 0 && this.databaseDown) {
          const pause = delay(Math.min(this.retryDelayMs, Math.max(0, deadline - Date.now())));
          await Promise.race([pause.promise, expired.promise]);
          pause.cancel();
        }
      }
    } finally {
      expired.cancel();
    }
    // With a spool nothing is dropped: what is left waits on disk for the next process.
    if (this.queue.length > 0 && this.spool) this.spoolQueue();
    this.closeSpool();
    const left = this.queue.length;
    if (left > 0) {
      this.queue.dropOldest(left);
      this.metrics?.dropped.inc({ stage: this.target.stage, reason: 'shutdown' }, left);
      this.log.error(`Dropped unwritten ${this.target.noun} at shutdown`, { rows: left, deadlineMs });
    }
    this.metrics?.queueDepth.set({ stage: this.target.stage }, this.pendingRows);
  }

  private kick(ignoreBackoff: boolean): void {
    if (this.pumping) return;
    void this.run(ignoreBackoff);
  }

  private run(ignoreBackoff: boolean): Promise<void> {
    if (this.pumping) return this.pumping;
    this.pumping = this.pump(ignoreBackoff)
      .catch((err: unknown) => {
        this.metrics?.errors.inc({ component: this.target.component, type: 'internal' });
        this.log.error(`Writer of ${this.target.noun} failed unexpectedly`, { error: errorMessage(err) });
      })
      .finally(() => {
        this.pumping = null;
      });
    return this.pumping;
  }

  private async pump(ignoreBackoff: boolean): Promise<void> {
    for (;;) {
      if (!ignoreBackoff && Date.now() < this.retryAt) {
        this.maybeSpool(1);
        return;
      }
      const spooled = await this.nextSpooled();
      if (!spooled && this.queue.length === 0) return;
      const batch = spooled ? spooled.rows : this.queue.take(this.maxBatchRows);
      // Spooled rows are counted by the spool until committed.
      this.inflightRows = spooled ? 0 : batch.length;
      const t0 = performance.now();
      try {
        const written = await this.insert(batch);
        this.inflightRows = 0;
        if (spooled) this.commitSpooled(spooled);
        this.metrics?.stageSeconds.observe({ stage: this.target.stage }, (performance.now() - t0) / 1000);
        this.metrics?.rowsWritten.inc({ table: this.target.table }, written);
        this.markUp();
      } catch (err) {
        this.inflightRows = 0;
        this.metrics?.errors.inc({ component: this.target.component, type: errorType(err) });
        if (isRejection(err)) {
          // Retrying would refuse the same rows forever and hold up everything behind them.
          this.metrics?.dropped.inc({ stage: this.target.stage, reason: 'rejected' }, batch.length);
          this.log.error(`Database refused a batch of ${this.target.noun}; dropped it`, {
            rows: batch.length,
            error: errorMessage(err),
          });
          if (spooled) this.commitSpooled(spooled);
          continue;
        }
        // A spooled batch stays held for the retry; a queued one goes back to the head of the queue.
        if (!spooled) this.queue.unshift(batch);
        this.markDown(err);
        this.maybeSpool(1);
        this.enforceBound();
        return;
      } finally {
        this.metrics?.queueDepth.set({ stage: this.target.stage }, this.pendingRows);
      }
    }
  }

  /** Returns the rows actually inserted (fewer than the batch when conflicts were skipped). */
  private async insert(batch: Row[]): Promise<number> {
    const { table, columns, ignoreConflicts } = this.target;
    const rows = this.sql(batch as Array<Record<string, unknown>>, ...columns);
    const result = ignoreConflicts
      ? await this.sql`INSERT INTO ${this.sql(table)} ${rows} ON CONFLICT DO NOTHING`
      : await this.sql`INSERT INTO ${this.sql(table)} ${rows}`;
    return result.count;
  }

  /** The next batch to replay from the spool, or null when it has nothing left. */
  private async nextSpooled(): Promise<SpoolBatch<Row> | null> {
    const spool = this.spool;
    if (!spool) return null;
    if (this.replayHeld) {
      if (spool.holds(this.replayHeld.position)) return this.replayHeld;
      // Its segment was dropped to keep within spoolMaxBytes (and its rows counted then).
      this.replayHeld = null;
    }
    if (spool.pendingRows === 0) return null;
    this.replayIter ??= spool.replay(this.maxBatchRows);
    const next = await this.replayIter.next();
    if (next.done) {
      this.replayIter = null;
      return null;
    }
    this.replayHeld = next.value;
    return next.value;
  }

  private commitSpooled(batch: SpoolBatch<Row>): void {
    this.replayHeld = null;
    try {
      this.spool?.commit(batch.position);
    } catch (err) {
      // The rows are stored; a cursor not saved only means they are replayed (and skipped) once more.
      this.log.warn(`Could not record replayed ${this.target.noun} in the spool`, {
        error: errorMessage(err),
      });
    }
  }

  /**
   * Moves the queue to the spool when the database is down for long or the queue is filling. Not while a
   * queued batch is in flight: its failure would put it back behind the rows spooled meanwhile.
   */
  private maybeSpool(minRows: number): void {
    if (!this.spool || this.stopped || this.inflightRows > 0 || this.queue.length < minRows) return;
    const downLong = this.downSince !== null && Date.now() - this.downSince >= this.spoolAfterMs;
    if (downLong || this.queue.length >= this.spoolAtRows) this.spoolQueue();
  }

  private spoolQueue(): void {
    const spool = this.spool;
    if (!spool) return;
    while (this.queue.length > 0) {
      const batch = this.queue.take(this.maxBatchRows);
      let dropped: number;
      try {
        dropped = spool.append(batch);
      } catch (err) {
        this.queue.unshift(batch);
        // Disk full or gone: the rows stay in memory under maxQueueRows, as without a spool.
        if (!this.spoolFailing)
          this.log.error(`Cannot spool ${this.target.noun} to disk; keeping them in memory`, {
            error: errorMessage(err),
            spoolDir: spool.dir,
          });
        this.spoolFailing = true;
        this.metrics?.errors.inc({ component: this.target.component, type: 'spool' });
        return;
      }
      this.spoolFailing = false;
      if (dropped > 0) {
        this.metrics?.dropped.inc({ stage: this.target.stage, reason: 'spool_full' }, dropped);
        this.log.error(`Spool of ${this.target.noun} is full; dropped its oldest rows`, { rows: dropped });
      }
    }
    this.metrics?.queueDepth.set({ stage: this.target.stage }, this.pendingRows);
  }

  private closeSpool(): void {
    const iter = this.replayIter;
    this.replayIter = null;
    this.replayHeld = null;
    void iter?.return(undefined);
    try {
      this.spool?.close();
    } catch (err) {
      this.log.warn(`Could not close the ${this.target.noun} spool cleanly`, { error: errorMessage(err) });
    }
  }

  private enforceBound(): void {
    const excess = this.queue.length + this.inflightRows - this.maxQueueRows;
    if (excess <= 0) return;
    const dropped = this.queue.dropOldest(excess);
    this.metrics?.dropped.inc({ stage: this.target.stage, reason: 'queue_full' }, dropped);
  }

  private markDown(err: unknown): void {
    this.retryDelayMs =
      this.retryDelayMs === 0 ? this.retryMinMs : Math.min(this.retryDelayMs * 2, this.retryMaxMs);
    // Jitter keeps several engines from hammering a database that just came back in lockstep.
    this.retryAt = Date.now() + this.retryDelayMs * (0.8 + Math.random() * 0.4);
    if (this.downSince !== null) return;
    this.downSince = Date.now();
    this.log.warn(`Database write failed; buffering ${this.target.noun} and retrying`, {
      error: errorMessage(err),
      queuedRows: this.pendingRows,
      maxQueueRows: this.maxQueueRows,
    });
  }

  private markUp(): void {
    this.retryDelayMs = 0;
    this.retryAt = 0;
    if (this.downSince === null) return;
    this.log.info('Database writes recovered', {
      downMs: Date.now() - this.downSince,
      queuedRows: this.pendingRows,
    });
    this.downSince = null;
  }
}

/** Batches detections (one row per detected object) into the detections table. */
export class DetectionWriter extends BatchWriter<DetectionRow> {
  constructor(sql: Sql, opts: DetectionWriterOptions = {}) {
    super(sql, DETECTIONS, { ...opts, log: opts.log ?? createLogger('timescale.writer') });
  }

  enqueue(frame: FrameDetections): void {
    if (frame.detections.length === 0) return;
    const time = new Date(frame.captureTimeMs);
    this.enqueueRows(
      frame.detections.map((d, i) => ({
        time,
        school_id: frame.schoolId,
        camera_id: frame.cameraId,
        class: d.className,
        score: d.score,
        box: [d.x1, d.y1, d.x2, d.y2],
        track_id: d.trackId,
        frame_seq: frame.seq,
        frame_w: frame.width,
        frame_h: frame.height,
        det_idx: i,
      })),
    );
  }
}

/** A timer that can be cancelled, so a shutdown that finishes early leaves nothing keeping the process up. */
function delay(ms: number): { promise: Promise<'expired'>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}
