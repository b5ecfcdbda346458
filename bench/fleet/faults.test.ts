/**
 * Fault switches against the real client (RtspCameraSource): what the engine sees when a camera
 * sends garbage, goes silent, or refuses the password.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RtspCameraSourceConfig } from '../../connectors/rtsp/index.js';
import { nalTypes, recordSource, waitFor } from '../../connectors/rtsp/test/recorder.js';
import { createLogger } from '../../engine/log.js';
import { repoPath } from '../../engine/paths.js';
import { startFleet } from './server.js';

const CLIP = repoPath('bench/fixtures/clips/demo-640x360.h264');
const log = createLogger('test', 'error');

function recorder(url: string, extra: Partial<RtspCameraSourceConfig> = {}) {
  return recordSource(url, log, { cameraId: 'cam01', reconnect: { initialMs: 100, maxMs: 400 }, ...extra });
}

test('corrupt: flipped bytes and skipped sequence numbers are counted, samples still arrive and start SPS, PPS, IDR', async () => {
  const fleet = await startFleet({
    port: 0,
    cameras: [
      { path: 'cam01', clip: CLIP, faults: { corrupt: { payloadFraction: 0.2, seqSkipFraction: 0.003 } } },
    ],
    log,
  });
  const r = recorder(fleet.urls[0]);
  try {
    r.source.start();
    await waitFor(
      'lost units counted and 3 samples',
      () => r.source.counters.lossDiscarded > 0 && r.samples.length >= 3,
      15_000,
    );
    const s = fleet.stats();
    assert.ok(s.packetsCorrupted > 0 && s.packetsSkipped > 0, JSON.stringify(s));
    for (const smp of r.samples) assert.deepEqual(nalTypes(smp.data).slice(0, 3), [7, 8, 5]);
    assert.ok(r.source.online);

    // Switched off at runtime: no more loss once the GOP damaged last (1 s) has been discarded.
    fleet.setFaults('cam01', {});
    await new Promise((res) => setTimeout(res, 1500));
    const lost = r.source.counters.lossDiscarded;
    const n = r.samples.length;
    await waitFor('2 clean samples', () => r.samples.length >= n + 2, 5000);
    assert.equal(r.source.counters.lossDiscarded, lost);
  } finally {
    await r.source.stop();
    await fleet.stop();
  }
});

test('stall: camera-offline media-timeout within silenceTimeoutMs, back online when the stall ends', async () => {
  const fleet = await startFleet({ port: 0, cameras: [{ path: 'cam01', clip: CLIP }], log });
  const silenceTimeoutMs = 1000;
  const r = recorder(fleet.urls[0], { silenceTimeoutMs });
  try {
    r.source.start();
    await waitFor('first sample', () => r.samples.length >= 1, 5000);
    const connections = fleet.stats().connections;
    fleet.setFaults('cam01', { stall: true });
    const stalledAt = Date.now();
    await waitFor(
      'media-timeout',
      () => r.statuses.some((s) => s.type === 'camera-offline' && s.reason === 'media-timeout'),
      3000,
    );
    const took = Date.now() - stalledAt;
    // Watchdog polls every silenceTimeoutMs / 4: detection lands within [timeout, timeout + poll + slack].
    assert.ok(
      took >= silenceTimeoutMs - 50 && took <= silenceTimeoutMs * 1.25 + 1000,
      `offline after ${took} ms`,
    );
    assert.ok(fleet.stats().framesStalled > 0);

    fleet.setFaults('cam01', {});
    const n = r.samples.length;
    await waitFor('samples after the stall', () => r.samples.length >= n + 1 && r.source.online, 6000);
    assert.ok(fleet.stats().connections > connections, 'the client reconnected');
    const last = r.samples[r.samples.length - 1];
    assert.deepEqual(nalTypes(last.data).slice(0, 3), [7, 8, 5]);
  } finally {
    await r.source.stop();
    await fleet.stop();
  }
});

test('drop at start and at runtime; per-camera credentials', async () => {
  const fleet = await startFleet({
    port: 0,
    cameras: [
      { path: 'cam01', clip: CLIP, faults: { drop: true } },
      { path: 'cam02', clip: CLIP, credentials: { user: 'a', pass: 'b' } },
    ],
    credentials: { user: 'op', pass: 'fleet' },
    log,
  });
  const dead = recorder(fleet.urls[0], { user: 'op', pass: 'fleet' });
  const own = recorder(fleet.urls[1], { user: 'a', pass: 'b' });
  const fleetPass = recorder(fleet.urls[1], { user: 'op', pass: 'fleet' });
  try {
    for (const r of [dead, own, fleetPass]) r.source.start();
    await waitFor('own credentials stream', () => own.samples.length >= 1, 5000);
    await waitFor(
      'fleet credentials refused on cam02',
      () => fleetPass.statuses.some((s) => s.type === 'camera-offline' && s.reason === 'auth-failed'),
      5000,
    );
    await waitFor(
      'dropped camera offline',
      () => dead.statuses.some((s) => s.type === 'camera-offline'),
      5000,
    );
    assert.equal(dead.samples.length, 0);

    fleet.setFaults('cam01', {});
    await waitFor('cam01 back', () => dead.samples.length >= 1, 5000);
    fleet.setFaults('cam01', { drop: true });
    await waitFor('cam01 dropped again', () => !dead.source.online, 3000);
    assert.ok(fleet.stats().dropped >= 2);
  } finally {
    await Promise.all([dead, own, fleetPass].map((r) => r.source.stop()));
    await fleet.stop();
  }
});
