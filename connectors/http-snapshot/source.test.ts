import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../engine/log.js';
import { repoPath } from '../../engine/paths.js';
import {
  HttpSnapshotSource,
  type HttpSnapshotSourceConfig,
  type JpegSample,
  type SnapshotCameraStatus,
} from './source.js';

const jpeg = readFileSync(repoPath('bench/fixtures/images/person.jpg'));
const USER = 'admin';
const PASS = 'pä ss:1';
const REALM = 'IP Camera';
const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');
const log = createLogger('test', 'error');

function params(h: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of h.matchAll(/([a-z]+)=(?:"([^"]*)"|([^,\s]*))/gi))
    out.set(m[1]!.toLowerCase(), m[2] ?? m[3] ?? '');
  return out;
}

/** A camera-like HTTP server: /basic, /digest (RFC 2617, qop=auth), /open, /500, /html, /notjpeg, /hang. */
function startCamera(): Promise<{ server: http.Server; base: string; hits: Map<string, number> }> {
  const nonce = randomBytes(8).toString('hex');
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const send = () => {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length });
      res.end(jpeg);
    };
    const auth = req.headers.authorization ?? '';
    switch (path) {
      case '/open/snap.jpg':
        return send();
      case '/basic/snap.jpg':
        if (auth === 'Basic ' + Buffer.from(`${USER}:${PASS}`).toString('base64')) return send();
        res.writeHead(401, { 'www-authenticate': `Basic realm="${REALM}"` });
        return res.end('denied');
      case '/digest/snap.jpg': {
        const p = params(auth);
        if (auth.startsWith('Digest ') && p.get('nonce') === nonce && p.get('qop') === 'auth') {
          const ha1 = md5(`${p.get('username')}:${REALM}:${PASS}`);
          const ha2 = md5(`GET:${p.get('uri')}`);
          const expect = md5(`${ha1}:${nonce}:${p.get('nc')}:${p.get('cnonce')}:auth:${ha2}`);
          if (p.get('username') === USER && p.get('uri') === req.url && p.get('response') === expect)
            return send();
        }
        res.writeHead(401, [
          ['WWW-Authenticate', `Digest realm="${REALM}", qop="auth", nonce="${nonce}", opaque="x"`],
          ['WWW-Authenticate', `Basic realm="${REALM}"`],
        ]);
        return res.end();
      }
      case '/500/snap.jpg':
        res.writeHead(500, { 'content-type': 'text/plain' });
        return res.end('boom');
      case '/html/snap.jpg':
        res.writeHead(200, { 'content-type': 'text/html' });
        return res.end('<html>login</html>');
      case '/notjpeg/snap.jpg':
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        return res.end(Buffer.from('GIF89a....'));
      case '/hang/snap.jpg':
        return; // never answers
      default:
        res.writeHead(404);
        res.end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits }),
    ),
  );
}

/** Runs a source until `until` says so (or the deadline), then stops it. */
async function runSource(
  cfg: Partial<HttpSnapshotSourceConfig> & { url: string },
  until: (jpegs: JpegSample[], statuses: SnapshotCameraStatus[]) => boolean,
  deadlineMs = 5000,
): Promise<{ jpegs: JpegSample[]; statuses: SnapshotCameraStatus[]; src: HttpSnapshotSource }> {
  const jpegs: JpegSample[] = [];
  const statuses: SnapshotCameraStatus[] = [];
  const src = new HttpSnapshotSource({
    schoolId: 's1',
    cameraId: 'c1',
    everySeconds: 0.05,
    log,
    reconnect: { initialMs: 20, maxMs: 50, authFailedMs: 50 },
    onJpeg: (j) => jpegs.push(j),
    onStatus: (s) => statuses.push(s),
    ...cfg,
  });
  src.start();
  const t0 = Date.now();
  while (!until(jpegs, statuses) && Date.now() - t0 < deadlineMs) await new Promise((r) => setTimeout(r, 10));
  await src.stop();
  return { jpegs, statuses, src };
}

const offlineReasons = (st: SnapshotCameraStatus[]) =>
  st.flatMap((s) => (s.type === 'camera-offline' ? [s.reason] : []));

