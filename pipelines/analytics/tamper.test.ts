import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CameraTamper } from './tamper.js';
import type { AlarmCandidate, AnalyticsFrame, FrameCues } from './types.js';

const T0 = Date.UTC(2026, 0, 12, 10);
const CFG = { schoolId: 'school-1', cameraId: 'cam-1' };
const TW = 96;
const TH = 54;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A textured scene (blocky noise, like a cluttered classroom) as a grey image of floats 0..255. */
function scene(seed: number): Float64Array {
  const r = rng(seed);
  const blocks = Array.from({ length: 24 * 14 }, () => 30 + 200 * r());
  const img = new Float64Array(TW * TH);
  for (let y = 0; y < TH; y++)
    for (let x = 0; x < TW; x++) img[y * TW + x] = blocks[(y >> 2) * 24 + (x >> 2)];
  return img;
}

/** One sample of a scene: sensor noise of a few grey levels added, rounded to 8 bits. */
function sample(img: Float64Array, seq: number, noise = 3): FrameCues {
  const r = rng(9000 + seq);
  const thumb = new Uint8Array(TW * TH);
  for (let i = 0; i < thumb.length; i++)
    thumb[i] = Math.max(0, Math.min(255, Math.round(img[i] + noise * (2 * r() - 1))));
  return { thumb, thumbWidth: TW, thumbHeight: TH };
}

function boxBlur(img: Float64Array, radius: number): Float64Array {
  const out = new Float64Array(img.length);
  for (let y = 0; y < TH; y++) {
    for (let x = 0; x < TW; x++) {
      let s = 0;
      let n = 0;
      for (let dy = -radius; dy <= radius; dy++) {
        for (let dx = -radius; dx <= radius; dx++) {
          const xx = x + dx;
          const yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= TW || yy >= TH) continue;
          s += img[yy * TW + xx];
          n++;
        }
      }
      out[y * TW + x] = s / n;
    }
  }
  return out;
}

/** The camera turned: the view slides by dx thumbnail pixels (new content wraps in). */
function shifted(img: Float64Array, dx: number): Float64Array {
  const out = new Float64Array(img.length);
  for (let y = 0; y < TH; y++) for (let x = 0; x < TW; x++) out[y * TW + x] = img[y * TW + ((x + dx) % TW)];
  return out;
}

function mix(a: Float64Array, b: Float64Array, t: number): Float64Array {
  return a.map((v, i) => v * (1 - t) + b[i] * t);
}

function frame(seq: number, cues: FrameCues | null): AnalyticsFrame {
  return {
    schoolId: 'school-1',
    cameraId: 'cam-1',
    seq,
    timeMs: T0 + seq * 1000,
    width: 1920,
    height: 1080,
    detections: [],
    tracks: [],
    cues,
  };
}

const VIEW = scene(1);

/** 12 healthy samples (reference and sharpness history built), then `after`, and every sample's candidates. */
function runAfterHealthy(after: (FrameCues | null)[], tamper = new CameraTamper(CFG)): AlarmCandidate[][] {
  let seq = 0;
  for (; seq < 12; seq++) assert.deepEqual(tamper.update(frame(seq, sample(VIEW, seq))), []);
  assert.ok(tamper.hasReference);
  return after.map((c) => tamper.update(frame(seq++, c)));
}

function reasons(out: AlarmCandidate[][]): (string | null)[] {
  return out.map((c) => (c.length ? String(c[0].cues.reason) : null));
}

describe('CameraTamper', () => {
  it('stays quiet on a steady noisy view', () => {
    const t = new CameraTamper(CFG);
    for (let seq = 0; seq < 60; seq++) assert.deepEqual(t.update(frame(seq, sample(VIEW, seq, 6))), []);
  });

  it('raises blackout after 3 black samples and stops when the picture returns', () => {
    const black: FrameCues = { thumb: new Uint8Array(TW * TH).fill(3), thumbWidth: TW, thumbHeight: TH };
    const out = runAfterHealthy([black, black, black, black, sample(VIEW, 50)]);
    assert.deepEqual(reasons(out), [null, null, 'blackout', 'blackout', null]);
    const c = out[2][0];
    assert.equal(c.kind, 'camera-tamper');
    assert.equal(c.severity, 'medium');
    assert.deepEqual(c.trackIds, []);
    assert.equal(c.cues.value, 0.012);
    assert.equal(c.cues.samples, 3);
    assert.ok(c.score > 0.8);
  });

  it('raises blur when sharpness falls below 20 % of the camera median for 3 samples', () => {
    const blurred = boxBlur(VIEW, 3);
    const out = runAfterHealthy([50, 51, 52, 53].map((seq) => sample(blurred, seq, 0.5)));
    assert.deepEqual(reasons(out), [null, null, 'blur', 'blur']);
    assert.ok(Number(out[2][0].cues.value) < 0.2);
  });

  it('raises view-moved when the view no longer matches the reference for 3 samples', () => {
    const moved = shifted(VIEW, 20);
    const out = runAfterHealthy([50, 51, 52].map((seq) => sample(moved, seq)));
    assert.deepEqual(reasons(out), [null, null, 'view-moved']);
    assert.ok(Number(out[2][0].cues.value) < 0.5);
  });

  it('ignores a brief obstruction (2 samples) and frames without cues', () => {
    const moved = sample(shifted(VIEW, 20), 50);
    const out = runAfterHealthy([moved, moved, sample(VIEW, 51), null, moved]);
    assert.ok(out.every((c) => c.length === 0));
  });

  it('follows a slow change of the scene through the reference refresh', () => {
    const other = scene(2);
    const t = new CameraTamper(CFG);
    // Over 400 samples the view drifts from one scene to an unrelated one, which a frozen reference would flag.
    for (let seq = 0; seq < 400; seq++) {
      const img = mix(VIEW, other, Math.min(1, seq / 300));
      assert.deepEqual(t.update(frame(seq, sample(img, seq))), [], `sample ${seq}`);
    }
  });

  it('adopts a view that stays moved long enough, and rebuilds the reference on a size change', () => {
    const moved = shifted(VIEW, 20);
    const t = new CameraTamper({ ...CFG, adoptViewAfterSamples: 5 });
    const out = runAfterHealthy(
      Array.from({ length: 20 }, (_, i) => sample(moved, 50 + i)),
      t,
    );
    assert.deepEqual(reasons(out).slice(0, 5), [null, null, 'view-moved', 'view-moved', null]);
    assert.ok(out.slice(5).every((c) => c.length === 0));

    const small: FrameCues = { thumb: new Uint8Array(48 * 27).fill(100), thumbWidth: 48, thumbHeight: 27 };
    t.update(frame(100, small));
    assert.equal(t.hasReference, false);
  });
});
