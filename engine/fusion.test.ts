/**
 * A scripted school day through the whole engine: scanner events on real NATS JetStream, a real RTSP camera
 * counting people into the canteen, the embedded TimescaleDB views, alarms and the dead-letter subject.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { headers as natsHeaders, type NatsConnection } from 'nats';
import postgres from 'postgres';
import { Packr } from 'msgpackr';
import { startFleet, type Fleet } from '../bench/fleet/server.js';
import { decodeMessage } from '../connectors/nats/index.js';
import { localInstant } from '../pipelines/fusion/local-date.js';
import { parseConfig } from './config/load.js';
import { Engine } from './engine.js';
import { createLogger } from './log.js';
import { Metrics } from './metrics.js';
import { repoPath } from './paths.js';
import { waitFor } from './test/helpers.js';

const TZ = 'Asia/Almaty';
const pad = (n: number) => String(n).padStart(2, '0');
const hhmm = (minute: number) => `${pad(Math.floor(minute / 60) % 24)}:${pad(minute % 60)}`;

let fleet: Fleet;
before(async () => {
  fleet = await startFleet({
    port: 0,
    cameras: [{ path: 'canteen', clip: repoPath('bench/fixtures/clips/person-640x424.h264') }],
    log: createLogger('fleet', 'warn'),
  });
});
after(() => fleet.stop());

test('a scripted school day: presence, lateness, canteen reconciliation, panic and air alarms, dead letters', async () => {
  // A JetStream of its own: streams left by other runs must not replay into this day.
  const storeDir = mkdtempSync(join(tmpdir(), 'kuzet-fusion-nats-'));
  const now = Date.now();
  const local = localInstant(now, TZ);
  // Today's local midnight as an instant: the offset of Asia/Almaty is +05:00 all year.
  const midnight = Date.parse(`${local.date}T00:00:00+05:00`);
  const at = (h: number, m: number) => midnight + (h * 60 + m) * 60_000;
  // The meal window is open now, so the camera's count lands in it; the palm scans are stamped now too.
  const yaml = `
city: { id: test, name: Test }
engine:
  metrics: { port: 0 }
  nats: { url: 'nats://127.0.0.1:1', embedded: auto, storeDir: '${storeDir}' }
  database: { embeddedPort: 0, embeddedDataDir: memory, flushIntervalMs: 100 }
  statusLine: false
  fusion: { stream: KUZET_SCAN_TEST, durable: engine-test }
detectors:
  - { id: yolox, type: yolox, model: detectors/yolox/yolox_nano.onnx, labels: detectors/yolox/coco_classes.txt }
pipelines:
  - { id: default, detector: yolox, sampling: { type: keyframes, maxFps: 2 } }
schools:
  - id: s1
    name: School 1
    timeZone: ${TZ}
    shifts: [{ id: morning, start: '08:00', end: '13:00', graceMinutes: 5, classes: [7A, 7B] }]
    mealWindows: [{ id: lunch, from: '${hhmm(local.minute - 30 < 0 ? 0 : local.minute - 30)}', to: '${hhmm(Math.min(local.minute + 30, 1439))}', cameras: [canteen] }]
    cameras:
      - id: canteen
        url: 'rtsp://127.0.0.1:${fleet.port}/canteen'
        room: canteen
        zones: [{ id: canteen-floor, kind: canteen, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]] }]
`;
  const engine = new Engine(parseConfig(yaml, 'fusion.test.yaml'), {
    log: createLogger('engine', 'error'),
    metrics: new Metrics(false),
  });
  await engine.start();
  let nc: NatsConnection | null = null;
  const sql = postgres(engine.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    assert.ok(engine.natsUrl);
    const { connect } = await import('nats');
    nc = await connect({ servers: engine.natsUrl });
    const alarms: Array<{ subject: string; kind: string; severity: string; state: string }> = [];
    const alarmSub = nc.subscribe('kuzet.alarm.>', {
      callback: (_e, m) => {
        const a = decodeMessage<{ kind: string; severity: string; state: string }>(m.data);
        alarms.push({ subject: m.subject, ...a });
      },
    });
    const dead: Array<{ subject: string; reason: string }> = [];
    const dlqSub = nc.subscribe('kuzet.dlq.>', {
      callback: (_e, m) =>
        dead.push({ subject: m.subject, reason: m.headers?.get('kuzet-dlq-reason') ?? '' }),
    });
    // The engine creates the stream when it starts consuming.
    const jsm = await nc.jetstreamManager();
    await waitFor('the scanner stream', 20_000, async () =>
      (await jsm.streams.info('KUZET_SCAN_TEST').catch(() => null)) ? true : undefined,
    );
    const js = nc.jetstream();
    const json = (subject: string, body: object) => {
      const h = natsHeaders();
      h.set('content-type', 'application/json');
      return js.publish(subject, JSON.stringify(body), { headers: h });
    };
    const packr = new Packr({ useRecords: false });
    const msgpack = (subject: string, body: object) => {
      const h = natsHeaders();
      h.set('content-type', 'application/msgpack');
      return js.publish(subject, packr.pack(body), { headers: h });
    };
    const turnstile = (
      id: string,
      person: string,
      role: string,
      cls: string | null,
      direction: string,
      time: number,
    ) =>
      json('kuzet.scan.turnstile.s1', {
        v: 1,
        eventId: id,
        person,
        role,
        class: cls,
        direction,
        gate: 'main',
        time,
      });
    await turnstile('t1', 'staff-1', 'staff', null, 'in', at(7, 30));
    await turnstile('t2', 'pupil-1', 'pupil', '7A', 'in', at(7, 55));
    await turnstile('t3', 'pupil-2', 'pupil', '7A', 'in', at(8, 12));
    await turnstile('t4', 'pupil-3', 'pupil', '7B', 'in', at(7, 58));
    await turnstile('t5', 'pupil-3', 'pupil', '7B', 'out', at(8, 30));
    await turnstile('t2', 'pupil-1', 'pupil', '7A', 'in', at(7, 55)); // a redelivery: stored once
    await msgpack('kuzet.scan.palm.s1', {
      v: 1,
      eventId: 'm1',
      person: 'pupil-1',
      class: '7A',
      mealWindow: 'lunch',
      time: now,
    });
    await msgpack('kuzet.scan.palm.s1', {
      v: 1,
      eventId: 'm2',
      person: 'pupil-2',
      class: '7A',
      mealWindow: 'lunch',
      time: now,
    });
    await json('kuzet.scan.panic.s1', { v: 1, eventId: 'p1', button: 'b-12', room: 'canteen', time: now });
    await json('kuzet.scan.air.s1', {
      v: 1,
      eventId: 'a1',
      sensor: 'air-3',
      room: 'library',
      co2Ppm: 2100,
      pm25: 12,
      temperatureC: 22,
      humidityPct: 40,
      time: now,
    });
    await json('kuzet.scan.turnstile.s1', {
      v: 1,
      eventId: 'bad-1',
      role: 'pupil',
      class: '7A',
      direction: 'in',
      gate: 'main',
      time: now,
    });
    const jsonHeader = natsHeaders();
    jsonHeader.set('content-type', 'application/json');
    await js.publish('kuzet.scan.air.s1', '{ not json at all', { headers: jsonHeader });

    // Presence now: pupil-1 and pupil-2 of 7A in, pupil-3 of 7B left, one staff member in.
    const presence = await waitFor('presence_now', 30_000, async () => {
      const rows = await sql<{ role: string; class: string | null; present: number }[]>`
        select role, class, present::int as present from presence_now where school_id = 's1' order by role, class`.catch(
        () => [], // the migrations may still be running
      );
      return rows.length === 3 && rows.some((r) => r.role === 'staff') ? rows : undefined;
    });
    assert.deepEqual(
      presence.map((r) => ({ ...r })),
      [
        { role: 'pupil', class: '7A', present: 2 },
        { role: 'pupil', class: '7B', present: 0 },
        { role: 'staff', class: null, present: 1 },
      ],
    );
    const late = await waitFor('lateness_daily', 20_000, async () => {
      const rows = await sql<{ person: string; minutes_late: number; late: boolean }[]>`
        select person, minutes_late::int as minutes_late, late from lateness_daily where school_id = 's1' order by person`;
      return rows.length === 3 ? rows : undefined;
    });
    assert.deepEqual(
      late.map((r) => ({ ...r })),
      [
        { person: 'pupil-1', minutes_late: 0, late: false },
        { person: 'pupil-2', minutes_late: 12, late: true },
        { person: 'pupil-3', minutes_late: 0, late: false },
      ],
    );
    const [{ n: stored }] = await sql<{ n: number }[]>`
      select count(*)::int as n from scanner_events where school_id = 's1' and kind = 'turnstile'`;
    assert.equal(stored, 5, 'the redelivered turnstile event is stored once; the invalid one not at all');

    // Canteen: two meals scanned; the camera counts the person entering the canteen zone once.
    const canteen = await waitFor('canteen_reconciliation with a camera count', 60_000, async () => {
      const rows = await sql<{ scanned: number; counted: number; gap: number }[]>`
        select scanned::int as scanned, counted::int as counted, gap::int as gap
        from canteen_reconciliation where school_id = 's1' and window_id = 'lunch'`;
      return rows.length === 1 && rows[0].counted >= 1 ? rows[0] : undefined;
    });
    assert.deepEqual({ ...canteen }, { scanned: 2, counted: 1, gap: 1 });

    // Alarms: the panic button (critical, its room's camera boosted) and the air sensor (CO2 over the limit).
    await waitFor('panic and air alarms', 20_000, () =>
      alarms.some((a) => a.kind === 'panic') && alarms.some((a) => a.kind === 'air-quality')
        ? true
        : undefined,
    );
    const panic = alarms.find((a) => a.kind === 'panic')!;
    assert.deepEqual(
      [panic.subject, panic.severity, panic.state],
      ['kuzet.alarm.critical.s1', 'critical', 'confirmed'],
    );
    const air = alarms.find((a) => a.kind === 'air-quality')!;
    assert.equal(air.subject, 'kuzet.alarm.medium.s1'); // 2100 ppm: over 1500, under twice it
    const stored2 = await waitFor('alarm rows', 20_000, async () => {
      const rows = await sql<
        { kind: string }[]
      >`select distinct kind from alarms where school_id = 's1' and kind in ('panic', 'air-quality')`;
      return rows.length === 2 ? rows : undefined;
    });
    assert.equal(stored2.length, 2);

    // Malformed events: on the dead-letter subjects with their reasons, never handled.
    await waitFor('two dead letters', 20_000, () => (dead.length >= 2 ? true : undefined));
    assert.deepEqual(dead.map((d) => d.subject).sort(), [
      'kuzet.dlq.kuzet.scan.air.s1',
      'kuzet.dlq.kuzet.scan.turnstile.s1',
    ]);
    assert.match(dead.find((d) => d.subject.endsWith('turnstile.s1'))!.reason, /person: required/);
    assert.match(dead.find((d) => d.subject.endsWith('air.s1'))!.reason, /not valid JSON/);
    // Camera health history for Grafana.
    await waitFor('camera_health rows', 20_000, async () => {
      const rows = await sql<
        { state: string }[]
      >`select state from camera_health where school_id = 's1' and camera_id = 'canteen'`;
      return rows.some((r) => r.state === 'online') ? true : undefined;
    });
    const metrics = await engine.metrics.registry.getSingleMetricAsString('kuzet_scan_events_total');
    assert.match(metrics, /kuzet_scan_events_total\{kind="turnstile",outcome="valid"\} 6/);
    alarmSub.unsubscribe();
    dlqSub.unsubscribe();
  } finally {
    await sql.end();
    await nc?.close();
    await engine.stop();
    rmSync(storeDir, { recursive: true, force: true });
  }
});
