import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import sharp from 'sharp';
import { silentLogger } from '../../engine/test/helpers.js';
import type { Sample, VideoCodec } from '../../engine/types.js';
import type { Box } from '../analytics/types.js';
import { EvidenceStore, isEvidenceId, type EvidenceAlarm, type EvidenceDropReason } from './index.js';
import { fixtureJpeg, personIdr } from './test-frames.js';

let dir: string;
let drops: EvidenceDropReason[];
let store: EvidenceStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kuzet-evidence-'));
  drops = [];
  store = new EvidenceStore({
    dir,
    keepPerCamera: 3,
    sweepIntervalMs: 0,
    log: silentLogger,
    onDrop: (r) => drops.push(r),
  });
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function sample(
  seq: number,
  data: Uint8Array = personIdr(),
  codec: VideoCodec = 'h264',
  cameraId = 'cam-1',
): Sample {
  return { schoolId: 'school-1', cameraId, codec, captureTimeMs: Date.now(), seq, data };
}

function alarm(
  seq: number,
  box: Box | null = { x1: 200, y1: 60, x2: 320, y2: 380 },
  id = 'a1b2c3',
): EvidenceAlarm {
  return {
    id,
    kind: 'intrusion',
    severity: 'high',
    schoolId: 'school-1',
    cameraId: 'cam-1',
    score: 0.87,
    evidence: { seq, box },
  };
}

const fileOf = (id = 'a1b2c3') => join(dir, 'school-1', 'cam-1', `${id}.jpg`);

async function size(jpeg: Buffer | null): Promise<[number?, number?]> {
  assert.ok(jpeg, 'a JPEG was read');
  const meta = await sharp(jpeg).metadata();
  assert.equal(meta.format, 'jpeg');
  return [meta.width, meta.height];
}

test('remember → render → read returns the evidence JPEG, written at <dir>/<school>/<camera>/<alarm>.jpg', async () => {
  store.remember(sample(7));
  assert.equal(await store.render(alarm(7)), true);
  assert.ok(existsSync(fileOf()));
  assert.deepEqual(await size(await store.read('school-1', 'cam-1', 'a1b2c3')), [640, 424]);
  // Written through a temporary file and a rename: nothing else is left in the folder.
  assert.deepEqual(await readdir(join(dir, 'school-1', 'cam-1')), ['a1b2c3.jpg']);
  assert.deepEqual(drops, []);
  assert.equal(await store.read('school-1', 'cam-1', 'no-such-alarm'), null);
  assert.equal(await store.read('school-1', 'other-cam', 'a1b2c3'), null);
});

test('the sample is copied when remembered: detaching the original (transfer to a worker) does not matter', async () => {
  const s = sample(3);
  store.remember(s);
  structuredClone(s.data, { transfer: [s.data.buffer as ArrayBuffer] });
  assert.equal(s.data.byteLength, 0);
  assert.equal(await store.render(alarm(3)), true);
});

test('JPEG samples from snapshot cameras render too, without a box (caption only)', async () => {
  store.remember(sample(1, fixtureJpeg('bus'), 'jpeg'));
  assert.equal(await store.render(alarm(1, null)), true);
  assert.deepEqual(await size(await store.read('school-1', 'cam-1', 'a1b2c3')), [810, 1080]);
});

test('a seq that has left the ring: render false, counted as sample_gone, no file', async () => {
  for (let seq = 1; seq <= 4; seq++) store.remember(sample(seq));
  assert.equal(await store.render(alarm(1)), false);
  assert.deepEqual(drops, ['sample_gone']);
  assert.equal(await store.read('school-1', 'cam-1', 'a1b2c3'), null);
  // The alarm's next state changes (confirmed, acknowledged) carry the same evidence: counted once.
  assert.equal(await store.render(alarm(1)), false);
  assert.deepEqual(drops, ['sample_gone']);
  // Another camera's samples are not this camera's.
  store.remember(sample(9, personIdr(), 'h264', 'cam-2'));
  assert.equal(await store.render(alarm(9)), false);
  assert.deepEqual(drops, ['sample_gone', 'sample_gone']);
});

test('a changed evidence seq re-renders; the same evidence again does not', async () => {
  store.remember(sample(1));
  store.remember(sample(2, fixtureJpeg('bus'), 'jpeg'));
  assert.equal(await store.render(alarm(1)), true);
  const first = await stat(fileOf());
  assert.deepEqual(await size(await store.read('school-1', 'cam-1', 'a1b2c3')), [640, 424]);

  assert.equal(await store.render(alarm(1)), true);
  assert.equal((await stat(fileOf())).ino, first.ino, 'same evidence: file not rewritten');

  assert.equal(await store.render(alarm(2)), true);
  assert.notEqual((await stat(fileOf())).ino, first.ino);
  assert.deepEqual(await size(await store.read('school-1', 'cam-1', 'a1b2c3')), [810, 1080]);

  // A new box on the same frame is new evidence too.
  const beforeBox = (await stat(fileOf())).ino;
  assert.equal(await store.render(alarm(2, { x1: 10, y1: 10, x2: 100, y2: 100 })), true);
  assert.notEqual((await stat(fileOf())).ino, beforeBox);
  assert.deepEqual(drops, []);
});

test('concurrent renders of one alarm share one render; read waits for it', async () => {
  store.remember(sample(5));
  const calls = [store.render(alarm(5)), store.render(alarm(5)), store.render(alarm(5))];
  assert.equal(calls[1], calls[0]);
  assert.equal(calls[2], calls[0]);
  // Not awaited: read must wait for the render in progress rather than answer null.
  assert.deepEqual(await size(await store.read('school-1', 'cam-1', 'a1b2c3')), [640, 424]);
  assert.deepEqual(await Promise.all(calls), [true, true, true]);
});

