import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import {
  CameraHealth,
  cameraKey,
  type CameraCounters,
  type CameraHealthTransition,
} from './camera-health.js';

const T0 = 1_700_000_000_000;

/** Synthetic RTSP counters after `s` seconds at `fps` pictures/s, `kbps`, `lossPct` % pictures lost. */
function counters(
  s: number,
  o: { fps?: number; kbps?: number; lossPct?: number; reconnects?: number } = {},
): CameraCounters {
  const fps = o.fps ?? 25;
  const aus = Math.round(s * fps);
  return {
    packets: aus * 10,
    bytes: Math.round((s * (o.kbps ?? 2000) * 1000) / 8),
    accessUnits: aus,
    sampled: Math.floor(s),
    skipped: aus - Math.floor(s),
    lossDiscarded: Math.round((aus * (o.lossPct ?? 0)) / 100),
    reconnects: o.reconnects ?? 0,
  };
}

function online(h: CameraHealth, schoolId: string, cameraId: string, at: number) {
  h.onStatus({ type: 'camera-online', schoolId, cameraId, at, codec: 'h264' });
}

test('healthy camera: online, bitrate, fps, loss from counters; per-school gauges without camera labels', async () => {
  const registry = new Registry();
  const h = new CameraHealth(registry, { windowMs: 30_000, now: () => T0 + 60_500 });
  const key = h.register({ schoolId: 's1', cameraId: 'c1', expectedFps: 25, sampleIntervalMs: 1000 }, T0);
  h.register({ schoolId: 's1', cameraId: 'c2' }, T0);
  h.register({ schoolId: 's2', cameraId: 'c1' }, T0);
  assert.equal(key, cameraKey('s1', 'c1'));
  online(h, 's1', 'c1', T0);
  for (let s = 0; s <= 60; s += 5) {
    h.update(key, counters(s, { reconnects: 2 }), T0 + s * 1000);
    h.onSample(key, T0 + s * 1000);
  }
  const snap = h.snapshot(T0 + 60_500).find((c) => c.key === key)!;
  assert.equal(snap.state, 'online');
  assert.deepEqual(snap.reasons, []);
  assert.ok(Math.abs(snap.bitrateBps! - 2_000_000) < 1, `bitrate ${snap.bitrateBps}`);
  assert.ok(Math.abs(snap.fps! - 25) < 0.01);
  assert.equal(snap.lossRatio, 0);
  assert.equal(snap.sampleAgeMs, 500);
  assert.equal(snap.reconnects, 2);
  assert.equal(h.snapshot(T0).find((c) => c.key === 's1.c2')!.state, 'offline');

  const text = await registry.metrics();
  assert.match(text, /kuzet_cameras\{school="s1",state="online"\} 1/);
  assert.match(text, /kuzet_cameras\{school="s1",state="offline"\} 1/);
  assert.match(text, /kuzet_cameras\{school="s1",state="degraded"\} 0/);
  assert.match(text, /kuzet_cameras\{school="s2",state="offline"\} 1/);
  assert.match(text, /kuzet_camera_bitrate_bits\{school="s1"\} 2000000/);
  assert.match(text, /kuzet_camera_loss_ratio\{school="s1"\} 0/);
  assert.match(text, /kuzet_camera_sample_age_seconds\{school="s1"\} \d/);
  assert.doesNotMatch(text, /camera="/, 'never a camera label');
});

test('degraded on loss > 2 %, then recovered; transitions through the callback', () => {
  const events: CameraHealthTransition[] = [];
  const h = new CameraHealth(new Registry(), { windowMs: 20_000, onTransition: (e) => events.push(e) });
  const key = h.register({ schoolId: 's1', cameraId: 'c1', expectedFps: 25 }, T0);
  online(h, 's1', 'c1', T0);
  let c = counters(0);
  const step = (s: number, lossPct: number) => {
    const add = counters(5, { lossPct });
    c = {
      ...c,
      packets: c.packets + add.packets,
      bytes: c.bytes + add.bytes,
      accessUnits: c.accessUnits + add.accessUnits,
      lossDiscarded: c.lossDiscarded + add.lossDiscarded,
    };
    h.update(key, c, T0 + s * 1000);
  };
  for (let s = 5; s <= 30; s += 5) step(s, 1);
  assert.equal(h.snapshot(T0 + 30_000)[0]!.state, 'online', '1 % loss is fine');
  for (let s = 35; s <= 60; s += 5) step(s, 5);
  const snap = h.snapshot(T0 + 60_000)[0]!;
  assert.equal(snap.state, 'degraded');
  assert.deepEqual(snap.reasons, ['loss']);
  assert.ok(Math.abs(snap.lossRatio! - 0.048) < 0.01, `loss ${snap.lossRatio}`);
  for (let s = 65; s <= 100; s += 5) step(s, 0);
  assert.equal(h.snapshot(T0 + 100_000)[0]!.state, 'online');
  assert.deepEqual(
    events.map((e) => e.type),
    ['camera-degraded', 'camera-recovered'],
  );
  const deg = events[0]!;
  assert.ok(
    deg.type === 'camera-degraded' &&
      deg.reasons.includes('loss') &&
      deg.schoolId === 's1' &&
      deg.cameraId === 'c1',
  );
  const rec = events[1]!;
  assert.ok(rec.type === 'camera-recovered' && rec.degradedSince === deg.at);
});

test('degraded on low frame rate and on stale samples; offline wins; counter resets restart rates', async () => {
  const events: CameraHealthTransition[] = [];
  const registry = new Registry();
  const h = new CameraHealth(registry, {
    windowMs: 10_000,
    onTransition: (e) => events.push(e),
    now: () => T0 + 21_000,
  });
  const key = h.register({ schoolId: 's1', cameraId: 'c1', expectedFps: 25, sampleIntervalMs: 2000 }, T0);
  online(h, 's1', 'c1', T0);
  for (let s = 0; s <= 20; s += 5) {
    h.update(key, counters(s, { fps: 10 }), T0 + s * 1000);
    h.onSample(key, T0 + s * 1000);
  }
  assert.deepEqual(h.snapshot(T0 + 20_000)[0]!.reasons, ['low-fps']);

  // Frame rate back, but samples stop (decoder stuck, sampler starved): stale after 3 × 2 s.
  const h2 = new CameraHealth(new Registry(), { onTransition: (e) => events.push(e) });
  const k2 = h2.register({ schoolId: 's1', cameraId: 'c2', sampleIntervalMs: 2000 }, T0);
  online(h2, 's1', 'c2', T0);
  h2.onSample(k2, T0 + 1000);
  h2.update(k2, counters(5), T0 + 5000);
  assert.equal(h2.snapshot(T0 + 6000)[0]!.state, 'online');
  h2.update(k2, counters(8), T0 + 8000);
  assert.equal(h2.snapshot(T0 + 8000)[0]!.state, 'degraded');
  assert.deepEqual(h2.snapshot(T0 + 8000)[0]!.reasons, ['stale-samples']);
  h2.onSample(k2, T0 + 9000);
  h2.update(k2, counters(10), T0 + 10_000);
  assert.equal(h2.snapshot(T0 + 10_000)[0]!.state, 'online');

  // Offline overrides degraded, with no recovered event; back online starts fresh.
  h.onStatus({
    type: 'camera-offline',
    schoolId: 's1',
    cameraId: 'c1',
    at: T0 + 21_000,
    since: T0 + 21_000,
    reason: 'media-timeout',
  });
  assert.equal(h.snapshot(T0 + 21_000)[0]!.state, 'offline');
  const text = await registry.metrics();
  assert.match(text, /kuzet_cameras\{school="s1",state="offline"\} 1/);
  assert.match(
    text,
    /kuzet_camera_sample_age_seconds\{school="s1"\} 0/,
    'offline cameras do not count in sample age',
  );
  online(h, 's1', 'c1', T0 + 30_000);
  h.update(key, counters(100), T0 + 31_000); // a new source object: counters restarted lower later
  h.update(key, counters(1), T0 + 32_000);
  const snap = h.snapshot(T0 + 32_000)[0]!;
  assert.equal(snap.state, 'online');
  assert.equal(snap.fps, null, 'rates restart after a counter reset');
  assert.deepEqual(
    events.map((e) => `${e.cameraId}:${e.type}`),
    ['c1:camera-degraded', 'c2:camera-degraded', 'c2:camera-recovered'],
  );
});

test('packet loss counted by sequence numbers is preferred when the source reports it', () => {
  const h = new CameraHealth(new Registry(), { windowMs: 10_000 });
  const key = cameraKey('s3', 'c9');
  online(h, 's3', 'c9', T0);
  h.update(key, { ...counters(0), packetsLost: 0 }, T0);
  h.update(key, { ...counters(10), packetsLost: 100 }, T0 + 10_000);
  const snap = h.snapshot(T0 + 10_000)[0]!;
  assert.equal(snap.schoolId, 's3');
  assert.ok(Math.abs(snap.lossRatio! - 100 / 2600) < 1e-9);
  assert.equal(snap.state, 'degraded');
  const other = new CameraHealth(new Registry());
  other.update('no-dot', counters(1), T0);
  assert.deepEqual(
    other.snapshot(T0).map((c) => [c.key, c.schoolId, c.cameraId, c.state]),
    [['no-dot', 'no-dot', 'no-dot', 'offline']],
  );
});
