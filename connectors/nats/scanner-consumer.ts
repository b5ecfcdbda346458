import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  headers as natsHeaders,
  Match,
  nanos,
  RetentionPolicy,
  StorageType,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
  type StreamConfig,
} from 'nats';
import { errorMessage, KuzetError } from '../../engine/errors.js';
import { createLogger, type Logger } from '../../engine/log.js';
import type { Metrics } from '../../engine/metrics.js';
import type { ScanEvent, ScanKind } from '../../pipelines/fusion/types.js';
import { parseScanEvent, scanSubject } from './scanner-events.js';

/**
 * At-least-once intake of scanner and sensor events from JetStream (`kuzet.scan.>`), in stream order, into
 * one async handler. Invalid events and events the handler keeps failing on are dead-lettered to
 * `kuzet.dlq.<original subject>` (the original payload, with the reason in a header) and acked, so one bad
 * message never blocks the stream.
 */

export const scanSubjects = 'kuzet.scan.>';
export const dlqPrefix = 'kuzet.dlq.';
export const dlqHeaders = { reason: 'kuzet-dlq-reason', subject: 'kuzet-dlq-subject' } as const;

const day = 24 * 3600 * 1000;

/** valid: handled and acked; invalid: dead-lettered by validation; failed: dead-lettered after the last retry. */
export type ScanOutcome = 'valid' | 'invalid' | 'failed';

export interface ScannerConsumerOptions {
  stream: string;
  durable: string;
  handle: (e: ScanEvent) => Promise<void>;
  log?: Logger;
  /** Dead letters are counted as kuzet_dropped_total{stage: 'scan', reason: 'invalid' | 'handler_failed'}. */
  metrics?: Metrics;
  /** Every outcome, for per-kind counters the caller owns; scanKind is absent when the subject has none. */
  onCounted?: (outcome: ScanOutcome, scanKind?: ScanKind) => void;
  /** Delay before JetStream redelivers an event whose handler threw. */
  retryDelayMs?: number;
  /** Deliveries (first one included) before a failing event is dead-lettered. */
  maxDeliver?: number;
  /**
   * Stream that stores the dead letters (created on `kuzet.dlq.kuzet.scan.>` if no stream captures them yet);
   * default `<stream>_DLQ`. null: publish dead letters without JetStream (lost if nobody listens).
   */
  dlqStream?: string | null;
  /** Messages per pull request. */
  batch?: number;
  /** How long one pull waits for messages; close() may wait this long. At least 1000 (client limit). */
  pullExpiresMs?: number;
}

function apiErrorCode(err: unknown): number | undefined {
  return (err as { api_error?: { err_code?: number } } | undefined)?.api_error?.err_code;
}

// JetStream API error codes: stream not found, consumer not found.
const streamNotFound = 10059;
const consumerNotFound = 10014;

/**
 * Creates the stream if missing. An existing stream is left as it is (operators may have tuned retention or
 * replicas), but it must capture the subjects we rely on.
 */
async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string; subjects: string[] },
  log: Logger,
): Promise<void> {
  try {
    const info = await jsm.streams.info(config.name);
    const missing = config.subjects.filter((s) => !info.config.subjects?.includes(s));
    if (missing.length > 0) {
      throw new KuzetError(
        'KUZET_ERR_BUS',
        `JetStream stream ${config.name} exists but does not capture ${missing.join(', ')}; add the subjects or use another stream name`,
      );
    }
    return;
  } catch (err) {
    if (apiErrorCode(err) !== streamNotFound) throw err;
  }
  await jsm.streams.add(config);
  log.info('Created JetStream stream', { stream: config.name, subjects: config.subjects.join(',') });
}

/** A stream on `kuzet.alarm.>` so alarm state changes survive for downstream consumers that resume later. */
export async function ensureAlarmStream(
  nc: NatsConnection,
  name = 'KUZET_ALARMS',
  log: Logger = createLogger('alarm-stream'),
): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await ensureStream(
    jsm,
    {
      name,
      subjects: ['kuzet.alarm.>'],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(30 * day),
    },
    log,
  );
}

