import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { startFleet, type Fleet } from '../bench/fleet/server.js';
import { decodeMessage, type DetectionMessage } from '../connectors/nats/index.js';
import { parseConfig } from './config/load.js';
import { Engine } from './engine.js';
import { createLogger, setLogSink } from './log.js';
import { Metrics } from './metrics.js';
import { repoPath } from './paths.js';
import { matchesAll, referencePersons, waitFor } from './test/helpers.js';

const detectorYaml = `
detectors:
  - { id: yolox-nano, type: yolox, model: detectors/yolox/yolox_nano.onnx, labels: detectors/yolox/coco_classes.txt }
pipelines:
  - { id: default, detector: yolox-nano, sampling: { type: keyframes, maxFps: 2 } }`;

/** JetStream storage of this file's engines: its own, so the alarm stream holds only this run's alarms. */
const natsStoreDir = mkdtempSync(join(tmpdir(), 'kuzet-engine-nats-'));
after(() => rmSync(natsStoreDir, { recursive: true, force: true }));

function engineYaml(opts: { cameras: Array<{ id: string; url: string }>; databaseUrl?: string }): string {
  return `
city: { id: test-city, name: Test City }
engine:
  metrics: { port: 0 }
  nats: { url: 'nats://127.0.0.1:1', embedded: auto, storeDir: '${natsStoreDir}' }
  database: { url: '${opts.databaseUrl ?? ''}', embeddedPort: 0, embeddedDataDir: memory }
  statusLine: false
  camera: { reconnectInitialMs: 500, reconnectMaxMs: 2000 }
${detectorYaml}
schools:
  - id: s1
    name: Test school
    cameras:
${opts.cameras.map((c) => `      - { id: ${c.id}, url: '${c.url}' }`).join('\n')}
`;
}

