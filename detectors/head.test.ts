import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KuzetError } from '../engine/errors.js';
import type { Detection } from '../engine/types.js';
import {
  classFilterIds,
  createHead,
  prepareInput,
  readLabels,
  type DetectorHead,
  type HeadDecodeOptions,
} from './head.js';
import { defaultLabelsPath } from './yolox/labels.js';

// A customer weapon model: class ids 0..3.
const labels = ['person', 'pistol', 'rifle', 'knife'];
const PERSON = 0;
const PISTOL = 1;
const KNIFE = 3;
/** Letterbox scale 0.5: a 1280x720 frame into a 640 input. */
const geometry = { scale: 0.5, srcWidth: 1280, srcHeight: 720 };
const opts: HeadDecodeOptions = { scoreThreshold: 0.5, iouThreshold: 0.45 };

/** One anchor of a synthetic output: box in input pixels, objectness (v5 only) and one class score. */
interface Anchor {
  cx: number;
  cy: number;
  w: number;
  h: number;
  obj?: number;
  classId: number;
  score: number;
}

/** YOLOv5 layout [1, anchors, 5 + C]. */
function v5Output(anchors: Anchor[]): { output: Float32Array; dims: number[] } {
  const row = 5 + labels.length;
  const output = new Float32Array(anchors.length * row);
  anchors.forEach((a, i) => {
    output.set([a.cx, a.cy, a.w, a.h, a.obj ?? 1], i * row);
    output[i * row + 5 + a.classId] = a.score;
  });
  return { output, dims: [1, anchors.length, row] };
}

/** YOLOv8 layout [1, 4 + C, anchors] (transposed, no objectness). */
function v8Output(anchors: Anchor[]): { output: Float32Array; dims: number[] } {
  const n = anchors.length;
  const planes = 4 + labels.length;
  const output = new Float32Array(planes * n);
  anchors.forEach((a, i) => {
    output[i] = a.cx;
    output[n + i] = a.cy;
    output[2 * n + i] = a.w;
    output[3 * n + i] = a.h;
    output[(4 + a.classId) * n + i] = a.score * (a.obj ?? 1);
  });
  return { output, dims: [1, planes, n] };
}

const layouts = [
  ['yolov5', v5Output],
  ['yolov8', v8Output],
] as const;

function summary(dets: Detection[]): string[] {
  return dets.map((d) => `${d.className} ${d.score.toFixed(2)}`).sort();
}

for (const [kind, build] of layouts) {
  const head: DetectorHead = createHead(kind, labels, 640);

  test(`${kind}: a known box decodes to source pixels`, () => {
    const { output, dims } = build([
      { cx: 100, cy: 80, w: 40, h: 60, obj: 0.9, classId: PERSON, score: 0.9 },
    ]);
    const [d] = head.decode(output, dims, geometry, opts);
    assert.equal(d.className, 'person');
    assert.equal(d.classId, PERSON);
    assert.ok(Math.abs(d.score - 0.81) < 1e-6, `score ${d.score}`);
    // (100 +- 20, 80 +- 30) in input pixels, divided by the scale 0.5.
    assert.deepEqual([d.x1, d.y1, d.x2, d.y2], [160, 100, 240, 220]);
    assert.equal(d.trackId, null);
  });

  test(`${kind}: a per-class threshold keeps a 0.3 pistol while the global 0.5 drops a 0.3 person`, () => {
    const { output, dims } = build([
      { cx: 100, cy: 100, w: 20, h: 20, classId: PISTOL, score: 0.3 },
      { cx: 300, cy: 300, w: 50, h: 100, classId: PERSON, score: 0.3 },
    ]);
    assert.deepEqual(head.decode(output, dims, geometry, opts), []);
    const perClass = { ...opts, classThresholds: new Map([[PISTOL, 0.25]]) };
    assert.deepEqual(summary(head.decode(output, dims, geometry, perClass)), ['pistol 0.30']);
  });

  test(`${kind}: keepClasses reports only the listed classes`, () => {
    const { output, dims } = build([
      { cx: 100, cy: 100, w: 20, h: 20, classId: KNIFE, score: 0.8 },
      { cx: 300, cy: 300, w: 50, h: 100, classId: PERSON, score: 0.9 },
    ]);
    assert.deepEqual(summary(head.decode(output, dims, geometry, opts)), ['knife 0.80', 'person 0.90']);
    const weapons = { ...opts, keepClasses: new Set([PISTOL, KNIFE]) };
    assert.deepEqual(summary(head.decode(output, dims, geometry, weapons)), ['knife 0.80']);
  });

  test(`${kind}: class-wise NMS suppresses duplicates of one class only`, () => {
    const { output, dims } = build([
      { cx: 200, cy: 200, w: 100, h: 100, classId: PERSON, score: 0.9 },
      { cx: 204, cy: 202, w: 100, h: 100, classId: PERSON, score: 0.7 },
      { cx: 202, cy: 200, w: 100, h: 100, classId: PISTOL, score: 0.6 },
      { cx: 500, cy: 200, w: 100, h: 100, classId: PERSON, score: 0.8 },
    ]);
    assert.deepEqual(summary(head.decode(output, dims, geometry, opts)), [
      'person 0.80',
      'person 0.90',
      'pistol 0.60',
    ]);
  });

  test(`${kind}: a model whose class count differs from the labels file is a model error`, () => {
    const { output, dims } = build([{ cx: 1, cy: 1, w: 1, h: 1, classId: 0, score: 0.9 }]);
    const other = createHead(kind, ['person', 'pistol'], 640);
    assert.throws(
      () => other.decode(output, dims, geometry, opts),
      (err: unknown) => err instanceof KuzetError && err.code === 'KUZET_ERR_MODEL',
    );
  });
}

