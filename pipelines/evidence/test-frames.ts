/**
 * Real frames for the evidence tests: keyframe access units from the repository's fixtures (H.265 made by the
 * ffmpeg CLI from a fixture image) and ffmpeg CLI decodes of them to compare against.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessUnits, splitNalUnits } from '../../bench/fleet/annexb.js';
import { repoPath } from '../../engine/paths.js';

const START_CODE = Buffer.from([0, 0, 0, 1]);

/** A fresh copy each call: the engine detaches sample buffers, and tests must not share one. */
export function personIdr(): Uint8Array {
  return new Uint8Array(readFileSync(repoPath('detectors', 'yolox', 'testdata', 'person-640x424-idr.h264')));
}

/** An image fixture (`person` 640x424, `dog` 768x576, `bus` 810x1080) as JPEG bytes. */
export function fixtureJpeg(name: 'person' | 'dog' | 'bus'): Uint8Array {
  return new Uint8Array(readFileSync(repoPath('bench', 'fixtures', 'images', `${name}.jpg`)));
}

/** The first keyframe and the first non-keyframe access unit of a fixture clip, Annex B with start codes. */
export function clipAccessUnits(clip: string): { key: Uint8Array; delta: Uint8Array } {
  const aus = accessUnits(splitNalUnits(readFileSync(repoPath('bench', 'fixtures', 'clips', clip))));
  const annexB = (nalus: Buffer[]) => new Uint8Array(Buffer.concat(nalus.flatMap((n) => [START_CODE, n])));
  const key = aus.find((a) => a.keyframe);
  const delta = aus.find((a) => !a.keyframe);
  if (!key || !delta) throw new Error(`${clip}: no keyframe or no delta frame`);
  return { key: annexB(key.nalus), delta: annexB(delta.nalus) };
}

/** One H.265 IDR access unit (VPS/SPS/PPS included) encoded by the ffmpeg CLI from a fixture image. */
export function h265FromImage(name: 'person' | 'dog' | 'bus'): Uint8Array {
  const src = repoPath('bench', 'fixtures', 'images', `${name}.jpg`);
  return new Uint8Array(
    execFileSync(
      'ffmpeg',
      [
        ...['-hide_banner', '-loglevel', 'error', '-i', src, '-frames:v', '1', '-pix_fmt', 'yuv420p'],
        ...['-c:v', 'libx265', '-x265-params', 'log-level=none', '-f', 'hevc', '-'],
      ],
      { maxBuffer: 64 << 20 },
    ),
  );
}

/** The ffmpeg CLI's decode of one encoded frame (any format it reads) as packed RGB. */
export function ffmpegRgb(data: Uint8Array, format: 'h264' | 'hevc' | 'jpeg_pipe'): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'kuzet-evidence-ref-'));
  try {
    const file = join(dir, 'frame');
    writeFileSync(file, data);
    return execFileSync(
      'ffmpeg',
      [
        ...['-hide_banner', '-loglevel', 'error', '-f', format, '-i', file],
        ...['-frames:v', '1', '-pix_fmt', 'rgb24', '-f', 'rawvideo', '-'],
      ],
      { maxBuffer: 64 << 20 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
