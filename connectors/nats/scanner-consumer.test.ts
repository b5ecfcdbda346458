import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { connect, headers, type Msg, type NatsConnection } from 'nats';
import { createLogger } from '../../engine/log.js';
import { Metrics } from '../../engine/metrics.js';
import type { ScanEvent, ScanKind } from '../../pipelines/fusion/types.js';
import { ensureAlarmStream, ScannerConsumer, type ScanOutcome } from './scanner-consumer.js';
import { startNatsServer, type LocalNatsServer } from './server.js';

const log = createLogger('test', 'error');
const packr = new Packr({ useRecords: false, variableMapSize: true });
const t0 = 1_760_000_000_000;

/** One payload per kind, without kind and school (they come from the subject). */
const samples: Record<ScanKind, Record<string, unknown>> = {
  turnstile: { person: 'p1', role: 'pupil', class: '7B', direction: 'in', gate: 'main' },
  palm: { person: 'p2', class: '5A', mealWindow: 'breakfast-1' },
  panic: { button: 'b1', room: '101' },
  air: { sensor: 'air-1', room: 'library', co2Ppm: 900, pm25: 10, temperatureC: 21.5, humidityPct: 45 },
  fire: { sensor: 'smoke-1', room: 'attic', state: 'alarm' },
};

async function withServer(name: string, fn: (nc: NatsConnection) => Promise<void>): Promise<void> {
  const server: LocalNatsServer = await startNatsServer({ storeDir: join(dir, name) });
  const nc = await connect({ servers: server.url });
  try {
    await fn(nc);
  } finally {
    await nc.drain();
    await server.stop();
  }
}

