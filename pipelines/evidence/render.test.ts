import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { KuzetError } from '../../engine/errors.js';
import type { Box } from '../analytics/types.js';
import { overlaySvg, renderEvidenceJpeg, type RenderEvidenceInput } from './render.js';
import { clipAccessUnits, ffmpegRgb, fixtureJpeg, h265FromImage, personIdr } from './test-frames.js';

interface Raw {
  data: Buffer;
  width: number;
  height: number;
}

async function decodeJpeg(jpeg: Buffer): Promise<Raw> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return { data, width: info.width, height: info.height };
}

function pixel(img: Raw, x: number, y: number): [number, number, number] {
  const i = (y * img.width + x) * 3;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
}

/** Mean absolute difference of two packed RGB images of one size over a rectangle. */
function meanAbsDiff(a: Raw, b: Buffer, r: Box): number {
  let sum = 0;
  let n = 0;
  for (let y = r.y1; y < r.y2; y++) {
    for (let x = r.x1; x < r.x2; x++) {
      const i = (y * a.width + x) * 3;
      for (let c = 0; c < 3; c++) sum += Math.abs(a.data[i + c] - b[i + c]);
      n += 3;
    }
  }
  return sum / n;
}

const GREEN = '#00ff00';
const isGreen = ([r, g, b]: [number, number, number]) => r < 70 && g > 190 && b < 70;

/**
 * Renders one box in the left part of the frame and checks: source size, the box's border lines are its colour,
 * its label sits above it in that colour with text drawn in it, and the right part of the frame (far from box and
 * label) is the ffmpeg CLI's decode of the same frame within JPEG error, while differing from a flat frame.
 */
async function checkRender(
  input: Omit<RenderEvidenceInput, 'boxes'>,
  reference: Buffer,
  width: number,
  height: number,
): Promise<void> {
  const box = { x1: 40, y1: 80, x2: Math.round(width * 0.35), y2: height - 40 };
  const {
    jpeg,
    width: w,
    height: h,
  } = await renderEvidenceJpeg({
    ...input,
    boxes: [{ box, label: 'intrusion 0.87', color: GREEN }],
  });
  assert.deepEqual([w, h], [width, height]);
  const meta = await sharp(jpeg).metadata();
  assert.equal(meta.format, 'jpeg');
  assert.deepEqual([meta.width, meta.height], [width, height]);
  const img = await decodeJpeg(jpeg);
  assert.equal(reference.length, width * height * 3, 'reference decode has the source size');

  // The stroke (>= 3 px) lies inside the box: sample the middle of each of the four lines.
  const midX = Math.round((box.x1 + box.x2) / 2);
  const midY = Math.round((box.y1 + box.y2) / 2);
  for (const [x, y] of [
    [box.x1 + 1, midY],
    [box.x2 - 2, midY],
    [midX, box.y2 - 2],
    [box.x1 + 1, box.y1 + 1],
  ]) {
    assert.ok(isGreen(pixel(img, x, y)), `border pixel (${x},${y}) is ${pixel(img, x, y)}, expected green`);
  }
  // Label: a green band above the box with dark (black-on-green) text glyphs in it.
  const font = Math.max(12, Math.round(height / 36));
  const labelH = font + 2 * Math.max(2, Math.round(font / 5));
  assert.ok(isGreen(pixel(img, box.x1 + 1, box.y1 - labelH + 1)), 'label background is the box colour');
  let dark = 0;
  for (let y = box.y1 - labelH; y < box.y1; y++)
    for (let x = box.x1; x < box.x1 + font * 8; x++) if (pixel(img, x, y)[1] < 80) dark++;
  assert.ok(dark > font * 4, `label text is drawn (${dark} dark pixels)`);

  const far = { x1: Math.round(width * 0.55), y1: 0, x2: width, y2: height };
  const diff = meanAbsDiff(img, reference, far);
  assert.ok(
    diff < 4,
    `far from the box the evidence matches ffmpeg's decode: mean |diff| ${diff.toFixed(2)}`,
  );
  const flat = meanAbsDiff(img, Buffer.alloc(reference.length, 128), far);
  assert.ok(flat > 20, `and the frame is not blank (mean |diff| to grey ${flat.toFixed(1)})`);
}

