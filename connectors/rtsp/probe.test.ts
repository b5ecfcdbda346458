/**
 * probeCamera and `kuzet probe` failure modes against a scripted RTSP server, plus the fleet for a
 * full measurement. GStreamer and ffmpeg interop lives in interop.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { after, test } from 'node:test';
import { startFleet } from '../../bench/fleet/server.js';
import { createLogger } from '../../engine/log.js';
import { compiledPath, repoPath, repoRoot } from '../../engine/paths.js';
import { frameRate, probeCamera, ProbeError, redactUrl } from './probe.js';

const log = createLogger('test', 'error');

/** An RTSP server that answers from a script: DESCRIBE gets `sdp`; SETUP/PLAY succeed; no media is ever sent. */
function scriptedServer(
  sdp: string,
  opts: { auth?: boolean } = {},
): Promise<{ url: string; server: Server }> {
  const server = createServer((sock) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const method = head.split(' ')[0];
        const cseq = /CSeq:\s*(\d+)/i.exec(head)?.[1] ?? '0';
        let extra = '';
        let body = '';
        let status = '200 OK';
        if (opts.auth && method !== 'OPTIONS') {
          // Rejects every credential: what a camera does with a wrong password.
          status = '401 Unauthorized';
          extra = 'WWW-Authenticate: Basic realm="cam"\r\n';
        } else if (method === 'DESCRIBE') {
          body = sdp;
          extra = 'Content-Type: application/sdp\r\n';
        } else if (method === 'SETUP') {
          const t = /Transport:\s*(.*)/i.exec(head)?.[1] ?? '';
          extra = `Session: 1234;timeout=60\r\nTransport: ${/TCP/.test(t) ? 'RTP/AVP/TCP;unicast;interleaved=0-1' : t.trim() + ';server_port=40000-40001'}\r\n`;
        }
        sock.write(
          `RTSP/1.0 ${status}\r\nCSeq: ${cseq}\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ url: `rtsp://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/cam`, server });
    }),
  );
}

const MJPEG_SDP =
  'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\na=control:track1\r\n';
const H265_SDP =
  'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\na=control:track1\r\n';

const servers: Server[] = [];
after(() => servers.forEach((s) => s.close()));

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [compiledPath('engine', 'cli.ts'), ...args], { cwd: repoRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('frameRate: median step of sorted timestamps, B-frame order and gaps tolerated', () => {
  assert.equal(frameRate([0, 3600, 7200, 10800], 90000), 25);
  // I P B B P B B (decode order), one frame missing at the end of the window.
  assert.equal(frameRate([0, 9000, 3000, 6000, 18000, 12000], 90000), 30);
  assert.equal(frameRate([5], 90000), null);
  assert.equal(frameRate([5, 5], 90000), null);
});

test('redactUrl hides the password only', () => {
  assert.equal(redactUrl('rtsp://admin:secret@10.0.0.5:554/s1'), 'rtsp://admin:***@10.0.0.5:554/s1');
  assert.equal(redactUrl('rtsp://10.0.0.5/s1'), 'rtsp://10.0.0.5/s1');
});

test('fleet camera: full measurement over TCP, password redacted', async () => {
  const fleet = await startFleet({
    port: 0,
    cameras: [{ path: 'cam01', clip: repoPath('bench/fixtures/clips/person-640x424.h264') }],
    credentials: { user: 'op', pass: 'pw' },
    log,
  });
  try {
    const r = await probeCamera(fleet.urls[0].replace('rtsp://', 'rtsp://op:pw@'), {
      seconds: 2,
      transport: 'tcp',
      log,
    });
    assert.equal(r.url, fleet.urls[0].replace('rtsp://', 'rtsp://op:***@'));
    assert.deepEqual(
      [r.codec, r.profile, r.width, r.height, r.fps, r.transport],
      ['h264', 'Main', 640, 424, 25, 'tcp'],
    );
    assert.ok(r.accessUnits >= 40 && r.accessUnits <= 60, `access units ${r.accessUnits}`);
    assert.ok(r.keyframes >= 1);
    assert.ok(r.gopLength === null || r.gopLength > 1);
    assert.ok(r.bitrateKbps > 10);
  } finally {
    await fleet.stop();
  }
});

test(
  'failures map to kinds and CLI exit codes: unreachable 2, auth 3, codec 4, no media 5',
  { timeout: 30_000 },
  async () => {
    const mjpeg = await scriptedServer(MJPEG_SDP);
    const silent = await scriptedServer(H265_SDP);
    const locked = await scriptedServer(H265_SDP, { auth: true });
    servers.push(mjpeg.server, silent.server, locked.server);
    const lockedUrl = locked.url.replace('rtsp://', 'rtsp://op:bad@');

    const kind = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: unknown) => (e instanceof ProbeError ? e.kind : String(e)),
      );
    assert.equal(await kind(probeCamera('rtsp://127.0.0.1:1/x', { seconds: 1, log })), 'unreachable');
    assert.equal(await kind(probeCamera(lockedUrl, { seconds: 1, log })), 'auth-failed');
    assert.equal(await kind(probeCamera(mjpeg.url, { seconds: 1, log })), 'unsupported-codec');
    assert.equal(await kind(probeCamera(silent.url, { seconds: 1, transport: 'tcp', log })), 'no-media');

    const runs = await Promise.all([
      cli(['probe', 'rtsp://127.0.0.1:1/x', '--seconds', '1']),
      cli(['probe', lockedUrl, '--seconds', '1']),
      cli(['probe', mjpeg.url, '--seconds', '1']),
      cli(['probe', silent.url, '--seconds', '1', '--transport', 'tcp']),
    ]);
    assert.deepEqual(
      runs.map((r) => r.code),
      [2, 3, 4, 5],
      runs.map((r) => r.stderr).join(''),
    );
    for (const r of runs) {
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /:bad@/, 'password never printed');
    }
    assert.match(runs[1].stderr, /auth-failed: rtsp:\/\/op:\*\*\*@/);
    assert.match(runs[2].stderr, /offered: video\/JPEG/);
  },
);

test('CLI prints the probe as JSON on stdout', { timeout: 20_000 }, async () => {
  const fleet = await startFleet({
    port: 0,
    cameras: [{ path: 'cam01', clip: repoPath('bench/fixtures/clips/demo-640x360.h264') }],
    log,
  });
  try {
    const r = await cli(['probe', fleet.urls[0], '--seconds', '1']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual([j.codec, j.width, j.height, j.transport], ['h264', 640, 360, 'tcp']);
  } finally {
    await fleet.stop();
  }
});