async function publish(
  nc: NatsConnection,
  subject: string,
  payload: unknown,
  format: 'json' | 'msgpack' | 'raw' = 'json',
): Promise<void> {
  const h = headers();
  let data: Uint8Array;
  if (format === 'raw') data = payload as Uint8Array;
  else if (format === 'json') {
    h.set('content-type', 'application/json');
    data = new TextEncoder().encode(JSON.stringify(payload));
  } else {
    h.set('content-type', 'application/msgpack');
    data = packr.pack(payload);
  }
  // Awaiting the PubAck: the event is stored before the test goes on.
  await nc.jetstream().publish(subject, data, { headers: h });
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const fast = { stream: 'KUZET_SCAN', durable: 'kuzet-engine', log, pullExpiresMs: 1000, retryDelayMs: 100 };

let dir: string;

describe('ScannerConsumer (real nats-server -js)', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kuzet-scan-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('hands valid JSON and msgpack events of every kind to the handler, in order', async () => {
    await withServer('valid', async (nc) => {
      const got: ScanEvent[] = [];
      const counted: Array<[ScanOutcome, ScanKind | undefined]> = [];
      const consumer = await ScannerConsumer.open(nc, {
        ...fast,
        handle: async (e) => void got.push(e),
        onCounted: (o, k) => counted.push([o, k]),
      });
      try {
        const expected: ScanEvent[] = [];
        let n = 0;
        for (const format of ['json', 'msgpack'] as const) {
          for (const kind of Object.keys(samples) as ScanKind[]) {
            const payload = { v: 1, eventId: `e${n}`, time: t0 + n, ...samples[kind] };
            await publish(nc, `kuzet.scan.${kind}.s1`, payload, format);
            expected.push({ ...payload, kind, schoolId: 's1' } as ScanEvent);
            n++;
          }
        }
        await waitFor('10 events', () => got.length >= 10);
        assert.deepEqual(got, expected);
        assert.deepEqual(
          counted,
          expected.map((e) => ['valid', e.kind]),
        );
      } finally {
        await consumer.close();
      }
    });
  });

  it('dead-letters malformed events with the reason, and never hands them over', async () => {
    await withServer('dlq', async (nc) => {
      const metrics = new Metrics(false);
      const got: ScanEvent[] = [];
      const counted: Array<[ScanOutcome, ScanKind | undefined]> = [];
      const dead: Msg[] = [];
      const sub = nc.subscribe('kuzet.dlq.>', { callback: (_err, m) => dead.push(m) });
      const consumer = await ScannerConsumer.open(nc, {
        ...fast,
        metrics,
        handle: async (e) => void got.push(e),
        onCounted: (o, k) => counted.push([o, k]),
      });
      try {
        const good = { v: 1, eventId: 'ok', time: t0, ...samples.turnstile };
        const { person: _person, ...noPerson } = good as Record<string, unknown>;
        const badJson = new TextEncoder().encode('{"v":1,"eventId":');
        await publish(nc, 'kuzet.scan.turnstile.s1', badJson, 'raw');
        await publish(nc, 'kuzet.scan.turnstile.s1', noPerson);
        await publish(nc, 'kuzet.scan.air.s1', {
          v: 1,
          eventId: 'a',
          time: t0,
          ...samples.air,
          co2Ppm: 20_000,
        });
        await publish(nc, 'kuzet.scan.door.s1', good);
        await publish(nc, 'kuzet.scan.turnstile.s1', good);
        await waitFor('4 dead letters and 1 event', () => dead.length >= 4 && got.length >= 1);

        assert.deepEqual(
          dead.map((m) => [
            m.subject,
            m.headers?.get('kuzet-dlq-subject'),
            m.headers?.get('kuzet-dlq-reason'),
          ]),
          [
            ['kuzet.dlq.kuzet.scan.turnstile.s1', 'kuzet.scan.turnstile.s1', 'payload: not valid JSON'],
            ['kuzet.dlq.kuzet.scan.turnstile.s1', 'kuzet.scan.turnstile.s1', 'person: required'],
            ['kuzet.dlq.kuzet.scan.air.s1', 'kuzet.scan.air.s1', 'co2Ppm: must be <= 10000'],
            ['kuzet.dlq.kuzet.scan.door.s1', 'kuzet.scan.door.s1', "subject: unknown scan kind 'door'"],
          ],
        );
        // The original bytes, untouched, for whoever investigates.
        assert.deepEqual(new Uint8Array(dead[0]!.data), badJson);
        assert.deepEqual(
          got.map((e) => e.eventId),
          ['ok'],
        );
        assert.deepEqual(counted, [
          ['invalid', 'turnstile'],
          ['invalid', 'turnstile'],
          ['invalid', 'air'],
          ['invalid', undefined],
          ['valid', 'turnstile'],
        ]);
        const { values } = await metrics.dropped.get();
        assert.equal(
          values.find((v) => v.labels.stage === 'scan' && v.labels.reason === 'invalid')?.value,
          4,
        );
        // Stored, not only published: the dead letters survive nobody listening.
        const dlq = await (await nc.jetstreamManager()).streams.info('KUZET_SCAN_DLQ');
        assert.equal(dlq.state.messages, 4);
      } finally {
        sub.unsubscribe();
        await consumer.close();
      }
    });
  });

  it('redelivers an event whose handler failed, and dead-letters it after max_deliver attempts', async () => {
    await withServer('retry', async (nc) => {
      const attempts = new Map<string, number>();
      const handled: string[] = [];
      const dead: Msg[] = [];
      const sub = nc.subscribe('kuzet.dlq.>', { callback: (_err, m) => dead.push(m) });
      const consumer = await ScannerConsumer.open(nc, {
        ...fast,
        handle: async (e) => {
          const n = (attempts.get(e.eventId) ?? 0) + 1;
          attempts.set(e.eventId, n);
          if (e.eventId === 'flaky' && n === 1) throw new Error('database busy');
          if (e.eventId === 'poison') throw new Error('boom');
          handled.push(e.eventId);
        },
      });
      try {
        await publish(nc, 'kuzet.scan.panic.s1', { v: 1, eventId: 'flaky', time: t0, ...samples.panic });
        await publish(nc, 'kuzet.scan.panic.s1', { v: 1, eventId: 'poison', time: t0, ...samples.panic });
        await waitFor(
          'the flaky event handled and the poison one dead-lettered',
          () => handled.includes('flaky') && dead.length >= 1,
        );
        assert.equal(attempts.get('flaky'), 2);
        assert.equal(attempts.get('poison'), 5, 'one first delivery and four redeliveries (max_deliver 5)');
        assert.equal(dead[0]!.subject, 'kuzet.dlq.kuzet.scan.panic.s1');
        assert.equal(dead[0]!.headers?.get('kuzet-dlq-reason'), 'handler failed: boom');
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(attempts.get('poison'), 5, 'not delivered again after the dead letter');
      } finally {
        sub.unsubscribe();
        await consumer.close();
      }
    });
  });

  it('resumes after a restart with exactly the unacknowledged events, in order', async () => {
    await withServer('restart', async (nc) => {
      const event = (i: number) => ({ v: 1, eventId: `e${i}`, time: t0 + i, ...samples.turnstile });
      const first: string[] = [];
      let closing: Promise<void> | undefined;
      let consumer: ScannerConsumer | undefined = undefined;
      consumer = await ScannerConsumer.open(nc, {
        ...fast,
        handle: async (e) => {
          first.push(e.eventId);
          // The engine stops right after the 10th event: the other 10 already fetched must go back.
          if (first.length === 10) closing = consumer!.close();
        },
      });
      for (let i = 1; i <= 20; i++) await publish(nc, 'kuzet.scan.turnstile.s1', event(i));
      await waitFor('the first 10 events', () => closing !== undefined);
      await closing;
      assert.deepEqual(
        first,
        Array.from({ length: 10 }, (_, i) => `e${i + 1}`),
      );

      // Published while the engine is down.
      for (let i = 21; i <= 30; i++) await publish(nc, 'kuzet.scan.turnstile.s1', event(i));

      const second: string[] = [];
      const reopened = await ScannerConsumer.open(nc, {
        ...fast,
        handle: async (e) => void second.push(e.eventId),
      });
      try {
        await waitFor('20 events after the restart', () => second.length >= 20);
        await new Promise((r) => setTimeout(r, 500));
        assert.deepEqual(
          second,
          Array.from({ length: 20 }, (_, i) => `e${i + 11}`),
        );
      } finally {
        await reopened.close();
      }
    });
  });

  it('creates the alarm stream on kuzet.alarm.> with 30 days of retention, idempotently', async () => {
    await withServer('alarms', async (nc) => {
      await ensureAlarmStream(nc, 'KUZET_ALARMS', log);
      await ensureAlarmStream(nc, 'KUZET_ALARMS', log);
      const info = await (await nc.jetstreamManager()).streams.info('KUZET_ALARMS');
      assert.deepEqual(info.config.subjects, ['kuzet.alarm.>']);
      assert.equal(info.config.storage, 'file');
      assert.equal(info.config.max_age, 30 * 24 * 3600 * 1e9);
      // What Bus.publishAlarm sends (a core publish) is now stored.
      nc.publish('kuzet.alarm.critical.s1', new Uint8Array([1]));
      await nc.flush();
      const after = await (await nc.jetstreamManager()).streams.info('KUZET_ALARMS');
      assert.equal(after.state.messages, 1);
    });
  });
});
