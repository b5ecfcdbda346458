import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { brightness, motionEnergy, sharpness, thumbFromTensor, thumbSize, viewSimilarity } from './cues.js';
import type { FrameCues } from './types.js';

const SIDE = 416;
const PLANE = SIDE * SIDE;

/** A letterboxed tensor whose image pixels are (b, g, r) from `pixel(x, y)`, padding 114 as the detector's. */
function tensorOf(
  w: number,
  h: number,
  pixel: (x: number, y: number) => [number, number, number],
): Float32Array {
  const t = new Float32Array(3 * PLANE).fill(114);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [b, g, r] = pixel(x, y);
      const o = y * SIDE + x;
      t[o] = b;
      t[PLANE + o] = g;
      t[2 * PLANE + o] = r;
    }
  }
  return t;
}

function cuesOf(w: number, h: number, grey: (x: number, y: number) => number): FrameCues {
  const thumb = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) thumb[y * w + x] = grey(x, y);
  return { thumb, thumbWidth: w, thumbHeight: h };
}

/** Deterministic pseudo-random texture (a fixed LCG), so tests need no seed plumbing. */
function noise(w: number, h: number, seed = 1): FrameCues {
  let s = seed;
  return cuesOf(w, h, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s >>> 24;
  });
}

describe('thumbFromTensor', () => {
  it('keeps the aspect of the letterboxed image and ignores the padding', () => {
    assert.deepEqual(thumbSize(416, 234), { width: 96, height: 54 });
    assert.deepEqual(thumbSize(312, 416), { width: 96, height: 128 });
    // A white 416x234 image: padding (114) below it must not darken the thumbnail.
    const t = tensorOf(416, 234, () => [255, 255, 255]);
    const out = new Uint8Array(96 * 54);
    assert.deepEqual(thumbFromTensor(t, { width: 416, height: 234 }, out), { width: 96, height: 54 });
    assert.ok(out.every((v) => v === 255));
  });

  it('takes BT.601 luma from the B, G, R planes', () => {
    const out = new Uint8Array(96 * 54);
    thumbFromTensor(
      tensorOf(416, 234, () => [0, 0, 255]),
      { width: 416, height: 234 },
      out,
    );
    assert.equal(out[0], Math.round(0.299 * 255));
    thumbFromTensor(
      tensorOf(416, 234, () => [255, 0, 0]),
      { width: 416, height: 234 },
      out,
    );
    assert.equal(out[0], Math.round(0.114 * 255));
  });

  it('area-averages: left half black, right half white stays split at the middle column', () => {
    const out = new Uint8Array(96 * 54);
    const t = tensorOf(416, 234, (x) => (x < 208 ? [0, 0, 0] : [200, 200, 200]));
    thumbFromTensor(t, { width: 416, height: 234 }, out);
    assert.equal(out[10 * 96 + 47], 0);
    assert.equal(out[10 * 96 + 48], 200);
    // A fine 1-pixel checkerboard averages to its mean grey rather than aliasing.
    const checker = tensorOf(416, 234, (x, y) => ((x + y) % 2 ? [200, 200, 200] : [0, 0, 0]));
    thumbFromTensor(checker, { width: 416, height: 234 }, out);
    assert.ok(out.every((v) => Math.abs(v - 100) <= 15));
  });

  it('fills the thumbnail from an image smaller than it, and rejects a short buffer', () => {
    const out = new Uint8Array(96 * 48);
    const t = tensorOf(40, 20, () => [90, 90, 90]);
    assert.deepEqual(thumbFromTensor(t, { width: 40, height: 20 }, out), { width: 96, height: 48 });
    assert.ok(out.every((v) => v === 90));
    assert.throws(() => thumbFromTensor(t, { width: 416, height: 234 }, new Uint8Array(10)), RangeError);
    assert.throws(() => thumbFromTensor(t, { width: 500, height: 234 }, out), RangeError);
  });
});

describe('motionEnergy', () => {
  it('is the mean absolute difference inside the box, 0..1', () => {
    const prev = cuesOf(96, 54, () => 0);
    // Change only the thumbnail's left half: a box there sees it all, a box on the right sees none.
    const cur = cuesOf(96, 54, (x) => (x < 48 ? 255 : 0));
    assert.equal(motionEnergy(prev, cur, { x1: 0, y1: 0, x2: 960, y2: 1080 }, 1920, 1080), 1);
    assert.equal(motionEnergy(prev, cur, { x1: 1000, y1: 0, x2: 1900, y2: 1080 }, 1920, 1080), 0);
    assert.equal(motionEnergy(prev, prev, { x1: 0, y1: 0, x2: 1920, y2: 1080 }, 1920, 1080), 0);
    const whole = motionEnergy(prev, cur, { x1: 0, y1: 0, x2: 1920, y2: 1080 }, 1920, 1080);
    assert.ok(Math.abs(whole - 0.5) < 1e-9);
  });

  it('still measures a box smaller than one thumbnail pixel, and returns 0 on a size change', () => {
    const prev = cuesOf(96, 54, () => 10);
    const cur = cuesOf(96, 54, () => 61);
    assert.equal(motionEnergy(prev, cur, { x1: 5, y1: 5, x2: 6, y2: 6 }, 1920, 1080), 51 / 255);
    assert.equal(
      motionEnergy(
        cuesOf(48, 27, () => 0),
        cur,
        { x1: 0, y1: 0, x2: 10, y2: 10 },
        1920,
        1080,
      ),
      0,
    );
  });
});

describe('brightness, sharpness, viewSimilarity', () => {
  it('brightness is the mean grey 0..1', () => {
    assert.equal(brightness(cuesOf(96, 54, () => 0)), 0);
    assert.equal(brightness(cuesOf(96, 54, () => 255)), 1);
  });

  it('sharpness drops when the texture is blurred and is 0 for a flat frame', () => {
    const sharp = noise(96, 54);
    const blurred = cuesOf(96, 54, (x, y) => {
      let s = 0;
      let n = 0;
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) {
          const xx = Math.min(95, Math.max(0, x + dx));
          const yy = Math.min(53, Math.max(0, y + dy));
          s += sharp.thumb[yy * 96 + xx];
          n++;
        }
      }
      return Math.round(s / n);
    });
    assert.ok(sharpness(blurred) < 0.05 * sharpness(sharp));
    assert.equal(sharpness(cuesOf(96, 54, () => 77)), 0);
  });

  it('viewSimilarity is 1 for the same view under other exposure, low for a moved one', () => {
    const view = noise(96, 54, 7);
    const darker = cuesOf(96, 54, (x, y) => Math.round(view.thumb[y * 96 + x] * 0.5 + 20));
    assert.ok(viewSimilarity(view, darker) > 0.99);
    const inverted = cuesOf(96, 54, (x, y) => 255 - view.thumb[y * 96 + x]);
    assert.ok(viewSimilarity(view, inverted) < -0.99);
    const shifted = cuesOf(96, 54, (x, y) => view.thumb[y * 96 + ((x + 9) % 96)]);
    assert.ok(Math.abs(viewSimilarity(view, shifted)) < 0.2);
    assert.equal(
      viewSimilarity(
        view,
        cuesOf(96, 54, () => 0),
      ),
      0,
    );
    assert.equal(viewSimilarity(view, noise(48, 27)), 0);
  });
});
