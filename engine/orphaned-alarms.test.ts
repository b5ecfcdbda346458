/**
 * An engine stops while an alarm is live: the next run resolves it (`cues.resolvedBy: engine-restart`) on the
 * alarm stream and in the alarms table, so operators' consoles do not show it as live forever.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, DeliverPolicy } from 'nats';
import postgres from 'postgres';
import { decodeMessage, type AlarmMessage } from '../connectors/nats/bus.js';
import { startNatsServer } from '../connectors/nats/server.js';
import { parseConfig } from './config/load.js';
import { Engine } from './engine.js';
import { createLogger } from './log.js';
import { Metrics } from './metrics.js';
import { waitFor } from './test/helpers.js';

test('alarms left live by a stopped engine are resolved by the next run, on the stream and in the table', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kuzet-orphans-'));
  const nats = await startNatsServer({ storeDir: join(dir, 'nats') });
  const cfg = parseConfig(
    `
city: { id: t, name: T }
engine:
  metrics: { port: 0 }
  nats: { url: '${nats.url}', embedded: never }
  database: { embeddedPort: 0, embeddedDataDir: '${join(dir, 'pgdata')}', spoolDir: '${join(dir, 'spool')}', flushIntervalMs: 100 }
  http: { port: 0, evidence: { dir: '${join(dir, 'evidence')}' } }
  statusLine: false
detectors: [{ id: y, type: yolox, model: detectors/yolox/yolox_nano.onnx, labels: detectors/yolox/coco_classes.txt }]
pipelines: [{ id: default, detector: y }]
schools: [{ id: s1, name: S, timeZone: Asia/Almaty }]
`,
    'orphans.test.yaml',
  );
  const nc = await connect({ servers: nats.url });
  const log = createLogger('engine', 'error');
  try {
    // Run 1: a panic button opens a critical alarm; the engine stops with it live.
    const first = new Engine(cfg, { log, metrics: new Metrics(false) });
    await first.start();
    let url: string;
    let alarmId: string;
    try {
      url = first.databaseUrl;
      await nc
        .jetstream()
        .publish(
          'kuzet.scan.panic.s1',
          JSON.stringify({ v: 1, eventId: 'p1', button: 'b1', room: 'Gym', time: Date.now() }),
        );
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        alarmId = await waitFor('the panic alarm in the alarms table', 30_000, async () => {
          const rows = await sql<{ alarm_id: string }[]>`
            select alarm_id from alarms where kind = 'panic'`.catch(() => []);
          return rows[0]?.alarm_id;
        });
      } finally {
        await sql.end();
      }
    } finally {
      await first.stop();
    }

    // Run 2 on the same database and stream.
    const second = new Engine(cfg, { log, metrics: new Metrics(false) });
    await second.start();
    try {
      const sql = postgres(second.databaseUrl, { max: 1, onnotice: () => {} });
      try {
        const row = await waitFor('the resolved row', 30_000, async () => {
          const rows = await sql<{ state: string; resolved_by: string }[]>`
            select state, cues->>'resolvedBy' as resolved_by from alarms_current where alarm_id = ${alarmId}`;
          return rows[0]?.state === 'resolved' ? rows[0] : undefined;
        });
        assert.equal(row.resolved_by, 'engine-restart');
      } finally {
        await sql.end();
      }
      const consumer = await nc.jetstream().consumers.get('KUZET_ALARMS', {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: 1,
      });
      const states: string[] = [];
      for (;;) {
        const m = await consumer.next({ expires: 2000 });
        if (!m) break;
        const a = decodeMessage<AlarmMessage>(m.data);
        if (a.id === alarmId)
          states.push(`${a.state}${a.cues.resolvedBy ? `:${String(a.cues.resolvedBy)}` : ''}`);
      }
      assert.deepEqual(states, ['confirmed', 'resolved:engine-restart']);
    } finally {
      await second.stop();
    }
  } finally {
    await nc.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
