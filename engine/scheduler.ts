/**
 * Freshness-first, fair scheduling of samples onto a stage with bounded concurrency.
 *
 * Each camera holds at most one waiting sample: a newer one replaces it (the older is reported as
 * dropped, reason `superseded`), so a slow stage never makes the engine analyse stale video. Cameras
 * with a waiting sample are served round-robin, so one busy school cannot starve the others. Cameras under
 * alarm boost wait in a priority lane that is always served first. The total number of waiting samples is
 * bounded too (`maxWaiting`): past it the sample that has waited longest is dropped (`overload`), because a
 * city fleet can have more cameras than a stage can hold frames for.
 */
export type SchedulerDropReason = 'superseded' | 'overload' | 'stopped';

export interface SchedulerOptions<T> {
  /** Items handed to `run` at once (in flight in the stage). */
  maxInFlight: number;
  /** Items waiting across all keys (default: unbounded apart from one per key). */
  maxWaiting?: number;
  run: (item: T) => Promise<void>;
  onDrop: (item: T, reason: SchedulerDropReason) => void;
  /**
   * Back-pressure from the next stage: while it returns false nothing new starts, and waiting items keep
   * being superseded by fresher ones. Call `kick()` when the condition may have changed.
   */
  canStart?: () => boolean;
}

const NORMAL = 0;
const PRIORITY = 1;
type Lane = typeof NORMAL | typeof PRIORITY;

interface Waiting<T> {
  item: T;
  lane: Lane;
}

/** A FIFO of keys over an array with a moving head; stale keys (served or moved lanes) are skipped on pop. */
class KeyQueue {
  private keys: string[] = [];
  private head = 0;

  push(key: string): void {
    this.keys.push(key);
  }

  shift(): string | undefined {
    if (this.head >= this.keys.length) return undefined;
    const key = this.keys[this.head++];
    // Compact once fully consumed, or when the consumed prefix dominates, so the array never grows without bound.
    if (this.head === this.keys.length) {
      this.keys.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.keys.length) {
      this.keys = this.keys.slice(this.head);
      this.head = 0;
    }
    return key;
  }

  clear(): void {
    this.keys.length = 0;
    this.head = 0;
  }
}

export class FreshnessScheduler<T> {
  private readonly waiting = new Map<string, Waiting<T>>();
  private readonly lanes: [KeyQueue, KeyQueue] = [new KeyQueue(), new KeyQueue()];
  private inFlight = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  private readonly maxWaiting: number;

  constructor(private readonly opts: SchedulerOptions<T>) {
    if (!Number.isInteger(opts.maxInFlight) || opts.maxInFlight < 1)
      throw new RangeError(`scheduler maxInFlight must be a positive integer, got ${opts.maxInFlight}`);
    this.maxWaiting = opts.maxWaiting ?? Infinity;
    if (!(this.maxWaiting >= 1))
      throw new RangeError(`scheduler maxWaiting must be >= 1, got ${opts.maxWaiting}`);
  }

  /** Items waiting to start. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Items started and not yet finished. */
  get running(): number {
    return this.inFlight;
  }

  /** Queues `item` as the newest sample of `key`; `priority` puts the key in the lane served first. */
  submit(key: string, item: T, priority = false): void {
    if (this.stopped) {
      this.opts.onDrop(item, 'stopped');
      return;
    }
    const older = this.waiting.get(key);
    if (older !== undefined) {
      this.opts.onDrop(older.item, 'superseded');
      older.item = item;
      if (priority && older.lane === NORMAL) {
        // The key's place in the normal lane goes stale and is skipped when reached.
        older.lane = PRIORITY;
        this.lanes[PRIORITY].push(key);
      }
    } else {
      if (this.waiting.size >= this.maxWaiting) this.dropOldest();
      const lane = priority ? PRIORITY : NORMAL;
      this.waiting.set(key, { item, lane });
      this.lanes[lane].push(key);
    }
    this.pump();
  }

  /** Re-checks `canStart` (the next stage made room). */
  kick(): void {
    this.pump();
  }

  private next(lane: Lane): [string, Waiting<T>] | undefined {
    const q = this.lanes[lane];
    for (let key = q.shift(); key !== undefined; key = q.shift()) {
      const w = this.waiting.get(key);
      if (w !== undefined && w.lane === lane) return [key, w];
    }
    return undefined;
  }

  /** Frees one waiting slot: the longest-waiting normal sample, or a priority one if no normal one waits. */
  private dropOldest(): void {
    const victim = this.next(NORMAL) ?? this.next(PRIORITY);
    if (!victim) return;
    this.waiting.delete(victim[0]);
    this.opts.onDrop(victim[1].item, 'overload');
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.waiting.size > 0) {
      if (this.opts.canStart && !this.opts.canStart()) return;
      const found = this.next(PRIORITY) ?? this.next(NORMAL);
      if (!found) return;
      const [key, w] = found;
      this.waiting.delete(key);
      this.inFlight++;
      this.opts
        .run(w.item)
        .catch(() => undefined) // `run` reports its own failures; the scheduler only keeps the slot count right
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (this.inFlight === 0 && this.waiting.size === 0) this.notifyIdle();
        });
    }
  }

  private notifyIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Resolves once nothing is waiting or running (samples may still be arriving). */
  async idle(): Promise<void> {
    if (this.inFlight === 0 && this.waiting.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking samples, drops the waiting ones, and resolves when in-flight work finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiting.values()) this.opts.onDrop(w.item, 'stopped');
    this.waiting.clear();
    this.lanes[NORMAL].clear();
    this.lanes[PRIORITY].clear();
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
