import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { dynamicBatchModelPath } from '../../detectors/yolox/model.js';
import { KuzetError } from '../errors.js';
import { repoPath } from '../paths.js';
import type { Detection, Sample } from '../types.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../test/helpers.js';
import {
  DecodePool,
  Detector,
  InferPool,
  PoolQueueFullError,
  PoolWorkerCrashError,
  closeInProcessDetector,
  dropReason,
  createInProcessDetector,
  detectInProcess,
  type InProcessDetector,
} from './index.js';

const testdata = (f: string) => repoPath('detectors', 'yolox', 'testdata', f);
/** A fresh, self-owned copy each time: submitting transfers (detaches) it. */
const load = (f: string) => new Uint8Array(readFileSync(testdata(f)));

function sample(data: Uint8Array, cameraId = 'cam-1'): Sample {
  return { schoolId: 'school-1', cameraId, codec: 'h264', captureTimeMs: Date.now(), seq: 1, data };
}

function iou(a: Detection, b: { x1: number; y1: number; x2: number; y2: number }): number {
  const iw = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const ih = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = iw * ih;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

let detector: Detector;
let direct: InProcessDetector;

before(async () => {
  detector = new Detector({ decode: { threads: 1 }, infer: { threads: 1 } });
  direct = await createInProcessDetector();
});
after(async () => {
  await detector.close();
  await closeInProcessDetector(direct);
});

for (const name of ['person', 'bus', 'dog']) {
  test(`pools on ${name}.jpg give the same detections as a direct onnxruntime call`, async () => {
    const want = await detectInProcess(direct, load(`${name}.jpg`));
    const got = await detector.detectJpeg(load(`${name}.jpg`));
    assert.deepEqual([got.width, got.height], [want.width, want.height]);
    assert.equal(got.detections.length, want.detections.length);
    assert.ok(got.detections.length > 0);
    got.detections.forEach((d, i) => {
      const w = want.detections[i];
      assert.equal(d.className, w.className);
      assert.ok(Math.abs(d.score - w.score) < 1e-4);
      for (const k of ['x1', 'y1', 'x2', 'y2'] as const)
        assert.ok(Math.abs(d[k] - w[k]) <= 1, `${k}: ${d[k]} vs ${w[k]}`);
    });
    assert.ok(got.decodeMs > 0 && got.inferMs > 0);
  });
}

test('an H.264 IDR access unit decodes to 640x424 and finds the reference person', async () => {
  const data = load('person-640x424-idr.h264');
  const res = await detector.detectSample(sample(data));
  // Transferred to the decode worker, not cloned: the caller's buffer is detached.
  assert.equal(data.buffer.byteLength, 0);
  assert.equal(data.byteLength, 0);
  assert.deepEqual([res.width, res.height], [640, 424]);
  // Reference person 0.89 (232,235,87,277), centre form, from the JPEG.
  const ref = { x1: 232 - 87 / 2, y1: 235 - 277 / 2, x2: 232 + 87 / 2, y2: 235 + 277 / 2 };
  const person = res.detections
    .filter((d) => d.className === 'person')
    .sort((a, b) => iou(b, ref) - iou(a, ref))[0];
  assert.ok(person, `no person in ${JSON.stringify(res.detections)}`);
  assert.ok(iou(person, ref) >= 0.8, `IoU ${iou(person, ref)} for ${JSON.stringify(person)}`);
  assert.ok(person.score > 0.7);
  for (const cls of ['dog', 'horse'])
    assert.ok(
      res.detections.some((d) => d.className === cls),
      `missing ${cls}`,
    );
});

test('decode tensor comes back transferred, and is moved on into inference', async () => {
  const pool = new DecodePool({ threads: 1 });
  try {
    const frame = await pool.decodeSample(sample(load('person-640x424-idr.h264')));
    assert.equal(frame.tensor.length, 3 * 416 * 416);
    assert.deepEqual([frame.width, frame.height, frame.scale], [640, 424, 0.65]);
    // Planar BGR, letterboxed top-left: the bottom pad rows (276..415) are 114 in every plane.
    const plane = 416 * 416;
    for (const c of [0, 1, 2]) assert.equal(frame.tensor[c * plane + 300 * 416 + 10], 114);
    const { tensor } = await detector.inferPool.infer(frame);
    assert.equal(
      frame.tensor.buffer.byteLength,
      0,
      'tensor was cloned into the infer worker, not transferred',
    );
    // ...and its memory comes back from inference, ready for the decode pool to write the next frame into.
    assert.equal(tensor.length, 3 * 416 * 416);
    pool.recycle(tensor);
    const next = await pool.decodeJpeg(load('dog.jpg'));
    assert.equal(tensor.buffer.byteLength, 0, 'recycled tensor was not sent to the decode worker');
    assert.deepEqual([next.width, next.height], [768, 576]);
  } finally {
    await pool.close();
  }
});

test('corrupt bitstream and non-keyframes reject with KUZET_ERR_DECODE, and the pool keeps working', async () => {
  const good = load('person-640x424-idr.h264');
  const corrupt = new Uint8Array(good);
  for (let i = 800; i < corrupt.length; i += 7) corrupt[i] ^= 0x5a;
  const isDecodeError = (err: unknown) => err instanceof KuzetError && err.code === 'KUZET_ERR_DECODE';
  await assert.rejects(
    detector.detectSample(sample(corrupt)),
    (err) => isDecodeError(err) && /decode/i.test((err as Error).message),
  );
  await assert.rejects(
    detector.detectSample(sample(new Uint8Array(4096).fill(0xa5))),
    (err) => isDecodeError(err) && /keyframe/.test((err as Error).message),
  );
  // Parameter sets without the IDR slice: refused before decoding.
  const idrAt = Buffer.from(good).indexOf(Buffer.from([0, 0, 1, 0x65]));
  await assert.rejects(detector.detectSample(sample(good.slice(0, idrAt))), isDecodeError);
  await assert.rejects(detector.detectJpeg(new Uint8Array(2000).fill(0xff)), isDecodeError);
  const after = await detector.detectSample(sample(good));
  assert.deepEqual([after.width, after.height], [640, 424]);
  assert.ok(after.detections.some((d) => d.className === 'person'));
});

test('a full decode queue rejects with PoolQueueFullError (a counted drop), not a hang', async () => {
  const pool = new DecodePool({ threads: 1, maxQueue: 1 });
  try {
    const jpeg = readFileSync(testdata('person.jpg'));
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => pool.decodeJpeg(new Uint8Array(jpeg))),
    );
    const full = results.filter((r) => r.status === 'rejected' && r.reason instanceof PoolQueueFullError);
    const ok = results.filter((r) => r.status === 'fulfilled');
    assert.ok(full.length >= 1, JSON.stringify(results.map((r) => r.status)));
    assert.ok(ok.length >= 1);
    assert.equal(full.length + ok.length, results.length);
    assert.equal((full[0] as PromiseRejectedResult).reason.reason, 'queue_full');
  } finally {
    await pool.close();
  }
});

