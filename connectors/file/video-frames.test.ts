import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { KuzetError } from '../../engine/errors.js';
import { repoPath } from '../../engine/paths.js';
import { videoFrames } from './video-frames.js';

test('an MP4 clip comes out as JPEG frames at the asked rate, with media times', async () => {
  // fi001.mp4: 2.12 s at 25 fps, 480x360.
  const frames = [];
  for await (const f of videoFrames(repoPath('bench', 'fixtures', 'fight-surv', 'fight', 'fi001.mp4'), 5))
    frames.push(f);
  assert.ok(frames.length >= 10 && frames.length <= 12, `${frames.length} frames`);
  assert.deepEqual(
    frames.slice(0, 3).map((f) => f.ptsMs),
    [0, 200, 400],
  );
  const meta = await sharp(frames[3].jpeg).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 480, 360]);
});

test('a file that is not video fails with a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kuzet-replay-'));
  const bad = join(dir, 'bad.mp4');
  writeFileSync(bad, Buffer.alloc(5000, 7));
  await assert.rejects(
    async () => {
      for await (const _ of videoFrames(bad, 2)) void _;
    },
    (err) =>
      err instanceof KuzetError &&
      err.code === 'KUZET_ERR_DECODE' &&
      /ffmpeg could not read/.test(err.message),
  );
  await assert.rejects(async () => {
    for await (const _ of videoFrames(join(dir, 'missing.mp4'), 2)) void _;
  }, /no such file/);
});
