import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import sharp from 'sharp';
import WebSocket from 'ws';
import { startFleet, type Fleet } from '../../bench/fleet/server.js';
import { createLogger } from '../../engine/log.js';
import { repoPath } from '../../engine/paths.js';
import type { OperatorAction } from '../../engine/types.js';
import { EvidenceStore } from '../../pipelines/evidence/index.js';
import type { Alarm } from '../../pipelines/analytics/types.js';
import { ensureAlarmStream } from '../nats/scanner-consumer.js';
import { startNatsServer, type LocalNatsServer } from '../nats/server.js';
import { AlarmSocketServer } from './alarm-socket.js';
import { LiveViews } from './live-view.js';

/**
 * The operators' HTTP routes on the alarm server, with the real units behind them: the evidence store
 * rendering a real JPEG, the live-view unit transcoding the project's RTSP fleet with ffmpeg.
 */
const log = createLogger('test', 'error');
const hex = (t: string) => createHash('sha256').update(t).digest('hex');
const BUS_JPEG = readFileSync(repoPath('bench/fixtures/images/bus.jpg'));

let dir: string;
let nats: LocalNatsServer;
let nc: NatsConnection;
let fleet: Fleet;
let evidence: EvidenceStore;
let live: LiveViews;
let gw: AlarmSocketServer;
const actions: OperatorAction[] = [];
const base = () => `http://127.0.0.1:${gw.port}`;
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

function alarm(over: Partial<Alarm> = {}): Alarm {
  return {
    id: '0b6f7f0e-2d4c-4c55-8f43-5b0e2b7a9c11',
    kind: 'intrusion',
    severity: 'high',
    state: 'confirmed',
    schoolId: 's1',
    cameraId: 'cam01',
    zoneId: 'store-room',
    trackIds: [4],
    score: 0.91,
    cues: {},
    frames: 3,
    openedAt: 1_760_000_000_000,
    updatedAt: 1_760_000_000_500,
    confirmedAt: 1_760_000_000_500,
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: null,
    evidence: { seq: 7, box: { x1: 100, y1: 200, x2: 300, y2: 600 } },
    ...over,
  };
}