test("executionProviders ['cuda','cpu'] falls back to CPU with at most one warning", async () => {
  const warnings: string[] = [];
  const log: Logger = {
    debug: () => {},
    info: () => {},
    warn: (msg) => void warnings.push(msg),
    error: () => {},
    child: () => log,
  };
  const decode = new DecodePool();
  const infer = new InferPool({ executionProviders: ['cuda', 'cpu'], threads: 1 }, log);
  try {
    for (let i = 0; i < 2; i++) {
      const { detections } = await infer.infer(await decode.decodeJpeg(load('person.jpg')));
      assert.ok(detections.some((d) => d.className === 'person'));
    }
    // No CUDA libraries on CPU hosts: exactly one warning; on a GPU host, none.
    assert.ok(warnings.length <= 1, JSON.stringify(warnings));
  } finally {
    await Promise.all([decode.close(), infer.close()]);
  }
});

test('Detector takes the flat config shape, validates inputSize and reports queue depths', () => {
  assert.throws(
    () => new Detector({ inputSize: 640 }),
    (err) => err instanceof KuzetError && err.code === 'KUZET_ERR_CONFIG',
  );
  const st = detector.stats();
  assert.equal(st.decodeQueue, st.decode.queued);
  assert.equal(st.inferQueue, st.infer.queued);
  assert.deepEqual([st.decode.threads, st.infer.threads], [1, 1]);
});