test('evidence changing during a render: the file ends with the latest, from the sample held at the call', async () => {
  await store.close();
  store = new EvidenceStore({ dir, keepPerCamera: 1, sweepIntervalMs: 0, log: silentLogger });
  store.remember(sample(1));
  const a = store.render(alarm(1));
  store.remember(sample(2, fixtureJpeg('bus'), 'jpeg'));
  const b = store.render(alarm(2));
  // Seq 1 has now left the one-slot ring, but its render took its copy when called.
  assert.deepEqual(await Promise.all([a, b]), [true, true]);
  assert.deepEqual(await size(await store.read('school-1', 'cam-1', 'a1b2c3')), [810, 1080]);
});

test('a frame that cannot be decoded: render false, counted as render_failed, earlier evidence kept', async () => {
  store.remember(sample(1));
  assert.equal(await store.render(alarm(1)), true);
  store.remember(sample(2, new Uint8Array([0, 0, 0, 1, 0x65, 1, 2, 3])));
  assert.equal(await store.render(alarm(2)), false);
  assert.deepEqual(drops, ['render_failed']);
  assert.deepEqual(await size(await store.read('school-1', 'cam-1', 'a1b2c3')), [640, 424]);
});

test('ids that are not one safe path segment are refused: read rejects, render counts a drop', async () => {
  for (const bad of ['../x', '..', '.', 'a/b', 'a\\b', '', 'x'.repeat(129), 'a b', '%2e%2e'])
    assert.equal(isEvidenceId(bad), false, bad);
  assert.ok(isEvidenceId('9f1c2d3e-aaaa-4bbb-8ccc-0123456789ab'));
  await assert.rejects(store.read('school-1', 'cam-1', '../../etc/passwd'), RangeError);
  await assert.rejects(store.read('..', 'cam-1', 'a1b2c3'), RangeError);
  await assert.rejects(store.read('school-1', '../cam-1', 'a1b2c3'), RangeError);
  store.remember(sample(1));
  assert.equal(await store.render({ ...alarm(1), id: '../escape' }), false);
  assert.deepEqual(drops, ['render_failed']);
  assert.deepEqual(await readdir(dir), []);
});

test('retention sweep deletes evidence older than retentionDays and stale temp files, nothing else', async () => {
  store.remember(sample(1));
  assert.equal(await store.render(alarm(1, null, 'fresh')), true);
  assert.equal(await store.render(alarm(1, null, 'old')), true);
  const folder = join(dir, 'school-1', 'cam-1');
  const day = 86_400_000;
  const ago = (ms: number) => new Date(Date.now() - ms);
  await utimes(join(folder, 'old.jpg'), ago(31 * day), ago(31 * day));
  await utimes(join(folder, 'fresh.jpg'), ago(29 * day), ago(29 * day));
  await writeFile(join(folder, '.crashed.1.1.tmp'), 'x');
  await utimes(join(folder, '.crashed.1.1.tmp'), ago(2 * 3_600_000), ago(2 * 3_600_000));
  await writeFile(join(folder, '.writing.1.2.tmp'), 'x');
  // Not a name the store writes: a misconfigured dir must not lose other files.
  await writeFile(join(folder, 'notes.txt'), 'x');
  await utimes(join(folder, 'notes.txt'), ago(400 * day), ago(400 * day));
  await mkdir(join(dir, 'other'));

  assert.equal(await store.sweep(), 2);
  assert.deepEqual((await readdir(folder)).sort(), ['.writing.1.2.tmp', 'fresh.jpg', 'notes.txt']);
  assert.equal(await store.read('school-1', 'cam-1', 'old'), null);
});

test('the periodic sweep runs on its own timer (first run after min(interval, 10 s))', async () => {
  await store.close();
  store = new EvidenceStore({ dir, retentionDays: 1, sweepIntervalMs: 20, log: silentLogger });
  const folder = join(dir, 's', 'c');
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'old.jpg'), 'x');
  await utimes(
    join(folder, 'old.jpg'),
    new Date(Date.now() - 2 * 86_400_000),
    new Date(Date.now() - 2 * 86_400_000),
  );
  for (let i = 0; i < 100 && existsSync(join(folder, 'old.jpg')); i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.equal(existsSync(join(folder, 'old.jpg')), false);
});

test('remember copies into reused buffers: held bytes stop growing once the ring is warm', () => {
  const data = personIdr();
  for (let seq = 1; seq <= 3; seq++) store.remember(sample(seq, data));
  const warm = store.heldBytes;
  assert.ok(warm >= 3 * data.byteLength && warm < 4 * data.byteLength, `${warm} bytes for 3 samples`);
  for (let seq = 4; seq <= 50; seq++)
    store.remember(sample(seq, data.subarray(0, data.byteLength - (seq % 5))));
  assert.equal(store.heldBytes, warm);
  store.forgetCamera('school-1', 'cam-1');
  assert.equal(store.heldBytes, 0);
});

test('close waits for renders in progress; renders after close resolve false', async () => {
  store.remember(sample(1));
  const pending = store.render(alarm(1));
  await store.close();
  assert.ok(existsSync(fileOf()), 'the pending render finished before close resolved');
  assert.equal(await pending, true);
  assert.equal(await store.render(alarm(1, null, 'late')), false);
});

test('options are checked with the name of the bad one', () => {
  assert.throws(() => new EvidenceStore({ dir: '' }), /options\.dir/);
  assert.throws(() => new EvidenceStore({ dir, keepPerCamera: 0 }), /options\.keepPerCamera/);
  assert.throws(() => new EvidenceStore({ dir, retentionDays: 0 }), /options\.retentionDays/);
  assert.throws(() => new EvidenceStore({ dir, jpegQuality: 101 }), /options\.jpegQuality/);
});