/** Header values are one line; reasons may quote producer data, so they are also bounded. */
function headerValue(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 512);
}

export class ScannerConsumer {
  private stopping = false;
  private readonly done: Promise<void>;
  private wakeUp: (() => void) | null = null;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly opts: ScannerConsumerOptions,
    private readonly log: Logger,
    private readonly maxDeliver: number,
    private readonly dlqStream: string | null,
  ) {
    this.done = this.run();
  }

  /** Ensures the stream, the dead-letter stream and the durable pull consumer, then starts consuming. */
  static async open(nc: NatsConnection, opts: ScannerConsumerOptions): Promise<ScannerConsumer> {
    const log = opts.log ?? createLogger('scanner-consumer');
    const maxDeliver = opts.maxDeliver ?? 5;
    const jsm = await nc.jetstreamManager();
    // A stream that already captures the scan subjects under another name (an operator's, or one from an
    // earlier configuration) is used as it is: JetStream refuses two streams on the same subjects.
    const existingStream = await jsm.streams.find(scanSubjects).catch(() => null);
    if (existingStream && existingStream !== opts.stream) {
      log.warn('Using the existing JetStream stream that captures the scan subjects', {
        configured: opts.stream,
        stream: existingStream,
      });
      opts = { ...opts, stream: existingStream };
    }
    await ensureStream(
      jsm,
      {
        name: opts.stream,
        subjects: [scanSubjects],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        max_age: nanos(7 * day),
      },
      log,
    );

    let dlqStream = opts.dlqStream === undefined ? `${opts.stream}_DLQ` : opts.dlqStream;
    if (dlqStream !== null) {
      const dlqSubjects = `${dlqPrefix}${scanSubjects}`;
      // Another stream (say, one on kuzet.dlq.>) may already store them; overlapping streams are refused.
      const existing = await jsm.streams.find(dlqSubjects).catch(() => null);
      if (existing) dlqStream = existing;
      else {
        await ensureStream(
          jsm,
          {
            name: dlqStream,
            subjects: [dlqSubjects],
            storage: StorageType.File,
            retention: RetentionPolicy.Limits,
            discard: DiscardPolicy.Old,
            max_age: nanos(30 * day),
          },
          log,
        );
      }
    }

    const consumerConfig = {
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(30_000),
      max_deliver: maxDeliver,
    };
    try {
      const info = await jsm.consumers.info(opts.stream, opts.durable);
      if (info.config.ack_policy !== AckPolicy.Explicit) {
        throw new KuzetError(
          'KUZET_ERR_BUS',
          `durable consumer ${opts.durable} on ${opts.stream} does not use explicit acks; delete it to let Kuzet recreate it`,
        );
      }
      // The durable is ours: keep its retry settings in line with what the dead-letter logic assumes.
      if (info.config.ack_wait !== consumerConfig.ack_wait || info.config.max_deliver !== maxDeliver) {
        await jsm.consumers.update(opts.stream, opts.durable, {
          ack_wait: consumerConfig.ack_wait,
          max_deliver: maxDeliver,
        });
      }
    } catch (err) {
      if (apiErrorCode(err) !== consumerNotFound) throw err;
      // A new durable starts at the beginning of the retained stream: nothing stored is skipped.
      await jsm.consumers.add(opts.stream, {
        ...consumerConfig,
        durable_name: opts.durable,
        deliver_policy: DeliverPolicy.All,
        filter_subject: scanSubjects,
      });
      log.info('Created durable consumer', { stream: opts.stream, durable: opts.durable });
    }
    return new ScannerConsumer(nc, nc.jetstream(), opts, log, maxDeliver, dlqStream);
  }

  /**
   * Pulls with bounded fetches rather than an endless consume(): a fetch ends only when the server says so,
   * so on close no message is left in flight to us, and every message received but not handled is
   * nak'd back (and reaches the next consumer first, in order) instead of waiting out ack_wait.
   */
  private async run(): Promise<void> {
    let consumer: Consumer | null = null;
    const expires = Math.max(1000, this.opts.pullExpiresMs ?? 5000);
    while (!this.stopping && !this.nc.isClosed()) {
      const handBack: JsMsg[] = [];
      try {
        consumer ??= await this.js.consumers.get(this.opts.stream, this.opts.durable);
        const batch = await consumer.fetch({ max_messages: this.opts.batch ?? 100, expires });
        for await (const m of batch) {
          // A message on its last delivery is handled even while stopping: a nak would exhaust it.
          if (this.stopping && m.info.redeliveryCount < this.maxDeliver) handBack.push(m);
          else await this.process(m);
        }
      } catch (err) {
        if (this.stopping || this.nc.isClosed()) break;
        this.log.warn('Pulling scan events failed; retrying', { error: errorMessage(err) });
        await this.pause(1000);
      } finally {
        // Nak'd only now that the pull is over, else the server would redeliver them into it at once.
        for (const m of handBack) m.nak();
      }
    }
    if (!this.nc.isClosed()) await this.nc.flush().catch(() => undefined);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private count(outcome: ScanOutcome, scanKind: ScanKind | undefined): void {
    if (outcome !== 'valid')
      this.opts.metrics?.dropped.inc({
        stage: 'scan',
        reason: outcome === 'invalid' ? 'invalid' : 'handler_failed',
      });
    try {
      this.opts.onCounted?.(outcome, scanKind);
    } catch (err) {
      this.log.warn('onCounted threw', { error: errorMessage(err) });
    }
  }

  private async process(m: JsMsg): Promise<void> {
    const subj = scanSubject(m.subject);
    const scanKind = subj.ok ? subj.kind : undefined;
    const parsed = parseScanEvent(
      m.subject,
      m.data,
      m.headers?.get('content-type', Match.IgnoreCase) || undefined,
    );
    if (!parsed.ok) {
      if (await this.deadLetter(m, parsed.reason)) this.count('invalid', scanKind);
      return;
    }
    try {
      await this.opts.handle(parsed.event);
    } catch (err) {
      const reason = `handler failed: ${errorMessage(err)}`;
      // redeliveryCount is the delivery number (1 on the first): at maxDeliver the server will not retry.
      if (m.info.redeliveryCount >= this.maxDeliver) {
        if (await this.deadLetter(m, reason)) this.count('failed', scanKind);
      } else {
        this.log.warn('Scan event handler failed; it will be redelivered', {
          subject: m.subject,
          eventId: parsed.event.eventId,
          delivery: m.info.redeliveryCount,
          error: errorMessage(err),
        });
        m.nak(this.opts.retryDelayMs ?? 5000);
      }
      return;
    }
    m.ack();
    this.count('valid', scanKind);
  }

  /** Stores the original message under kuzet.dlq.<subject>, then acks it; false (and a nak) if that failed. */
  private async deadLetter(m: JsMsg, reason: string): Promise<boolean> {
    const h = natsHeaders();
    h.set(dlqHeaders.reason, headerValue(reason));
    h.set(dlqHeaders.subject, m.subject);
    const contentType = m.headers?.get('content-type', Match.IgnoreCase);
    if (contentType) h.set('content-type', contentType);
    const subject = dlqPrefix + m.subject;
    try {
      if (this.dlqStream === null) this.nc.publish(subject, m.data, { headers: h });
      // Stored before the original is acked: a dead letter is never lost between the two.
      else await this.js.publish(subject, m.data, { headers: h, expect: { streamName: this.dlqStream } });
    } catch (err) {
      this.log.error('Dead-lettering a scan event failed; it will be redelivered', {
        subject: m.subject,
        reason,
        error: errorMessage(err),
      });
      m.nak(this.opts.retryDelayMs ?? 5000);
      return false;
    }
    this.log.warn('Scan event dead-lettered', { subject: m.subject, reason: headerValue(reason) });
    m.ack();
    return true;
  }

  /**
   * Stops consuming: the event being handled finishes (and is acked), events already received but not
   * handled are handed back to JetStream, and acks are flushed. Resolves when the loop has ended, at most
   * one pull (pullExpiresMs) later. The connection stays open: it belongs to the caller.
   */
  close(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    return this.done;
  }
}
