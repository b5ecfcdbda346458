import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LETTERBOX_PAD, letterboxGeometry, packPlanarBgr, tensorLength } from './letterbox.js';

test('letterbox geometry: scale = min(416/W, 416/H), rounded size, fits the square', () => {
  assert.deepEqual(letterboxGeometry(640, 424), {
    srcWidth: 640,
    srcHeight: 424,
    scale: 0.65,
    width: 416,
    height: 276,
    size: 416,
  });
  const bus = letterboxGeometry(810, 1080);
  assert.equal(bus.scale, 416 / 1080);
  assert.equal(bus.width, Math.round(810 * (416 / 1080)));
  assert.equal(bus.height, 416);
  const hd = letterboxGeometry(1920, 1080);
  assert.deepEqual([hd.width, hd.height], [416, 234]);
  const small = letterboxGeometry(208, 100);
  assert.deepEqual([small.scale, small.width, small.height], [2, 416, 200]);
  assert.throws(() => letterboxGeometry(0, 10), RangeError);
});

test('packPlanarBgr writes planar B,G,R at the top-left and 114 everywhere else', () => {
  const size = 4;
  // 3x2 image, RGB interleaved: pixel (x,y) = [R,G,B] = [10*x+y, 100+x, 200+y].
  const w = 3;
  const h = 2;
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) rgb.set([10 * x + y, 100 + x, 200 + y], (y * w + x) * 3);
  const out = new Float32Array(tensorLength(size)).fill(-1);
  packPlanarBgr({ data: rgb, width: w, height: h, channels: 3, order: 'rgb' }, out, size);
  const plane = size * size;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const inside = x < w && y < h;
      assert.equal(out[i], inside ? 200 + y : LETTERBOX_PAD, `B at ${x},${y}`);
      assert.equal(out[plane + i], inside ? 100 + x : LETTERBOX_PAD, `G at ${x},${y}`);
      assert.equal(out[2 * plane + i], inside ? 10 * x + y : LETTERBOX_PAD, `R at ${x},${y}`);
    }
  }

  // Same picture given as BGRA with padded rows (stride 16) must pack identically.
  const stride = 16;
  const bgra = new Uint8Array(stride * h).fill(7);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) bgra.set([200 + y, 100 + x, 10 * x + y, 255], y * stride + x * 4);
  const out2 = new Float32Array(tensorLength(size));
  packPlanarBgr({ data: bgra, width: w, height: h, channels: 4, order: 'bgr', stride }, out2, size);
  assert.deepEqual(out2, out);
});

test('packPlanarBgr rejects undersized buffers and oversize images', () => {
  const out = new Float32Array(tensorLength(4));
  assert.throws(
    () => packPlanarBgr({ data: new Uint8Array(5), width: 2, height: 2, channels: 3, order: 'bgr' }, out, 4),
    RangeError,
  );
  assert.throws(
    () => packPlanarBgr({ data: new Uint8Array(75), width: 5, height: 5, channels: 3, order: 'bgr' }, out, 4),
    RangeError,
  );
  assert.throws(
    () =>
      packPlanarBgr(
        { data: new Uint8Array(12), width: 2, height: 2, channels: 3, order: 'bgr' },
        new Float32Array(10),
        4,
      ),
    RangeError,
  );
});
