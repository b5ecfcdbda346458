/**
 * The engine goes down while scanner events keep coming (NATS runs on its own, as in production): when it
 * comes back it processes exactly what it had not acknowledged, and the database holds every event once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from 'nats';
import postgres from 'postgres';
import { startNatsServer } from '../connectors/nats/server.js';
import { parseConfig } from './config/load.js';
import { Engine } from './engine.js';
import { createLogger } from './log.js';
import { Metrics } from './metrics.js';
import { waitFor } from './test/helpers.js';

test('restarting the engine mid-stream: JetStream replays what it had not acknowledged, stored once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kuzet-restart-'));
  const nats = await startNatsServer({ storeDir: join(dir, 'nats') });
  const yaml = `
city: { id: t, name: T }
engine:
  metrics: { port: 0 }
  nats: { url: '${nats.url}', embedded: never }
  database: { embeddedPort: 0, embeddedDataDir: '${join(dir, 'pgdata')}', spoolDir: '${join(dir, 'spool')}', flushIntervalMs: 100 }
  statusLine: false
detectors: [{ id: y, type: yolox, model: detectors/yolox/yolox_nano.onnx, labels: detectors/yolox/coco_classes.txt }]
pipelines: [{ id: default, detector: y }]
schools: [{ id: s1, name: S, timeZone: Asia/Almaty }]
`;
  const cfg = parseConfig(yaml, 'restart.test.yaml');
  const nc = await connect({ servers: nats.url });
  const js = nc.jetstream();
  const send = (i: number) =>
    js.publish(
      'kuzet.scan.air.s1',
      JSON.stringify({
        v: 1,
        eventId: `e${i}`,
        sensor: 'a1',
        room: 'r1',
        co2Ppm: 600,
        pm25: 5,
        temperatureC: 21,
        humidityPct: 40,
        time: Date.now(),
      }),
    );
  const count = async (url: string) => {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const [{ n }] = await sql<
        { n: number }[]
      >`select count(distinct event_id)::int as n from scanner_events`.catch(() => [{ n: -1 }]);
      const [{ rows }] = await sql<
        { rows: number }[]
      >`select count(*)::int as rows from scanner_events`.catch(() => [{ rows: -1 }]);
      return { n, rows };
    } finally {
      await sql.end();
    }
  };
  const log = createLogger('engine', 'error');
  try {
    let engine = new Engine(cfg, { log, metrics: new Metrics(false) });
    await engine.start();
    await waitFor('the scanner stream', 20_000, async () =>
      (await (await nc.jetstreamManager()).streams.find('kuzet.scan.>').catch(() => null)) ? true : undefined,
    );
    for (let i = 1; i <= 10; i++) await send(i);
    await waitFor('the first ten stored', 30_000, async () =>
      (await count(engine.databaseUrl)).n === 10 ? true : undefined,
    );
    await engine.stop();

    // Down for a while: ten more arrive and wait in JetStream.
    for (let i = 11; i <= 20; i++) await send(i);

    engine = new Engine(cfg, { log, metrics: new Metrics(false) });
    await engine.start();
    try {
      const after = await waitFor('all twenty stored', 60_000, async () => {
        const c = await count(engine.databaseUrl);
        return c.n === 20 ? c : undefined;
      });
      assert.deepEqual(after, { n: 20, rows: 20 });
      // Only the unacknowledged ten were handed to the new engine.
      const metrics = await engine.metrics.registry.getSingleMetricAsString('kuzet_scan_events_total');
      assert.match(metrics, /kuzet_scan_events_total\{kind="air",outcome="valid"\} 10\b/);
    } finally {
      await engine.stop();
    }
  } finally {
    await nc.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