/** Planar BGR [3,416,416] reference: `bgr` (packed, w x h) at the top-left, 114 elsewhere; written independently of packPlanarBgr. */
function referenceTensor(bgr: Uint8Array, w: number, h: number): Float32Array {
  const plane = 416 * 416;
  const t = new Float32Array(3 * plane).fill(114);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) t[c * plane + y * 416 + x] = bgr[(y * w + x) * 3 + c];
  return t;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

test('H.264 tensor equals an ffmpeg CLI letterbox of the same keyframe within 1 LSB', async () => {
  const pool = new DecodePool({ threads: 1 });
  try {
    const frame = await pool.decodeSample(sample(load('person-640x424-idr.h264')));
    // 640x424 at r = 0.65 -> 416x276, FFmpeg's bicubic scaler to planar GBR, as the decoder documents.
    const raw = execFileSync('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-i', testdata('person-640x424-idr.h264')],
      ...['-vf', 'scale=416:276:flags=bicubic', '-pix_fmt', 'gbrp', '-f', 'rawvideo', '-'],
    ]);
    const plane = 416 * 276;
    assert.equal(raw.length, plane * 3);
    const bgr = new Uint8Array(plane * 3);
    for (let i = 0; i < plane; i++) {
      bgr[i * 3] = raw[plane + i];
      bgr[i * 3 + 1] = raw[i];
      bgr[i * 3 + 2] = raw[2 * plane + i];
    }
    assert.ok(maxAbsDiff(frame.tensor, referenceTensor(bgr, 416, 276)) <= 1);
  } finally {
    await pool.close();
  }
});

for (const [name, w, h] of [
  ['bus', 312, 416],
  ['dog', 416, 312],
] as const) {
  test(`${name}.jpg tensor equals a sharp lanczos3 letterbox within 1 LSB`, async () => {
    const pool = new DecodePool({ threads: 1 });
    try {
      const frame = await pool.decodeJpeg(load(`${name}.jpg`));
      const { data, info } = await sharp(load(`${name}.jpg`))
        .resize(w, h, { fit: 'fill', kernel: 'lanczos3' })
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height, info.channels], [w, h, 3]);
      const bgr = Buffer.alloc(data.length);
      for (let i = 0; i < data.length; i += 3)
        [bgr[i], bgr[i + 1], bgr[i + 2]] = [data[i + 2], data[i + 1], data[i]];
      assert.ok(maxAbsDiff(frame.tensor, referenceTensor(bgr, w, h)) <= 1);
    } finally {
      await pool.close();
    }
  });
}

test('cameras stick to one decode worker, spread evenly over the workers', async () => {
  const pool = new DecodePool({ threads: 2 });
  try {
    const lanes = ['a', 'b', 'c', 'd'].map((cam) => pool.laneIndex('school-1', cam));
    assert.deepEqual([...lanes].sort(), [0, 0, 1, 1]);
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((cam) => pool.laneIndex('school-1', cam)),
      lanes,
    );
    // Decoding goes to the camera's lane: the other worker never sees it.
    const before = pool.workers().map((w) => w.threadId);
    for (let i = 0; i < 3; i++) await pool.decodeSample(sample(load('person-640x424-idr.h264'), 'a'));
    assert.deepEqual(
      pool.workers().map((w) => w.threadId),
      before,
    );
    assert.equal(pool.stats().threads, 2);
  } finally {
    await pool.close();
  }
});