describe('engine end to end: RTSP → decode → YOLOX → NATS + TimescaleDB', () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startFleet({
      port: 0,
      cameras: [
        { path: 'person', clip: repoPath('bench/fixtures/clips/person-640x424.h264') },
        { path: 'bus', clip: repoPath('bench/fixtures/clips/bus-810x1080.h264') },
      ],
      log: createLogger('fleet', 'warn'),
    });
  });
  after(() => fleet.stop());

  it('publishes and stores person boxes that match the reference detections (IoU ≥ 0.5)', async () => {
    const url = (p: string) => `rtsp://127.0.0.1:${fleet.port}/${p}`;
    const cfg = parseConfig(
      engineYaml({
        cameras: [
          { id: 'cam-person', url: url('person') },
          { id: 'cam-bus', url: url('bus') },
        ],
      }),
      'engine.test.yaml',
    );
    const engine = new Engine(cfg, { log: createLogger('engine', 'warn'), metrics: new Metrics(false) });
    await engine.start();
    try {
      assert.ok(engine.natsUrl, 'engine has a NATS connection');
      const { connect } = await import('nats');
      const nc = await connect({ servers: engine.natsUrl });
      const seen = { 'cam-person': false, 'cam-bus': false };
      const sub = nc.subscribe('kuzet.det.s1.>');
      const natsOk = (async () => {
        for await (const m of sub) {
          const msg = decodeMessage<DetectionMessage>(m.data);
          const boxes = msg.detections.filter((d) => d.class === 'person').map((d) => d.box);
          if (msg.camera === 'cam-person' && m.subject === 'kuzet.det.s1.cam-person') {
            assert.equal(msg.width, 640);
            assert.equal(msg.height, 424);
            if (matchesAll(referencePersons.person, boxes)) seen['cam-person'] = true;
          }
          if (msg.camera === 'cam-bus' && matchesAll(referencePersons.bus, boxes)) seen['cam-bus'] = true;
          if (seen['cam-person'] && seen['cam-bus']) return true;
        }
        return false;
      })();
      const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), 60_000).unref());
      assert.equal(
        await Promise.race([natsOk, timeout]),
        true,
        `matching detections on NATS: ${JSON.stringify(seen)}`,
      );
      sub.unsubscribe();
      await nc.close();

      // A second client on the embedded database while the engine writes (the multiplexer's job).
      const sql = postgres(engine.databaseUrl, { max: 1, onnotice: () => {} });
      try {
        for (const [camera, refs] of [
          ['cam-person', referencePersons.person],
          ['cam-bus', referencePersons.bus],
        ] as const) {
          await waitFor(`person rows of ${camera} in detections`, 20_000, async () => {
            const rows = await sql<{ frame_seq: string; box: number[] }[]>`
              select frame_seq, box from detections where camera_id = ${camera} and class = 'person'`;
            const byFrame = new Map<string, number[][]>();
            for (const r of rows)
              byFrame.set(r.frame_seq, [...(byFrame.get(r.frame_seq) ?? []), r.box.map(Number)]);
            return [...byFrame.values()].some((boxes) => matchesAll(refs, boxes)) ? true : undefined;
          });
        }
        const [{ hyper }] = await sql<{ hyper: boolean }[]>`
          select exists(select 1 from timescaledb_information.hypertables where hypertable_name = 'detections') as hyper`;
        assert.equal(hyper, true, 'detections is a hypertable');
      } finally {
        await sql.end();
      }
      const metrics = await engine.metrics.registry.getSingleMetricAsString('kuzet_detections_total');
      assert.match(metrics, /kuzet_detections_total\{class="person"\} [1-9]/);
    } finally {
      await engine.stop();
    }
  });

  it('a person in a restricted zone: tracked detections, an intrusion alarm on kuzet.alarm.high.s1 and in the alarms table', async () => {
    const url = `rtsp://127.0.0.1:${fleet.port}/person`;
    // The reference person stands with their feet at about (0.36, 0.88) of the picture.
    const yaml = engineYaml({ cameras: [] })
      .replace(
        'sampling: { type: keyframes, maxFps: 2 } }',
        'sampling: { type: keyframes, maxFps: 2 }, analytics: { intrusion: { dwellMs: 500 } } }',
      )
      .replace(
        'cameras:\n',
        `cameras:\n      - id: cam-person\n        url: '${url}'\n        zones: [{ id: store-room, kind: restricted, polygon: [[0.2, 0.7], [0.5, 0.7], [0.5, 1.0], [0.2, 1.0]] }]\n`,
      );
    // A police operator's token for the alarm websocket (stored hashed in the config).
    const token = 'test-police-token';
    const evidenceDir = mkdtempSync(join(tmpdir(), 'kuzet-evidence-'));
    const sha256 = createHash('sha256').update(token).digest('hex');
    const cfg = parseConfig(
      yaml.replace(
        '  statusLine: false',
        `  statusLine: false\n  http: { port: 0, tokens: [{ name: desk-1, sha256: ${sha256}, role: police }], evidence: { dir: '${evidenceDir}' } }`,
      ),
      'engine.test.yaml',
    );
    const engine = new Engine(cfg, { log: createLogger('engine', 'error'), metrics: new Metrics(false) });
    await engine.start();
    try {
      assert.ok(engine.natsUrl, 'engine has a NATS connection');
      // The operator's console: every alarm from the start of the stream, over the websocket.
      assert.ok(engine.alarmSocketPort > 0, 'alarm websocket listening');
      const { WebSocket } = await import('ws');
      const socket = new WebSocket(`ws://127.0.0.1:${engine.alarmSocketPort}/alarms`, {
        headers: { authorization: `Bearer ${token}` },
      });
      type SocketAlarm = { id: string; kind: string; state: string; links: { evidence: string } };
      const socketMessages: Array<{ type: string; alarm?: SocketAlarm; alarmId?: string }> = [];
      socket.on('message', (raw) => {
        const m = JSON.parse(String(raw)) as { type: string; alarm?: SocketAlarm };
        socketMessages.push(m);
        if (m.type === 'ready')
          socket.send(JSON.stringify({ type: 'subscribe', filters: {}, resumeAfter: 0 }));
      });
      /** The alarm's change to `state` as the websocket delivered it (the stream may hold older runs' alarms). */
      const onSocket = (id: string, state: string) =>
        waitFor(
          `alarm ${id} ${state} on the websocket`,
          10_000,
          async () =>
            socketMessages.find((m) => m.type === 'alarm' && m.alarm?.id === id && m.alarm.state === state)
              ?.alarm,
        );
      const { connect } = await import('nats');
      const nc = await connect({ servers: engine.natsUrl });
      const alarms = nc.subscribe('kuzet.alarm.>');
      const dets = nc.subscribe('kuzet.det.s1.cam-person');
      const tracked = (async () => {
        for await (const m of dets) {
          const msg = decodeMessage<DetectionMessage>(m.data);
          if (msg.detections.some((d) => d.class === 'person' && d.track !== null)) return true;
        }
        return false;
      })();
      let alarm: Record<string, unknown> | null = null;
      let subject = '';
      for await (const m of alarms) {
        const msg = decodeMessage<Record<string, unknown>>(m.data);
        if (msg.kind === 'intrusion' && msg.state === 'confirmed') {
          alarm = msg;
          subject = m.subject;
          break;
        }
      }
      assert.equal(subject, 'kuzet.alarm.high.s1');
      assert.equal(alarm!.zone, 'store-room');
      assert.equal(alarm!.camera, 'cam-person');
      assert.equal(await tracked, true, 'published detections carry track ids');
      dets.unsubscribe();
      await nc.close();
      const sql = postgres(engine.databaseUrl, { max: 1, onnotice: () => {} });
      try {
        const row = await waitFor('the alarm row', 20_000, async () => {
          const rows = await sql<{ kind: string; state: string; zone_id: string }[]>`
            select kind, state, zone_id from alarms where alarm_id = ${String(alarm!.id)}`;
          return rows.length ? rows[0] : undefined;
        });
        assert.deepEqual({ ...row }, { kind: 'intrusion', state: 'confirmed', zone_id: 'store-room' });
      } finally {
        await sql.end();
      }
      const metrics = await engine.metrics.registry.getSingleMetricAsString('kuzet_alarms_total');
      assert.match(metrics, /kuzet_alarms_total\{kind="intrusion",severity="high",state="confirmed"\} 1/);
      const viaSocket = await onSocket(String(alarm!.id), 'confirmed');
      assert.deepEqual([viaSocket.kind, viaSocket.state], ['intrusion', 'confirmed']);
      // Frame time → written to the operator's socket is measured (its size is the bench's business).
      const delay = await engine.metrics.registry.getSingleMetricAsString('kuzet_alarm_fanout_delay_seconds');
      assert.match(delay, /kuzet_alarm_fanout_delay_seconds_count [1-9]/);

      // The evidence: the alarm's frame at camera resolution, to the operator's token only.
      const evidenceUrl = `http://127.0.0.1:${engine.alarmSocketPort}${viaSocket.links.evidence}`;
      assert.equal((await fetch(evidenceUrl)).status, 401);
      const jpeg = await waitFor('the evidence JPEG', 10_000, async () => {
        const r = await fetch(evidenceUrl, { headers: { authorization: `Bearer ${token}` } });
        return r.status === 200 ? Buffer.from(await r.arrayBuffer()) : undefined;
      });
      const { default: sharp } = await import('sharp');
      const meta = await sharp(jpeg).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 640, 424]);

      // The operator takes it: the state machine, the feed, the alarms table and the audit trail agree.
      socket.send(JSON.stringify({ type: 'acknowledge', alarmId: viaSocket.id, comment: 'Patrol 7 sent' }));
      await onSocket(viaSocket.id, 'acknowledged');
      assert.ok(socketMessages.some((m) => m.type === 'acknowledged' && m.alarmId === viaSocket.id));
      const audit = postgres(engine.databaseUrl, { max: 1, onnotice: () => {} });
      try {
        const rows = await waitFor('the acknowledge row in alarm_actions', 20_000, async () => {
          const r = await audit<{ action: string; actor: string; role: string; comment: string | null }[]>`
            select action, actor, role, comment from alarm_actions where alarm_id = ${viaSocket.id} order by time`;
          return r.some((x) => x.action === 'acknowledge') ? r : undefined;
        });
        assert.deepEqual(
          rows.map((r) => ({ ...r })),
          [
            { action: 'view-evidence', actor: 'desk-1', role: 'police', comment: null },
            { action: 'acknowledge', actor: 'desk-1', role: 'police', comment: 'Patrol 7 sent' },
          ],
        );
        const acked = await waitFor('the acknowledged row in alarms', 20_000, async () => {
          const r = await audit<{ acknowledged_by: string }[]>`
            select acknowledged_by from alarms where alarm_id = ${viaSocket.id} and state = 'acknowledged'`;
          return r[0];
        });
        assert.equal(acked.acknowledged_by, 'desk-1');
      } finally {
        await audit.end();
      }
      socket.close();
    } finally {
      await engine.stop();
      rmSync(evidenceDir, { recursive: true, force: true });
    }
  });

  it('keeps running the cameras it can when a camera and the database are unreachable', async () => {
    const lines: string[] = [];
    const prev = setLogSink((l) => lines.push(l));
    const cfg = parseConfig(
      engineYaml({
        cameras: [
          { id: 'cam-dead', url: 'rtsp://127.0.0.1:1/nothing' },
          { id: 'cam-person', url: `rtsp://127.0.0.1:${fleet.port}/person` },
        ],
        databaseUrl: 'postgres://postgres@127.0.0.1:1/kuzet',
      }),
      'engine.test.yaml',
    );
    const engine = new Engine(cfg, { log: createLogger('engine', 'info'), metrics: new Metrics(false) });
    try {
      await engine.start();
      await waitFor('detections from the live camera', 60_000, async () => {
        const m = await engine.metrics.registry.getSingleMetricAsString('kuzet_frames_inferred_total');
        return /kuzet_frames_inferred_total\{school="s1"\} [1-9]/.test(m) ? true : undefined;
      });
      await new Promise((r) => setTimeout(r, 2500)); // let the background retries happen
    } finally {
      await engine.stop();
      setLogSink(prev);
    }
    const parsed = lines.map(
      (l) => JSON.parse(l) as { level: string; msg: string; camera?: string; url?: string },
    );
    const dbDown = parsed.filter((l) => l.msg === 'Database unreachable; retrying in the background');
    assert.equal(dbDown.length, 1, 'one clear line for the dead database, not one per retry');
    assert.equal(dbDown[0]!.level, 'error');
    assert.match(dbDown[0]!.url ?? '', /127\.0\.0\.1:1/);
    const camDown = parsed.filter((l) => l.msg === 'Camera offline' && l.camera === 'cam-dead');
    assert.ok(camDown.length >= 1, 'the dead camera is reported offline');
    assert.equal(camDown.length, 1, 'one line for the dead camera, not one per retry');
  });

  it('analyses HTTP snapshot cameras and applies sampling boosts requested on NATS', async () => {
    const jpeg = readFileSync(repoPath('bench/fixtures/images/person.jpg'));
    let requests = 0;
    const http = createServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length });
      res.end(jpeg);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const port = (http.address() as { port: number }).port;
    const cfg = parseConfig(
      engineYaml({
        cameras: [
          { id: 'snap', url: `http://127.0.0.1:${port}/snapshot.jpg` },
          { id: 'cam-person', url: `rtsp://127.0.0.1:${fleet.port}/person` },
        ],
      }),
      'engine.test.yaml',
    );
    const engine = new Engine(cfg, { log: createLogger('engine', 'warn'), metrics: new Metrics(false) });
    await engine.start();
    try {
      const { connect, JSONCodec } = await import('nats');
      const nc = await connect({ servers: engine.natsUrl! });
      const sub = nc.subscribe('kuzet.det.s1.snap');
      let matched = false;
      for await (const m of sub) {
        const msg = decodeMessage<DetectionMessage>(m.data);
        const boxes = msg.detections.filter((d) => d.class === 'person').map((d) => d.box);
        if (msg.width === 640 && matchesAll(referencePersons.person, boxes)) {
          matched = true;
          break;
        }
      }
      assert.equal(matched, true);
      assert.ok(requests >= 1);
      const jc = JSONCodec<{ ok: boolean; cameras?: number; error?: string }>();
      const ok = jc.decode(
        (await nc.request('kuzet.ctl.boost.s1.*', new TextEncoder().encode('{"secs":10}'), { timeout: 5000 }))
          .data,
      );
      assert.equal(ok.ok, false, 'unknown fields are refused');
      const applied = jc.decode(
        (
          await nc.request('kuzet.ctl.boost.s1.*', new TextEncoder().encode('{"fps":5,"seconds":10}'), {
            timeout: 5000,
          })
        ).data,
      );
      assert.deepEqual(applied, { ok: true, cameras: 2 });
      const none = jc.decode(
        (await nc.request('kuzet.ctl.boost.s1.nope', new Uint8Array(), { timeout: 5000 })).data,
      );
      assert.equal(none.ok, false);
      await nc.close();
    } finally {
      await engine.stop();
      await new Promise<void>((r) => http.close(() => r()));
    }
  });
});