test('boxes are clipped to the source frame', () => {
  const head = createHead('yolov8', labels, 640);
  const { output, dims } = v8Output([{ cx: 630, cy: 10, w: 40, h: 40, classId: KNIFE, score: 0.9 }]);
  const [d] = head.decode(output, dims, geometry, opts);
  assert.deepEqual([d.x1, d.y1, d.x2, d.y2], [1220, 0, 1280, 60]);
});

test('createHead picks the adapter and its input convention', () => {
  const coco = readLabels(defaultLabelsPath);
  assert.equal(coco.length, 80);
  const yolox = createHead('yolox', coco, 416);
  assert.deepEqual([yolox.kind, yolox.inputSize, yolox.input], ['yolox', 416, { order: 'bgr', scale: 1 }]);
  for (const kind of ['yolov5', 'yolov8'] as const) {
    const h = createHead(kind, labels, 320);
    assert.deepEqual([h.kind, h.inputSize, h.input], [kind, 320, { order: 'rgb', scale: 1 / 255 }]);
  }
  // YOLOX checks the output shape against its anchor grid before decoding.
  assert.throws(
    () => yolox.decode(new Float32Array(85), [1, 1, 85], geometry, opts),
    (err: unknown) => err instanceof KuzetError && err.code === 'KUZET_ERR_MODEL',
  );
});

test('prepareInput swaps B and R planes and scales in place; YOLOX input is left alone', () => {
  const head = createHead('yolov8', labels, 2);
  // Planar BGR: B plane 10s, G plane 20s, R plane 30s, one pixel per value.
  const bgr = [10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33];
  const t = new Float32Array(bgr);
  assert.equal(prepareInput(t, head), t);
  const expected = [30, 31, 32, 33, 20, 21, 22, 23, 10, 11, 12, 13].map((v) => Math.fround(v / 255));
  t.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6, `element ${i}: ${v}`));

  const yolox = createHead('yolox', readLabels(defaultLabelsPath), 416);
  const big = new Float32Array(3 * 416 * 416).fill(114);
  big[0] = 7;
  prepareInput(big, yolox);
  assert.equal(big[0], 7);
  assert.equal(big[2 * 416 * 416], 114);
  assert.throws(() => prepareInput(new Float32Array(3), head), RangeError);
});

test('classFilterIds maps config class names to label ids and names an unknown one', () => {
  assert.deepEqual(classFilterIds(labels, { classThresholds: { pistol: 0.25, knife: 0.3 } }), {
    classThresholds: [
      [PISTOL, 0.25],
      [KNIFE, 0.3],
    ],
    keepClasses: null,
  });
  assert.deepEqual(classFilterIds(labels, { classes: ['knife', 'pistol'] }).keepClasses, [KNIFE, PISTOL]);
  assert.throws(() => classFilterIds(labels, { classThresholds: { pistl: 0.2 } }), /unknown class "pistl"/);
  assert.throws(() => classFilterIds(labels, { classes: ['gun'] }), RangeError);
});
