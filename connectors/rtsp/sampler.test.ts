import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyframeSampler } from './sampler.js';

test('keyframes only, at most maxFps in stream time, robust to wrap and resets', () => {
  const s = new KeyframeSampler(1);
  assert.equal(s.want(false, 0, 0), false);
  assert.equal(s.want(true, 0, 0), true);
  s.taken(0, 0);
  assert.equal(s.want(true, 45000, 500), false, 'half a second later');
  assert.equal(s.want(true, 90000, 999), true, 'one second of stream time, even if it arrived a bit early');
  s.taken(0xffff0000, 1000);
  assert.equal(s.want(true, (0xffff0000 + 90000) >>> 0, 2000), true, 'across the 32-bit wrap');
  assert.equal(s.want(true, 0xfffe0000, 2000), true, 'timestamps went backwards: resync');
  const fast = new KeyframeSampler(5);
  fast.taken(0, 0);
  assert.equal(fast.want(true, 18000, 200), true);
  const frozen = new KeyframeSampler(1);
  frozen.taken(7, 0);
  assert.equal(frozen.want(true, 7, 1000), false, 'constant timestamps: not on the first second');
  assert.equal(frozen.want(true, 7, 1300), true, 'constant timestamps: wall-clock fallback');
  assert.throws(() => new KeyframeSampler(0), /maxFps/);
});
