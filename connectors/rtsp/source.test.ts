/**
 * End to end against the demo fleet (bench/fleet): real sockets, real clip, real decoder check.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createLogger } from '../../engine/log.js';
import { repoPath } from '../../engine/paths.js';
import { startFleet } from '../../bench/fleet/server.js';
import type { RtspCameraSource, RtspCameraSourceConfig } from './source.js';
import { nalTypes, recordSource, waitFor } from './test/recorder.js';

const CLIP = repoPath('bench/fixtures/clips/demo-640x360.h264');
const log = createLogger('test', 'warn');

function recorder(url: string, extra: Partial<RtspCameraSourceConfig> = {}) {
  return recordSource(url, log, extra);
}

const sources: RtspCameraSource[] = [];
after(async () => {
  await Promise.all(sources.map((s) => s.stop()));
});

test('three fleet cameras: online, samples at 1 fps, each SPS+PPS+IDR, decodable by ffmpeg', async () => {
  const fleet = await startFleet({
    port: 0,
    cameras: ['cam01', 'cam02', 'cam03'].map((path) => ({ path, clip: CLIP })),
    log,
  });
  try {
    const recs = fleet.urls.map((u) => recorder(u));
    recs.forEach((r) => {
      sources.push(r.source);
      r.source.start();
    });
    await waitFor('2 samples per camera', () => recs.every((r) => r.samples.length >= 2), 5000);
    for (const r of recs) {
      assert.ok(r.statuses.some((s) => s.type === 'camera-online'));
      for (const s of r.samples) {
        assert.equal(s.codec, 'h264');
        const types = nalTypes(s.data);
        assert.deepEqual(types.slice(0, 3), [7, 8, 5], `sample NAL types ${types.join(',')}`);
        assert.ok(types.slice(2).every((t) => t === 5));
      }
      assert.ok(r.samples[1].captureTimeMs - r.samples[0].captureTimeMs >= 900, 'maxFps 1');
      assert.equal(r.samples[1].seq, r.samples[0].seq + 1);
    }
    const c = recs[0].source.counters;
    assert.ok(c.skipped > c.sampled * 10, 'non-keyframes are skipped');
    assert.equal(c.lossDiscarded, 0);

    const ffmpeg = spawnSync('ffmpeg', ['-version']);
    assert.ok(
      !ffmpeg.error,
      'ffmpeg is not installed: run `node deploy/setup.mjs` (it installs ffmpeg) and rerun the tests',
    );
    const dir = mkdtempSync(join(tmpdir(), 'kuzet-rtsp-'));
    try {
      const file = join(dir, 'sample.h264');
      writeFileSync(file, recs[0].samples[1].data);
      execFileSync('ffmpeg', [
        '-v',
        'error',
        '-xerror',
        '-f',
        'h264',
        '-i',
        file,
        '-frames:v',
        '1',
        '-f',
        'null',
        '-',
      ]);
      const probe = execFileSync('ffprobe', [
        '-v',
        'error',
        '-show_entries',
        'stream=width,height',
        '-of',
        'csv=p=0',
        file,
      ])
        .toString()
        .trim();
      assert.equal(probe, '640,360');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await Promise.all(sources.splice(0).map((s) => s.stop()));
    await fleet.stop();
  }
});

test('camera dropped, then whole fleet restarted on the same port: offline, reconnect, sampling resumes', async () => {
  let fleet = await startFleet({ port: 0, cameras: [{ path: 'cam01', clip: CLIP }], log });
  const port = fleet.port;
  const r = recorder(fleet.urls[0]);
  sources.push(r.source);
  try {
    r.source.start();
    await waitFor('first sample', () => r.samples.length >= 1, 3000);

    fleet.kill('cam01');
    await waitFor('offline after kill', () => r.statuses.some((s) => s.type === 'camera-offline'), 2000);
    const n = r.samples.length;
    await waitFor('samples after reconnect', () => r.samples.length >= n + 1 && r.source.online, 4000);
    assert.ok(r.source.counters.reconnects >= 1);

    await fleet.stop();
    const offAt = r.statuses.length;
    await waitFor(
      'offline after fleet stop',
      () => r.statuses.slice(offAt).some((s) => s.type === 'camera-offline'),
      2000,
    );
    fleet = await startFleet({ port, cameras: [{ path: 'cam01', clip: CLIP }], log });
    const m = r.samples.length;
    await waitFor('samples after fleet restart', () => r.samples.length >= m + 1, 5000);
    const last = r.statuses.filter((s) => s.type === 'camera-online' || s.type === 'camera-offline').pop();
    assert.equal(last?.type, 'camera-online');
  } finally {
    await r.source.stop();
    await fleet.stop();
  }
});

test('credentials: right ones (in the URL) stream; wrong ones give auth-failed without hammering', async () => {
  const fleet = await startFleet({
    port: 0,
    cameras: [{ path: 'cam01', clip: CLIP }],
    credentials: { user: 'op', pass: 's3cret' },
    log,
  });
  try {
    const good = recorder(fleet.urls[0].replace('rtsp://', 'rtsp://op:s3cret@'));
    sources.push(good.source);
    good.source.start();
    await waitFor('sample with credentials', () => good.samples.length >= 1, 3000);
    await good.source.stop();

    const before = fleet.stats().connections;
    const bad = recorder(fleet.urls[0], { user: 'op', pass: 'wrong' });
    sources.push(bad.source);
    bad.source.start();
    await new Promise((r) => setTimeout(r, 5000));
    const offline = bad.statuses.filter((s) => s.type === 'camera-offline');
    assert.ok(offline.length >= 1);
    assert.equal(offline[0].type === 'camera-offline' && offline[0].reason, 'auth-failed');
    const attempts = fleet.stats().connections - before;
    assert.ok(attempts >= 1 && attempts <= 2, `connection attempts in 5 s: ${attempts}`);
    assert.equal(bad.samples.length, 0);
    await bad.source.stop();
  } finally {
    await fleet.stop();
  }
});

test('unreachable camera: offline with a reason, retries with backoff, never throws', async () => {
  const r = recorder('rtsp://127.0.0.1:1/nothing', { reconnect: { initialMs: 100, maxMs: 400 } });
  sources.push(r.source);
  r.source.start();
  await waitFor('two failed attempts', () => r.source.counters.reconnects >= 2, 3000);
  const off = r.statuses.filter((s) => s.type === 'camera-offline');
  assert.ok(off.every((s) => s.type === 'camera-offline' && s.reason === 'unreachable'));
  assert.ok(
    off.every((s) => s.type === 'camera-offline' && s.since === off[0].at),
    'since stays the first failure',
  );
  await r.source.stop();
});

test("transport 'auto' against the fleet (TCP only): UDP refused with 461, falls back to TCP, samples flow", async () => {
  const fleet = await startFleet({ port: 0, cameras: [{ path: 'cam01', clip: CLIP }], log });
  const r = recorder(fleet.urls[0], { transport: 'auto', rtcpIntervalMs: 200 });
  sources.push(r.source);
  try {
    r.source.start();
    await waitFor('a sample over the TCP fallback', () => r.samples.length >= 1, 4000);
    assert.equal(r.samples[0].codec, 'h264');
    assert.equal(r.source.counters.reconnects, 0, 'the fallback happens inside one connection attempt');
    await new Promise((res) => setTimeout(res, 500));
  } finally {
    await r.source.stop();
    await fleet.stop();
  }
  assert.ok(r.source.counters.rtcpReportsSent >= 1, 'receiver reports sent on interleaved channel 1');
});
