import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { repoPath } from '../../engine/paths.js';
import type { Detection } from '../../engine/types.js';
import { letterboxJpeg } from '../jpeg-letterbox.js';
import { YoloxDecoder } from './decode.js';
import { loadLabels } from './labels.js';
import { createYoloxSession, runYolox, type YoloxSession } from './session.js';

/** Reference detections from models/README.md, source pixels as [class, score, cx, cy, w, h]. */
type Ref = [string, number, number, number, number, number];
const references: Record<string, Ref[]> = {
  person: [
    ['person', 0.89, 232, 235, 87, 277],
    ['dog', 0.88, 131, 307, 140, 86],
    ['horse', 0.88, 503, 241, 200, 206],
  ],
  bus: [
    ['bus', 0.91, 407, 483, 799, 505],
    ['person', 0.85, 132, 646, 164, 508],
    ['person', 0.82, 284, 629, 131, 453],
    ['person', 0.69, 747, 661, 127, 431],
  ],
  dog: [
    ['dog', 0.85, 228, 374, 190, 337],
    ['car', 0.82, 580, 125, 226, 93],
    ['bicycle', 0.82, 316, 280, 511, 295],
  ],
};

const labels = loadLabels();
let yolox: YoloxSession;

before(async () => {
  yolox = await createYoloxSession({});
});
after(async () => {
  await yolox.session.release();
});

function corners([, , cx, cy, w, h]: Ref): [number, number, number, number] {
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
}

for (const [name, refs] of Object.entries(references)) {
  test(`YOLOX-Nano on ${name}.jpg matches the reference detections`, async () => {
    const jpeg = readFileSync(repoPath('detectors', 'yolox', 'testdata', `${name}.jpg`));
    // lanczos3 is sharp's default kernel, which is what the references were made with.
    const { tensor, geometry } = await letterboxJpeg(jpeg, undefined, 416, 'lanczos3');
    const { detections } = await runYolox(yolox.session, new YoloxDecoder(labels), tensor, geometry);
    assert.equal(
      detections.length,
      refs.length,
      `detections: ${JSON.stringify(detections.map((d) => [d.className, d.score.toFixed(2)]))}`,
    );
    const unmatched = [...detections];
    for (const ref of refs) {
      const [rx1, ry1, rx2, ry2] = corners(ref);
      const i = unmatched.findIndex(
        (d) => d.className === ref[0] && Math.abs(d.x1 - rx1) <= 4 && Math.abs(d.y1 - ry1) <= 4,
      );
      assert.ok(i >= 0, `no ${ref[0]} near (${rx1},${ry1}) in ${JSON.stringify(unmatched)}`);
      const d = unmatched.splice(i, 1)[0];
      assert.ok(Math.abs(d.score - ref[1]) <= 0.03, `${ref[0]} score ${d.score} vs ${ref[1]}`);
      for (const [got, want] of [
        [d.x1, Math.max(0, rx1)],
        [d.y1, Math.max(0, ry1)],
        [d.x2, Math.min(geometry.srcWidth, rx2)],
        [d.y2, Math.min(geometry.srcHeight, ry2)],
      ]) {
        assert.ok(
          Math.abs(got - want) <= 4,
          `${ref[0]} box ${JSON.stringify(d)} vs reference ${ref.join(',')}`,
        );
      }
      assert.equal(d.trackId, null);
      assert.equal(d.classId, labels.indexOf(ref[0]));
    }
  });
}

/** A synthetic head output with chosen anchors set, everything else zero. */
function fakeOutput(
  dec: YoloxDecoder,
  anchors: {
    index: number;
    dx: number;
    dy: number;
    lw: number;
    lh: number;
    obj: number;
    cls: Record<number, number>;
  }[],
) {
  const out = new Float32Array(dec.anchors * 85);
  for (const a of anchors) {
    const b = a.index * 85;
    out.set([a.dx, a.dy, a.lw, a.lh, a.obj], b);
    for (const [c, p] of Object.entries(a.cls)) out[b + 5 + Number(c)] = p;
  }
  return out;
}

test('decoder: grid/stride maths, letterbox scale, clipping', () => {
  const dec = new YoloxDecoder(labels);
  assert.equal(dec.anchors, 3549);
  // Stride 16 block starts at 2704; cell (gx=3, gy=2) is 2704 + 2*26 + 3.
  const out = fakeOutput(dec, [
    {
      index: 2704 + 2 * 26 + 3,
      dx: 0.5,
      dy: 0.25,
      lw: Math.log(2),
      lh: Math.log(4),
      obj: 0.9,
      cls: { 0: 0.9 },
    },
    // Stride 8, cell (0,0): a box sticking out of the frame's top-left corner gets clipped to 0.
    { index: 0, dx: 0, dy: 0, lw: Math.log(4), lh: Math.log(4), obj: 0.8, cls: { 2: 0.8 } },
  ]);
  const dets: Detection[] = dec.decode(out, { scale: 0.5, srcWidth: 800, srcHeight: 600 });
  assert.equal(dets.length, 2);
  const person = dets[0];
  // cx = (0.5+3)*16 = 56, cy = (0.25+2)*16 = 36, w = 32, h = 64 → /0.5
  assert.equal(person.className, 'person');
  assert.ok(Math.abs(person.score - 0.81) < 1e-6);
  assert.deepEqual(
    [person.x1, person.y1, person.x2, person.y2].map((v) => Math.round(v * 1000) / 1000),
    [80, 8, 144, 136],
  );
  const car = dets[1];
  assert.equal(car.className, 'car');
  assert.deepEqual([car.x1, car.y1, car.x2, car.y2], [0, 0, 32, 32]);
});

test('decoder: NMS is class-wise and keeps the best box', () => {
  const dec = new YoloxDecoder(labels);
  const base = 2704 + 10 * 26 + 10;
  const out = fakeOutput(dec, [
    { index: base, dx: 0, dy: 0, lw: Math.log(4), lh: Math.log(4), obj: 0.9, cls: { 0: 0.9, 16: 0.5 } },
    // Nearly the same box: its person (0.765) is suppressed by the first, but its dog (0.51) is the better dog
    // and suppresses the first anchor's dog (0.45) instead.
    {
      index: base + 1,
      dx: -0.1,
      dy: 0,
      lw: Math.log(4),
      lh: Math.log(4),
      obj: 0.85,
      cls: { 0: 0.9, 16: 0.6 },
    },
    // Far away person: kept.
    { index: base + 10, dx: 0, dy: 0, lw: Math.log(2), lh: Math.log(2), obj: 0.9, cls: { 0: 0.5 } },
  ]);
  const dets = dec.decode(
    out,
    { scale: 1, srcWidth: 416, srcHeight: 416 },
    { scoreThreshold: 0.35, iouThreshold: 0.45 },
  );
  const summary = dets.map((d) => `${d.className}:${d.score.toFixed(3)}`);
  assert.deepEqual(summary, ['person:0.810', 'dog:0.510', 'person:0.450']);
  // Below threshold: nothing.
  assert.deepEqual(
    dec.decode(
      out,
      { scale: 1, srcWidth: 416, srcHeight: 416 },
      { scoreThreshold: 0.95, iouThreshold: 0.45 },
    ),
    [],
  );
});
