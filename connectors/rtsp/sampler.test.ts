import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSampler, KeyframeSampler, type Sampler } from './sampler.js';

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

/** Feeds keyframes every `gopS` seconds of stream time (wall clock in step) and returns the sampled times. */
function run(
  s: Sampler,
  opts: { gopS: number; seconds: number; base?: number; onStep?: (tS: number) => void },
): number[] {
  const base = opts.base ?? 0;
  const out: number[] = [];
  for (let t = 0; t <= opts.seconds + 1e-9; t += opts.gopS) {
    const tS = Math.round(t * 1000) / 1000;
    opts.onStep?.(tS);
    const ts = (base + Math.round(tS * 90000)) >>> 0;
    const now = tS * 1000;
    assert.equal(s.want(false, ts, now), false, 'never a non-keyframe');
    if (s.want(true, ts, now)) {
      s.taken(ts, now);
      out.push(tS);
    }
  }
  return out;
}

test('createSampler keyframes policy behaves like KeyframeSampler', () => {
  const s = createSampler({ type: 'keyframes', maxFps: 1 });
  assert.deepEqual(s.policy, { type: 'keyframes', maxFps: 1 });
  assert.deepEqual(run(s, { gopS: 0.5, seconds: 4 }), [0, 1, 2, 3, 4]);
  assert.equal(s.targetFps(0), 1);
  assert.equal(new KeyframeSampler(2).maxFps, 2);
});

test('interval policy takes the first keyframe at or after each mark, without drift', () => {
  const s = createSampler({ type: 'interval', everySeconds: 5 });
  assert.deepEqual(run(s, { gopS: 2, seconds: 30 }), [0, 6, 10, 16, 20, 26, 30]);
  const one = createSampler({ type: 'interval', everySeconds: 1 });
  assert.deepEqual(run(one, { gopS: 0.5, seconds: 3 }), [0, 1, 2, 3]);
  // GOP longer than the interval: every keyframe, one per mark that has passed.
  const slow = createSampler({ type: 'interval', everySeconds: 1 });
  assert.deepEqual(run(slow, { gopS: 2.5, seconds: 10 }), [0, 2.5, 5, 7.5, 10]);
});

test('interval policy across the 32-bit RTP wrap', () => {
  const base = 0xffffffff - 90000 * 7; // wraps 7 s in
  const s = createSampler({ type: 'interval', everySeconds: 5 });
  assert.deepEqual(run(s, { gopS: 2, seconds: 30, base }), [0, 6, 10, 16, 20, 26, 30]);
  const k = createSampler({ type: 'keyframes', maxFps: 0.5 });
  assert.deepEqual(run(k, { gopS: 1, seconds: 10, base }), [0, 2, 4, 6, 8, 10]);
});

test('interval policy: long intervals, resync after reset and backwards jumps, wall-clock fallback', () => {
  const s = createSampler({ type: 'interval', everySeconds: 300 });
  assert.deepEqual(run(s, { gopS: 1, seconds: 900 }), [0, 300, 600, 900]);
  const r = createSampler({ type: 'interval', everySeconds: 5 });
  r.taken(1_000_000, 0);
  assert.equal(r.want(true, 1_000_000 + 90000 * 3, 3000), false);
  assert.equal(r.want(true, 500, 3000), true, 'timestamps went backwards: resync');
  r.reset();
  assert.equal(r.want(true, 12345, 3100), true, 'first keyframe after reset');
  r.taken(12345, 3100);
  assert.equal(r.want(true, 12345 + 90000 * 5, 8100), true);
  const frozen = createSampler({ type: 'interval', everySeconds: 2 });
  frozen.taken(7, 0);
  assert.equal(frozen.want(true, 7, 2000), false, 'constant timestamps: not at the first mark');
  assert.equal(frozen.want(true, 7, 2600), true, 'constant timestamps: wall-clock fallback');
  assert.throws(() => createSampler({ type: 'interval', everySeconds: 0 }), /everySeconds/);
  assert.throws(() => createSampler({ type: 'interval', everySeconds: 7200 }), /everySeconds/);
  assert.throws(() => createSampler({ type: 'keyframes', maxFps: -1 }), /maxFps/);
});

test('boost raises the rate for a while, capped by the GOP, then the base policy resumes', () => {
  const s = createSampler({ type: 'interval', everySeconds: 5 });
  const boostedAt: number[] = [];
  const got = run(s, {
    gopS: 0.25,
    seconds: 20,
    onStep: (t) => {
      if (t === 6) s.boost(2, 3000, 6000);
      if (s.boosted(t * 1000)) boostedAt.push(t);
    },
  });
  // Base marks at 0, 5, 10, 15, 20; boosted 6..9 s at 2 fps; mark 10 still taken, anchored as before.
  assert.deepEqual(got, [0, 5, 6, 6.5, 7, 7.5, 8, 8.5, 10, 15, 20]);
  assert.equal(boostedAt[0], 6);
  assert.equal(boostedAt.at(-1), 8.75);
  assert.equal(s.boosted(9000), false);
  assert.equal(s.targetFps(9000), 0.2);

  // With a 1 s GOP a 5 fps boost gives every keyframe and no more: 1 fps; at 10 s back to 0.5 fps.
  const k = createSampler({ type: 'keyframes', maxFps: 0.5 });
  k.boost(5, 10_000, 0);
  assert.equal(k.targetFps(0), 5);
  assert.deepEqual(run(k, { gopS: 1, seconds: 14 }), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13]);

  // A boost below the base rate does not lower it; 0 ms cancels; bad values throw.
  const f = createSampler({ type: 'keyframes', maxFps: 2 });
  f.boost(1, 60_000, 0);
  assert.equal(f.boosted(0), true);
  assert.equal(f.targetFps(0), 2);
  assert.deepEqual(run(f, { gopS: 0.5, seconds: 2 }), [0, 0.5, 1, 1.5, 2]);
  f.boost(5, 0, 10);
  assert.equal(f.boosted(10), false);
  assert.throws(() => f.boost(0, 1000), /fps/);
  assert.throws(() => f.boost(5, -1), /duration/);
});