describe('operator HTTP routes', { timeout: 120_000 }, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kuzet-routes-'));
    nats = await startNatsServer({ storeDir: join(dir, 'nats') });
    nc = await connect({ servers: nats.url });
    await ensureAlarmStream(nc, 'KUZET_ALARMS', log);
    fleet = await startFleet({
      port: 0,
      cameras: ['cam01', 'cam02'].map((path) => ({
        path,
        clip: repoPath('bench/fixtures/clips/person-640x424.h264'),
      })),
      log,
    });
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Kuzet console</title>');
    evidence = new EvidenceStore({ dir: join(dir, 'evidence'), log, sweepIntervalMs: 0 });
    live = new LiveViews({ maxStreams: 1, idleStopMs: 500, log });
    const rtsp = (camera: string) => `rtsp://127.0.0.1:${fleet.port}/${camera}`;
    gw = await AlarmSocketServer.start({
      port: 0,
      nc,
      tokens: [
        { name: 'desk-1', sha256: hex('police-secret'), role: 'police' },
        { name: 'admin-s2', sha256: hex('admin-s2-secret'), role: 'school-admin', schools: ['s2'] },
      ],
      log,
      evidence,
      liveViews: live,
      camera: (school, camera) =>
        school === 's1' ? { room: 'Store room', rtspUrl: camera === 'snap' ? null : rtsp(camera) } : null,
      consoleDir: dir,
      consoleVendor: { 'clip.js': join(dir, 'index.html') },
      audit: (a) => actions.push(a),
    });
  });
  after(async () => {
    await gw?.close();
    await live?.close();
    await evidence?.close();
    await fleet?.stop();
    await nc?.drain();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the console with its security headers, redirects / to it, and 404s the rest', async () => {
    const root = await fetch(`${base()}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/console/');
    const page = await fetch(`${base()}/console/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await page.text(), /Kuzet console/);
    const vendor = await fetch(`${base()}/console/vendor/clip.js`);
    assert.equal(vendor.status, 200);
    assert.match(vendor.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal((await fetch(`${base()}/console/../../etc/passwd`)).status, 404);
    assert.equal((await fetch(`${base()}/console/nope.js`)).status, 404);
  });

  it('serves evidence JPEGs to in-scope tokens only, and audits each view', async () => {
    const a = alarm();
    evidence.remember({
      schoolId: 's1',
      cameraId: 'cam01',
      codec: 'jpeg',
      captureTimeMs: a.updatedAt,
      seq: 7,
      data: new Uint8Array(BUS_JPEG),
    });
    assert.equal(await evidence.render(a), true);
    const url = `${base()}/evidence/s1/cam01/${a.id}.jpg`;
    const none = await fetch(url);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await fetch(url, { headers: bearer('wrong') })).status, 401);
    const outside = await fetch(url, { headers: bearer('admin-s2-secret') });
    assert.equal(outside.status, 403);
    assert.deepEqual(await outside.json(), { error: 'school s1 is outside your scope' });
    const other = `${base()}/evidence/s1/cam01/1c9d6a2e-0000-4000-8000-000000000000.jpg`;
    assert.equal((await fetch(other, { headers: bearer('police-secret') })).status, 404);
    assert.equal(
      (await fetch(`${base()}/evidence/s1/cam01/x.png`, { headers: bearer('police-secret') })).status,
      400,
    );
    const before = actions.length;
    const ok = await fetch(url, { headers: bearer('police-secret') });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'image/jpeg');
    const meta = await sharp(Buffer.from(await ok.arrayBuffer())).metadata();
    const source = await sharp(BUS_JPEG).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', source.width, source.height]);
    assert.deepEqual(
      actions.slice(before).map((x) => [x.action, x.actor, x.role, x.alarmId, x.schoolId, x.cameraId]),
      [['view-evidence', 'desk-1', 'police', a.id, 's1', 'cam01']],
    );
  });

  it('grants single-use live-view tickets, streams MPEG-TS, audits start and stop, and enforces the cap', async () => {
    const post = (path: string, token?: string) =>
      fetch(`${base()}${path}`, { method: 'POST', headers: token ? bearer(token) : {} });
    assert.equal((await post('/live/s1/cam01')).status, 401);
    assert.equal((await post('/live/s1/cam01', 'admin-s2-secret')).status, 403);
    assert.equal((await post('/live/s1/snap', 'police-secret')).status, 404);
    const alarmId = alarm().id;
    const granted = await post(`/live/s1/cam01?alarm=${alarmId}`, 'police-secret');
    assert.equal(granted.status, 200);
    const { ws: path } = (await granted.json()) as { ws: string };
    assert.match(path, /^\/live\/ws\/\S+$/);
    // One stream at most: another camera is refused while cam01 runs.
    const capped = await post('/live/s1/cam02', 'police-secret');
    assert.equal(capped.status, 429);

    const before = actions.length;
    const viewer = new WebSocket(`ws://127.0.0.1:${gw.port}${path}`);
    const bytes: Buffer[] = [];
    viewer.on('message', (d: Buffer) => bytes.push(d));
    const deadline = Date.now() + 20_000;
    while (Buffer.concat(bytes).length < 188 * 4 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const ts = Buffer.concat(bytes);
    assert.ok(ts.length >= 188 * 4, `MPEG-TS bytes arrived (${ts.length})`);
    assert.equal(ts[0], 0x47, 'MPEG-TS sync byte');
    assert.equal(ts[188], 0x47, 'next packet aligned');
    viewer.close();
    await new Promise((r) => viewer.once('close', r));
    const again = new WebSocket(`ws://127.0.0.1:${gw.port}${path}`);
    const reused = await new Promise<number>((r) => again.once('close', (code) => r(code)));
    assert.equal(reused, 4404, 'a ticket works once');
    const deadline2 = Date.now() + 5000;
    while (actions.slice(before).length < 2 && Date.now() < deadline2)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      actions.slice(before).map((x) => [x.action, x.actor, x.alarmId, x.cameraId]),
      [
        ['live-start', 'desk-1', alarmId, 'cam01'],
        ['live-stop', 'desk-1', alarmId, 'cam01'],
      ],
    );
    // The stream stops when nobody watches, which frees the slot for another camera.
    const deadline3 = Date.now() + 10_000;
    while (live.streams() > 0 && Date.now() < deadline3) await new Promise((r) => setTimeout(r, 50));
    assert.equal(live.streams(), 0);
    assert.equal((await post('/live/s1/cam02', 'police-secret')).status, 200);
  });
});
