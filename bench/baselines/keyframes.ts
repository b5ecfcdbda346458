/**
 * Keyframe access units of an H.264 clip, shaped as the RTSP sampler delivers them: one Annex B buffer per
 * IDR access unit, its SPS/PPS in front. The committed fixture clips hold only a handful of IDRs (GOP 25–100),
 * so when a clip has fewer distinct keyframes than a run needs, an all-IDR re-encode of it (`-g 1`) is made
 * once with ffmpeg and cached in `.bench/clips/`. Its bitrate is set so that its keyframes are the size of
 * the original clip's on average: H.264 decode time follows the number of coded bits, and a default-CRF
 * intra encode would be 2–3x smaller than the keyframes real cameras send.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { errorMessage, KuzetError } from '../../engine/errors.js';
import { accessUnits, splitNalUnits } from '../fleet/annexb.js';
import { clipCacheDir } from '../fleet/clips.js';

const run = promisify(execFile);
const START_CODE = Buffer.from([0, 0, 0, 1]);
const SPS = 7;
const PPS = 8;

export interface Keyframes {
  /** Distinct keyframe access units, in stream order (Annex B, parameter sets included). */
  units: Uint8Array[];
  /** The file they were taken from: the clip itself, or its cached all-IDR re-encode. */
  file: string;
  /** True when `file` is the all-IDR re-encode. */
  reencoded: boolean;
  width: number;
  height: number;
  /** Mean bytes per keyframe access unit of the original clip and of `units`. */
  originalMeanBytes: number;
  meanBytes: number;
}

/** IDR access units of an Annex B H.264 buffer, each with the SPS/PPS last seen before it prepended if it lacks them. */
export function keyframeUnits(stream: Buffer): Uint8Array[] {
  const out: Uint8Array[] = [];
  let sps: Buffer | null = null;
  let pps: Buffer | null = null;
  for (const au of accessUnits(splitNalUnits(stream))) {
    for (const nal of au.nalus) {
      const t = nal[0] & 0x1f;
      if (t === SPS) sps = nal;
      else if (t === PPS) pps = nal;
    }
    if (!au.keyframe) continue;
    const has = (type: number) => au.nalus.some((n) => (n[0] & 0x1f) === type);
    const nalus = [...(!has(SPS) && sps ? [sps] : []), ...(!has(PPS) && pps ? [pps] : []), ...au.nalus];
    const parts = nalus.flatMap((n) => [START_CODE, n]);
    out.push(new Uint8Array(Buffer.concat(parts)));
  }
  return out;
}

const mean = (units: readonly Uint8Array[]) =>
  units.length === 0 ? 0 : units.reduce((s, u) => s + u.byteLength, 0) / units.length;

async function probeSize(file: string): Promise<{ width: number; height: number; fps: number }> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=width,height,r_frame_rate',
    '-of',
    'csv=p=0',
    file,
  ]);
  const [w, h, rate] = stdout.trim().split(',');
  const [num, den] = (rate ?? '25/1').split('/').map(Number);
  const fps = num > 0 && den > 0 ? num / den : 25;
  return { width: Number(w), height: Number(h), fps };
}

/**
 * Keyframes of `clip`. With fewer than `minDistinct` IDRs in it, they come from an all-IDR re-encode at the
 * clip's own resolution and frame rate whose mean keyframe size matches the original's.
 */
export async function loadKeyframes(clip: string, minDistinct: number): Promise<Keyframes> {
  if (!existsSync(clip)) throw new KuzetError('KUZET_ERR_CONFIG', `decode bench: clip ${clip} not found`);
  const original = keyframeUnits(readFileSync(clip));
  if (original.length === 0)
    throw new KuzetError('KUZET_ERR_CONFIG', `decode bench: no H.264 IDR access unit in ${clip}`);
  const { width, height, fps } = await probeSize(clip);
  const originalMeanBytes = mean(original);
  if (original.length >= minDistinct) {
    return {
      units: original,
      file: clip,
      reencoded: false,
      width,
      height,
      originalMeanBytes,
      meanBytes: originalMeanBytes,
    };
  }
  const kbps = Math.max(100, Math.round((originalMeanBytes * 8 * fps) / 1000));
  const dir = clipCacheDir();
  const file = join(dir, `${basename(clip).replace(/\.h264$/, '')}-allidr-${kbps}k.h264`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await run(
        'ffmpeg',
        [
          '-hide_banner',
          '-loglevel',
          'error',
          '-y',
          '-f',
          'h264',
          '-i',
          clip,
          '-an',
          '-c:v',
          'libx264',
          '-preset',
          'fast',
          '-profile:v',
          'main',
          '-pix_fmt',
          'yuv420p',
          '-g',
          '1',
          '-bf',
          '0',
          '-b:v',
          `${kbps}k`,
          '-maxrate',
          `${kbps}k`,
          '-bufsize',
          `${2 * kbps}k`,
          '-x264-params',
          'repeat-headers=1:aud=0',
          '-f',
          'h264',
          tmp,
        ],
        { maxBuffer: 1024 * 1024 },
      );
    } catch (err) {
      rmSync(tmp, { force: true });
      throw new KuzetError(
        'KUZET_ERR_CONFIG',
        `decode bench: all-IDR re-encode of ${clip} failed (ffmpeg with libx264 needed): ${errorMessage(err)}`,
        { cause: err },
      );
    }
    renameSync(tmp, file);
  }
  const units = keyframeUnits(readFileSync(file));
  return { units, file, reencoded: true, width, height, originalMeanBytes, meanBytes: mean(units) };
}