test('a decode worker that dies is replaced and its in-flight frames reject as worker_crashed', async () => {
  const pool = new DecodePool({ threads: 1, maxQueue: 8 });
  try {
    await pool.decodeSample(sample(load('person-640x424-idr.h264')));
    const [victim] = pool.workers();
    const inflight = [0, 1, 2].map(() => pool.decodeSample(sample(load('person-640x424-idr.h264'))));
    await victim.terminate();
    const settled = await Promise.allSettled(inflight);
    const crashed = settled.filter(
      (r) => r.status === 'rejected' && r.reason instanceof PoolWorkerCrashError,
    ) as PromiseRejectedResult[];
    assert.ok(crashed.length >= 1, JSON.stringify(settled.map((r) => r.status)));
    assert.equal(dropReason(crashed[0].reason, 'decode_failed'), 'worker_crashed');
    assert.ok(settled.every((r) => r.status === 'fulfilled' || r.reason instanceof PoolWorkerCrashError));
    // A new worker took over and decodes.
    const again = await pool.decodeSample(sample(load('person-640x424-idr.h264')));
    assert.deepEqual([again.width, again.height], [640, 424]);
    assert.notEqual(pool.workers()[0].threadId, victim.threadId);
    assert.ok(pool.stats().crashes >= 1);
  } finally {
    await pool.close();
  }
});

test('an inference worker that dies is replaced and its batch rejects as worker_crashed', async () => {
  const decode = new DecodePool();
  // person.jpg is 640 wide: the fault hook kills the worker on it; dog.jpg (768) goes through.
  const infer = new InferPool({ threads: 1, faultInjection: { crashOnWidth: 640 } }, silentLogger);
  try {
    const { detections } = await infer.infer(await decode.decodeJpeg(load('dog.jpg')));
    assert.ok(detections.some((d) => d.className === 'dog'));
    const [victim] = infer.workers();
    await assert.rejects(
      infer.infer(await decode.decodeJpeg(load('person.jpg'))),
      (err) =>
        err instanceof PoolWorkerCrashError && err.stage === 'infer' && /fault injection/.test(err.message),
    );
    const again = await infer.infer(await decode.decodeJpeg(load('dog.jpg')));
    assert.ok(again.detections.some((d) => d.className === 'dog'));
    assert.notEqual(infer.workers()[0].threadId, victim.threadId);
    assert.equal(infer.stats().crashes, 1);
  } finally {
    await Promise.all([decode.close(), infer.close()]);
  }
});

test('dynamic batching: frames that arrive together run as one batch with the same detections as one by one', async () => {
  const decode = new DecodePool();
  const batched = new InferPool({ modelPath: dynamicBatchModelPath, maxBatch: 4, maxWaitMs: 200 });
  const single = new InferPool({ maxBatch: 4, maxWaitMs: 200 }, silentLogger);
  try {
    const names = ['person', 'bus', 'dog', 'person'];
    const frames = () => Promise.all(names.map((n) => decode.decodeJpeg(load(`${n}.jpg`))));
    // The pool learns the model's batch capability before real work arrives.
    await batched.whenReady();
    const outs = await Promise.all((await frames()).map((f) => batched.infer(f)));
    assert.deepEqual(
      outs.map((o) => o.batchSize),
      [4, 4, 4, 4],
    );
    assert.ok(outs.every((o) => o.queueMs >= 0 && o.inferMs > 0));
    // A fixed-batch model runs the same frames one call each, with identical detections.
    await single.whenReady();
    const ones = await Promise.all((await frames()).map((f) => single.infer(f)));
    assert.ok(ones.every((o) => o.batchSize === 1));
    outs.forEach((o, i) => {
      assert.equal(o.detections.length, ones[i].detections.length);
      o.detections.forEach((d, j) => {
        const w = ones[i].detections[j];
        assert.equal(d.className, w.className);
        assert.ok(Math.abs(d.score - w.score) < 1e-4);
        for (const k of ['x1', 'y1', 'x2', 'y2'] as const) assert.ok(Math.abs(d[k] - w[k]) < 0.01);
      });
    });
  } finally {
    await Promise.all([decode.close(), batched.close(), single.close()]);
  }
});
