import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoPath } from '../../engine/paths.js';
import { BitReader, parseH264Sps, parseH265Sps, unescapeRbsp } from './sps.js';

/** The first NAL unit of `data` (Annex B) that `is` accepts, without start code. */
function firstNal(data: Uint8Array, is: (nal: Uint8Array) => boolean): Uint8Array {
  const starts: number[] = [];
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      starts.push(i + 3);
      i += 2;
    }
  }
  for (let k = 0; k < starts.length; k++) {
    let end = k + 1 < starts.length ? starts[k + 1] - 3 : data.length;
    while (end > starts[k] && data[end - 1] === 0) end--; // 4-byte start codes leave a zero behind
    const nal = data.subarray(starts[k], end);
    if (is(nal)) return nal;
  }
  throw new Error('NAL unit not found');
}

test('Exp-Golomb: ue and se codes, emulation prevention removed', () => {
  // 1 | 010 | 011 | 00100 | 00101 → ue 0,1,2,3 ; then se of 00101 (k=4) = -2
  const r = new BitReader(Uint8Array.of(0b10100110, 0b01000010, 0b10000000));
  assert.deepEqual([r.ue(), r.ue(), r.ue(), r.ue()], [0, 1, 2, 3]);
  const s = new BitReader(Uint8Array.of(0b00101010));
  assert.equal(s.se(), -2);
  assert.equal(s.se(), 1);
  assert.deepEqual([...unescapeRbsp(Uint8Array.of(0x67, 0, 0, 3, 1, 0, 0, 3), 1)], [0, 0, 1, 0, 0]);
  assert.throws(() => new BitReader(Uint8Array.of(0)).ue(), RangeError);
});

for (const [clip, width, height] of [
  ['demo-640x360.h264', 640, 360],
  ['person-640x424.h264', 640, 424],
  ['bus-810x1080.h264', 810, 1080],
] as const) {
  test(`H.264 SPS of ${clip}: ${width}x${height}, cropping applied, Main profile`, () => {
    const sps = parseH264Sps(
      firstNal(readFileSync(repoPath('bench/fixtures/clips', clip)), (n) => (n[0] & 0x1f) === 7),
    );
    assert.equal(sps.width, width);
    assert.equal(sps.height, height);
    assert.equal(sps.profile, 'Main'); // ffprobe says Main for all three
    assert.equal(sps.profileIdc, 77);
    assert.ok(sps.levelIdc >= 10 && sps.levelIdc <= 62);
  });
}

test('H.264 High profile SPS made by ffmpeg (chroma_format_idc, odd size)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kuzet-sps-'));
  try {
    const file = join(dir, 'high.h264');
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=322x182:rate=25',
      '-frames:v',
      '1',
      '-c:v',
      'libx264',
      '-profile:v',
      'high',
      '-pix_fmt',
      'yuv420p',
      file,
    ]);
    const sps = parseH264Sps(firstNal(readFileSync(file), (n) => (n[0] & 0x1f) === 7));
    assert.deepEqual([sps.profile, sps.width, sps.height], ['High', 322, 182]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('H.265 SPS made by ffmpeg/libx265: Main, size with conformance window', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kuzet-sps-'));
  try {
    for (const [w, h, pix, profile] of [
      [320, 180, 'yuv420p', 'Main'],
      [200, 114, 'yuv420p10le', 'Main 10'],
    ] as const) {
      const file = join(dir, `${w}x${h}.h265`);
      execFileSync('ffmpeg', [
        '-v',
        'error',
        '-f',
        'lavfi',
        '-i',
        `testsrc=size=${w}x${h}:rate=25`,
        '-frames:v',
        '1',
        '-c:v',
        'libx265',
        '-x265-params',
        'log-level=error',
        '-pix_fmt',
        pix,
        file,
      ]);
      const sps = parseH265Sps(firstNal(readFileSync(file), (n) => ((n[0] >> 1) & 0x3f) === 33));
      assert.deepEqual([sps.profile, sps.width, sps.height], [profile, w, h]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SPS parsers reject other NAL units and truncated input', () => {
  assert.throws(() => parseH264Sps(Uint8Array.of(0x68, 1, 2, 3)), RangeError);
  assert.throws(() => parseH265Sps(Uint8Array.of(0x40, 1, 2, 3)), RangeError);
  assert.throws(() => parseH264Sps(Uint8Array.of(0x67, 0x4d, 0x40, 0x1e)), RangeError);
});
