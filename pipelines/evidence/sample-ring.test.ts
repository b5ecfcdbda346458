import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sample } from '../../engine/types.js';
import { SampleRing } from './sample-ring.js';

function sample(seq: number, size: number, fill = seq & 0xff): Sample {
  return {
    schoolId: 's',
    cameraId: 'c',
    codec: 'h264',
    captureTimeMs: 1000 + seq,
    seq,
    data: new Uint8Array(size).fill(fill),
  };
}

test('holds the last `capacity` samples, as copies of their bytes', () => {
  const ring = new SampleRing(3);
  for (let seq = 1; seq <= 5; seq++) ring.put(sample(seq, 100 + seq));
  assert.equal(ring.get(1), undefined);
  assert.equal(ring.get(2), undefined);
  for (const seq of [3, 4, 5]) {
    const held = ring.get(seq)!;
    assert.deepEqual(
      [held.seq, held.codec, held.captureTimeMs, held.data.length],
      [seq, 'h264', 1000 + seq, 100 + seq],
    );
    assert.ok(held.data.every((b) => b === seq));
  }
  // A copy: the original can be detached (transferred to a worker) without touching the ring.
  const s = sample(6, 64, 7);
  ring.put(s);
  structuredClone(s.data, { transfer: [s.data.buffer as ArrayBuffer] });
  assert.equal(s.data.byteLength, 0);
  assert.ok(ring.get(6)!.data.every((b) => b === 7));
});

test('once warm, same-or-smaller samples reuse the same buffers (no allocation per sample)', () => {
  const ring = new SampleRing(2);
  ring.put(sample(1, 50_000));
  ring.put(sample(2, 50_000));
  const buffers = new Set([ring.get(1)!.data.buffer, ring.get(2)!.data.buffer]);
  assert.equal(buffers.size, 2);
  const bytes = ring.bytes;
  for (let seq = 3; seq < 40; seq++) {
    ring.put(sample(seq, 50_000 - (seq % 7) * 1000));
    assert.ok(buffers.has(ring.get(seq)!.data.buffer), `sample ${seq} went into a ring buffer`);
  }
  assert.equal(ring.bytes, bytes);
  // A little larger still fits the headroom; much larger grows that slot once.
  ring.put(sample(40, 55_000));
  assert.ok(buffers.has(ring.get(40)!.data.buffer));
  ring.put(sample(41, 200_000));
  assert.ok(!buffers.has(ring.get(41)!.data.buffer));
  assert.ok(ring.bytes >= 200_000 + 50_000);
});

test('capacity must be a positive integer', () => {
  assert.throws(() => new SampleRing(0), RangeError);
  assert.throws(() => new SampleRing(1.5), RangeError);
});
