/**
 * Freshness-first, fair scheduling of samples onto a pool with bounded concurrency.
 *
 * Each camera holds at most one waiting sample: a newer one replaces it (the older is reported as
 * dropped, reason `superseded`), so a slow pool never makes the engine analyse stale video. Cameras
 * with a waiting sample are served round-robin, so one busy school cannot starve the others.
 */
export interface SchedulerOptions<T> {
  /** Samples handed to `run` at once (in flight in the pool). */
  maxInFlight: number;
  run: (item: T) => Promise<void>;
  onDrop: (item: T, reason: 'superseded' | 'stopped') => void;
}

export class FreshnessScheduler<T> {
  private readonly waiting = new Map<string, T>();
  /** Round-robin order of keys with a waiting item; a key appears at most once. */
  private readonly order: string[] = [];
  private head = 0;
  private inFlight = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly opts: SchedulerOptions<T>) {}

  get pending(): number {
    return this.waiting.size;
  }

  get running(): number {
    return this.inFlight;
  }

  submit(key: string, item: T): void {
    if (this.stopped) {
      this.opts.onDrop(item, 'stopped');
      return;
    }
    const older = this.waiting.get(key);
    if (older !== undefined) this.opts.onDrop(older, 'superseded');
    else this.order.push(key);
    this.waiting.set(key, item);
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.head < this.order.length) {
      const key = this.order[this.head++]!;
      const item = this.waiting.get(key)!;
      this.waiting.delete(key);
      this.inFlight++;
      this.opts
        .run(item)
        .catch(() => undefined) // `run` reports its own failures; the scheduler only keeps the slot count right
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (this.inFlight === 0 && this.waiting.size === 0) this.notifyIdle();
        });
    }
    // Compact the order array once it is fully consumed, so it never grows without bound.
    if (this.head === this.order.length) {
      this.order.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }

  private notifyIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Stops taking samples, drops the waiting ones, and resolves when in-flight work finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const item of this.waiting.values()) this.opts.onDrop(item, 'stopped');
    this.waiting.clear();
    this.order.length = 0;
    this.head = 0;
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
