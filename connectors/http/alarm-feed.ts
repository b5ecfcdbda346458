import { DeliverPolicy, type ConsumerMessages, type NatsConnection } from 'nats';
import type { Logger } from '../../engine/log.js';

/** One stream message as every client receives it: decoded and serialised once. Null: undecodable, skipped. */
export interface FeedEntry {
  seq: number;
  school: string;
  severity: string;
  kind: string;
  /** The alarm change's time, epoch ms. */
  time: number;
  /** The complete `{"type":"alarm",…}` text frame, UTF-8. */
  frame: Buffer;
}

export interface AlarmFeedOptions {
  nc: NatsConnection;
  stream: string;
  /** Stream messages kept in memory for resuming clients (the rest come from a per-client consumer). */
  window: number;
  decode: (seq: number, data: Uint8Array) => FeedEntry | null;
  /**
   * Every new stream message, in sequence order, once. `catchingUp`: it was already in the stream when the
   * tail started (loaded into memory, not news).
   */
  onEntry: (seq: number, entry: FeedEntry | null, catchingUp: boolean) => void;
  /** The tail ended or failed: clients must reconnect and resume; the next subscribe starts it again. */
  onFailure: (reason: string) => void;
  log: Logger;
}

/**
 * The live tail of the alarm stream: ONE ordered JetStream consumer for all clients, the last `window`
 * messages kept decoded in memory. With a consumer per client, nats-server (not the websocket) capped fan-out
 * at ~15k frames/s on the bench machine; one tail plus in-memory replay serves every live client and every
 * resume within the window, and only clients resuming from further back get a consumer of their own.
 */
export class AlarmFeed {
  /** seq → entry for the last `window` messages, in sequence order (Map keeps insertion order). */
  private readonly recent = new Map<number, FeedEntry | null>();
  private sub: ConsumerMessages | null = null;
  private starting: Promise<void> | null = null;
  private stopped = false;
  /** Highest stream sequence the tail has processed (0: none). */
  lastSeq = 0;

  constructor(private readonly opts: AlarmFeedOptions) {}

  /** Starts the tail if it is not running; resolves once it has caught up with the stream as it was. */
  ready(): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('alarm feed stopped'));
    this.starting ??= this.start().catch((err: unknown) => {
      this.starting = null;
      throw err;
    });
    return this.starting;
  }

  /** First sequence held in memory (lastSeq + 1 when none). */
  firstSeq(): number {
    for (const seq of this.recent.keys()) return seq;
    return this.lastSeq + 1;
  }

  /** The tail is consuming (false before the first start and after a failure until the next ready()). */
  get running(): boolean {
    return this.sub !== null;
  }

  has(seq: number): boolean {
    return this.recent.has(seq);
  }

  /** Entries held with seq > after, in order. */
  *after(after: number): Generator<[number, FeedEntry | null]> {
    for (const [seq, e] of this.recent) if (seq > after) yield [seq, e];
  }

  stop(): void {
    this.stopped = true;
    this.sub?.stop();
    this.sub = null;
  }

  private async start(): Promise<void> {
    const { nc, stream, window, log } = this.opts;
    const info = await (await nc.jetstreamManager()).streams.info(stream);
    const target = info.state.last_seq;
    const from = Math.max(info.state.first_seq, target - window + 1, 1);
    const consumer = await nc.jetstream().consumers.get(stream, {
      filterSubjects: 'kuzet.alarm.>',
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
    });
    const iter = await consumer.consume();
    if (this.stopped) {
      iter.stop();
      throw new Error('alarm feed stopped');
    }
    this.sub = iter;
    // Anything before `from` is not in memory: resuming clients get it from their own consumer.
    this.lastSeq = Math.max(this.lastSeq, from - 1);
    this.recent.clear();
    let caughtUp: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (caughtUp = resolve));
    if (target < from) caughtUp();
    void (async () => {
      for await (const m of iter) {
        if (m.seq <= this.lastSeq) continue;
        const entry = this.opts.decode(m.seq, m.data);
        this.recent.set(m.seq, entry);
        if (this.recent.size > window) this.recent.delete(this.firstSeq());
        this.lastSeq = m.seq;
        if (m.seq >= target) caughtUp();
        this.opts.onEntry(m.seq, entry, m.seq <= target);
      }
    })()
      .catch((err: Error) => log.error('Alarm feed failed', { error: err.message }))
      .finally(() => {
        if (this.sub === iter) this.sub = null;
        this.starting = null;
        if (!this.stopped) this.opts.onFailure('alarm feed ended');
      });
    await ready;
    log.info('Alarm feed live', { stream, from, lastSeq: this.lastSeq, held: this.recent.size });
  }
}