describe('HttpSnapshotSource', () => {
  let cam: Awaited<ReturnType<typeof startCamera>>;
  before(async () => {
    cam = await startCamera();
  });
  after(
    () =>
      new Promise<void>((r) => {
        cam.server.closeAllConnections();
        cam.server.close(() => r());
      }),
  );

  it('polls an open camera at the interval and emits JPEGs with increasing seq', async () => {
    const { jpegs, statuses, src } = await runSource(
      { url: `${cam.base}/open/snap.jpg` },
      (j) => j.length >= 4,
    );
    assert.ok(jpegs.length >= 4);
    assert.deepEqual(Buffer.from(jpegs[0]!.data), jpeg);
    assert.equal(jpegs[0]!.data.byteOffset, 0, 'own ArrayBuffer, transferable');
    assert.equal(jpegs[0]!.data.buffer.byteLength, jpeg.length);
    assert.deepEqual(jpegs.map((j) => j.seq).slice(0, 4), [0, 1, 2, 3]);
    assert.equal(jpegs[0]!.schoolId, 's1');
    assert.deepEqual(
      statuses.map((s) => s.type),
      ['camera-connecting', 'camera-online', 'camera-offline'],
    );
    assert.equal(offlineReasons(statuses)[0], 'stopped');
    const online = statuses[1]!;
    assert.ok(online.type === 'camera-online' && online.codec === 'jpeg');
    assert.equal(src.counters.sampled, jpegs.length);
    assert.ok(src.counters.bytes >= jpeg.length * jpegs.length);
    // Fixed-rate marks: a slow first response shortens one gap, never adds images.
    const span = jpegs.at(-1)!.captureTimeMs - jpegs[0]!.captureTimeMs;
    assert.ok(
      span >= (jpegs.length - 2) * 50,
      `polls follow the 50 ms interval (${jpegs.length} images in ${span} ms)`,
    );
  });

  it('answers Basic auth with credentials from the URL', async () => {
    const url = `http://${USER}:${encodeURIComponent(PASS)}@${cam.base.slice(7)}/basic/snap.jpg`;
    const { jpegs, statuses } = await runSource({ url }, (j) => j.length >= 2);
    assert.ok(jpegs.length >= 2);
    assert.deepEqual(offlineReasons(statuses), ['stopped']);
  });

  it('answers Digest auth (preferred over Basic) and reuses the nonce with increasing nc', async () => {
    const before = cam.hits.get('/digest/snap.jpg') ?? 0;
    const { jpegs, src } = await runSource(
      { url: `${cam.base}/digest/snap.jpg`, user: USER, pass: PASS },
      (j) => j.length >= 3,
    );
    assert.ok(jpegs.length >= 3);
    assert.deepEqual(Buffer.from(jpegs[2]!.data), jpeg);
    // One challenge round trip, then one request per image.
    assert.equal((cam.hits.get('/digest/snap.jpg') ?? 0) - before, src.counters.packets);
    assert.equal(src.counters.packets, jpegs.length + 1);
  });

  it('reports auth-failed for wrong or missing credentials', async () => {
    const wrong = await runSource(
      { url: `${cam.base}/digest/snap.jpg`, user: USER, pass: 'wrong' },
      (_j, s) => offlineReasons(s).length >= 2,
    );
    assert.equal(wrong.jpegs.length, 0);
    assert.deepEqual(offlineReasons(wrong.statuses).slice(0, 2), ['auth-failed', 'auth-failed']);
    assert.ok(wrong.src.counters.reconnects >= 1);
    const none = await runSource(
      { url: `${cam.base}/basic/snap.jpg` },
      (_j, s) => offlineReasons(s).length >= 1,
    );
    assert.equal(offlineReasons(none.statuses)[0], 'auth-failed');
  });

  it('reports http-error, bad-content and unreachable, and keeps retrying with backoff', async () => {
    const e500 = await runSource(
      { url: `${cam.base}/500/snap.jpg` },
      (_j, s) => offlineReasons(s).length >= 3,
    );
    assert.deepEqual(offlineReasons(e500.statuses).slice(0, 3), ['http-error', 'http-error', 'http-error']);
    const off = e500.statuses.filter((s) => s.type === 'camera-offline');
    assert.ok(
      off.every((s) => s.type === 'camera-offline' && s.since === (off[0] as { since: number }).since),
      'since stays the first failure',
    );

    const html = await runSource(
      { url: `${cam.base}/html/snap.jpg` },
      (_j, s) => offlineReasons(s).length >= 1,
    );
    assert.equal(offlineReasons(html.statuses)[0], 'bad-content');
    assert.equal(html.src.counters.lossDiscarded, 1);

    const notJpeg = await runSource(
      { url: `${cam.base}/notjpeg/snap.jpg` },
      (_j, s) => offlineReasons(s).length >= 1,
    );
    assert.equal(offlineReasons(notJpeg.statuses)[0], 'bad-content');

    const small = await runSource(
      { url: `${cam.base}/open/snap.jpg`, maxBytes: 1000 },
      (_j, s) => offlineReasons(s).length >= 1,
    );
    assert.equal(offlineReasons(small.statuses)[0], 'bad-content');
    assert.equal(small.jpegs.length, 0);

    const hang = await runSource(
      { url: `${cam.base}/hang/snap.jpg`, timeoutMs: 100 },
      (_j, s) => offlineReasons(s).length >= 1,
    );
    assert.equal(offlineReasons(hang.statuses)[0], 'unreachable');

    const refused = await runSource(
      { url: 'http://127.0.0.1:1/snap.jpg' },
      (_j, s) => offlineReasons(s).length >= 2,
    );
    assert.deepEqual(offlineReasons(refused.statuses).slice(0, 2), ['unreachable', 'unreachable']);
  });

  it('boost polls faster for a while', async () => {
    const jpegs: JpegSample[] = [];
    const src = new HttpSnapshotSource({
      schoolId: 's1',
      cameraId: 'c1',
      url: `${cam.base}/open/snap.jpg`,
      everySeconds: 10,
      log,
      onJpeg: (j) => jpegs.push(j),
      onStatus: () => {},
    });
    src.start();
    while (jpegs.length < 1) await new Promise((r) => setTimeout(r, 10));
    src.boost(20, 400);
    assert.equal(src.boosted(), true);
    await new Promise((r) => setTimeout(r, 600));
    await src.stop();
    assert.ok(
      jpegs.length >= 4 && jpegs.length <= 12,
      `about 8 images during the 400 ms boost, got ${jpegs.length}`,
    );
    assert.equal(src.boosted(), false);
    assert.throws(
      () =>
        new HttpSnapshotSource({
          schoolId: 's',
          cameraId: 'c',
          url: 'rtsp://x/y',
          onJpeg: () => {},
          onStatus: () => {},
        }),
      /url/,
    );
  });
});