test('H.264 keyframe: evidence at source size, box and label drawn, frame equals ffmpeg decode', async () => {
  const data = personIdr();
  await checkRender({ codec: 'h264', data }, ffmpegRgb(data, 'h264'), 640, 424);
});

test('H.264 keyframe of a portrait 810x1080 clip', async () => {
  const { key } = clipAccessUnits('bus-810x1080.h264');
  await checkRender({ codec: 'h264', data: key }, ffmpegRgb(key, 'h264'), 810, 1080);
});

test('H.265 keyframe (VPS/SPS/PPS + IDR made by ffmpeg from dog.jpg)', async () => {
  const data = h265FromImage('dog');
  await checkRender({ codec: 'h265', data }, ffmpegRgb(data, 'hevc'), 768, 576);
});

test('JPEG still from a snapshot camera', async () => {
  const data = fixtureJpeg('person');
  await checkRender({ codec: 'jpeg', data }, ffmpegRgb(data, 'jpeg_pipe'), 640, 424);
});

test('a box partly outside the frame is clamped: its right edge is drawn on the last columns', async () => {
  const data = personIdr();
  const { jpeg } = await renderEvidenceJpeg({
    codec: 'h264',
    data,
    boxes: [{ box: { x1: 500, y1: 100, x2: 900, y2: 300 }, label: 'x', color: GREEN }],
  });
  const img = await decodeJpeg(jpeg);
  assert.ok(isGreen(pixel(img, 638, 200)), `right edge at the frame's edge: ${pixel(img, 638, 200)}`);
  assert.ok(isGreen(pixel(img, 501, 200)));
});

test('overlay: clamps, skips boxes outside the frame or not finite, escapes label text', () => {
  assert.equal(overlaySvg(640, 480, []), null);
  assert.equal(overlaySvg(640, 480, [{ box: { x1: 700, y1: 10, x2: 800, y2: 50 }, label: 'off' }]), null);
  assert.equal(overlaySvg(640, 480, [{ box: { x1: NaN, y1: 10, x2: 80, y2: 50 }, label: 'nan' }]), null);
  const svg = overlaySvg(640, 480, [
    { box: { x1: -50, y1: -10, x2: 100, y2: 100 }, label: '<b>&"\u0000</b>' },
  ])!;
  assert.match(svg, /<rect x="1.5" y="1.5" width="97" height="97"/);
  assert.match(svg, /&lt;b&gt;&amp;&quot; &lt;\/b&gt;/);
  assert.ok(!svg.includes('<b>'));
  // Caption only (alarms without a box): a banner in the corner.
  assert.match(overlaySvg(640, 480, [], 'camera-tamper 0.91')!, /camera-tamper 0\.91/);
});

test('a colour that is not #rgb/#rrggbb is refused (it would be pasted into SVG)', async () => {
  await assert.rejects(
    renderEvidenceJpeg({
      codec: 'h264',
      data: personIdr(),
      boxes: [{ box: { x1: 1, y1: 1, x2: 9, y2: 9 }, label: 'x', color: 'red" onload="x' }],
    }),
    RangeError,
  );
});

test('a non-keyframe or a corrupt input is a KUZET_ERR_DECODE error naming the problem', async () => {
  const { delta } = clipAccessUnits('person-640x424.h264');
  await assert.rejects(
    renderEvidenceJpeg({ codec: 'h264', data: delta, boxes: [] }),
    (err: unknown) =>
      err instanceof KuzetError && err.code === 'KUZET_ERR_DECODE' && /keyframe/.test(err.message),
  );
  await assert.rejects(
    renderEvidenceJpeg({ codec: 'jpeg', data: new Uint8Array([1, 2, 3, 4]), boxes: [] }),
    (err: unknown) => err instanceof KuzetError && err.code === 'KUZET_ERR_DECODE',
  );
  const idr = personIdr();
  await assert.rejects(
    renderEvidenceJpeg({ codec: 'h264', data: idr.subarray(0, 200), boxes: [] }),
    (err: unknown) => err instanceof KuzetError && err.code === 'KUZET_ERR_DECODE',
  );
});
