/**
 * Pre-encoded clips for the fleet, made with ffmpeg on demand and cached in `.bench/clips/`
 * (gitignored). Resolution, bitrate, GOP and B-frames are properties of the clip, so cameras that
 * differ in them play different clips; the fleet itself never encodes.
 *
 * The source is the committed demo footage (real people, 640×360), looped and scaled: content
 * that moves compresses like CCTV does, where a synthetic test pattern would hit the bitrate with
 * unrealistically few bits in motion.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { errorMessage, KuzetError } from '../../engine/errors.js';
import { repoPath } from '../../engine/paths.js';
import type { ClipCodec } from './annexb.js';

const run = promisify(execFile);

export interface ClipSpec {
  codec: ClipCodec;
  width: number;
  height: number;
  /** Frames per second (default 25). */
  fps?: number;
  /** Frames from one IDR to the next, fixed (default 2 × fps). */
  gop?: number;
  /** Target bitrate in kbit/s (default 1000), CBR-like (maxrate = target, 2 s buffer). */
  kbps?: number;
  /** Consecutive B-frames (default 0). The fleet stamps RTP in decode order, so presentation timestamps of B-frame clips are off by design. */
  bframes?: number;
  /** Clip length; keep it a multiple of gop / fps so the loop restarts on a GOP boundary (default 20). */
  seconds?: number;
  /** Source: an Annex B H.264 file at `fps` (default the demo clip, 12.56 s; repeated as needed). */
  source?: string;
}

/** Where clips are cached (gitignored). */
export const clipCacheDir = (): string => repoPath('.bench', 'clips');

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1)
    throw new KuzetError('KUZET_ERR_CONFIG', `clip.${name}: must be a positive integer (got ${v})`);
  return v;
}

/** File name of a spec: every parameter that changes the bytes is in it. */
export function clipName(spec: ClipSpec): string {
  const fps = spec.fps ?? 25;
  const gop = spec.gop ?? 2 * fps;
  const ext = spec.codec === 'h265' ? 'h265' : 'h264';
  return `${spec.codec}-${spec.width}x${spec.height}-${fps}fps-gop${gop}-${spec.kbps ?? 1000}k-b${spec.bframes ?? 0}-${spec.seconds ?? 20}s.${ext}`;
}

const pending = new Map<string, Promise<string>>();

/**
 * Path of an Annex B clip matching `spec`, encoding it first if it is not cached. Parameter sets
 * are repeated before every IDR (as cameras do), GOPs are closed and fixed (no scene-cut IDRs).
 */
export function ensureClip(spec: ClipSpec): Promise<string> {
  const fps = positiveInt('fps', spec.fps ?? 25);
  const gop = positiveInt('gop', spec.gop ?? 2 * fps);
  const kbps = positiveInt('kbps', spec.kbps ?? 1000);
  const seconds = positiveInt('seconds', spec.seconds ?? 20);
  const bframes = spec.bframes ?? 0;
  positiveInt('width', spec.width);
  positiveInt('height', spec.height);
  const dir = clipCacheDir();
  const file = join(dir, clipName(spec));
  if (existsSync(file)) return Promise.resolve(file);
  const inflight = pending.get(file);
  if (inflight) return inflight;
  const source = spec.source ?? repoPath('bench/fixtures/clips/demo-640x360.h264');
  const tmp = `${file}.${process.pid}.tmp`;
  const looped = `${file}.${process.pid}.src.h264`;
  // Raw H.264 cannot be -stream_loop'ed (no seeking), but Annex B streams concatenate.
  const common = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'h264',
    '-r',
    String(fps),
    '-i',
    looped,
    '-t',
    String(seconds),
  ];
  const vf = [
    '-vf',
    `scale=${spec.width}:${spec.height}:flags=bicubic,setsar=1`,
    '-r',
    String(fps),
    '-pix_fmt',
    'yuv420p',
    '-an',
  ];
  const rate = ['-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${2 * kbps}k`];
  const codecArgs =
    spec.codec === 'h265'
      ? [
          '-c:v',
          'libx265',
          '-preset',
          'fast',
          ...rate,
          '-x265-params',
          `log-level=error:keyint=${gop}:min-keyint=${gop}:scenecut=0:open-gop=0:bframes=${bframes}:repeat-headers=1`,
          '-f',
          'hevc',
        ]
      : [
          '-c:v',
          'libx264',
          '-preset',
          'fast',
          '-profile:v',
          'main',
          ...rate,
          '-g',
          String(gop),
          '-keyint_min',
          String(gop),
          '-sc_threshold',
          '0',
          '-bf',
          String(bframes),
          '-x264-params',
          'repeat-headers=1:aud=0',
          '-f',
          'h264',
        ];
  const p = (async () => {
    mkdirSync(dir, { recursive: true });
    try {
      const src = readFileSync(source);
      // Assume at least 1 s of video per 200 kB of source, generous for 640×360 at 1–2 Mbit/s; ffmpeg's -t cuts the rest.
      const copies = Math.max(2, Math.ceil((seconds * 200_000) / src.length) + 1);
      writeFileSync(looped, Buffer.concat(Array.from({ length: copies }, () => src)));
      await run('ffmpeg', [...common, ...vf, ...codecArgs, tmp], { maxBuffer: 1024 * 1024 });
    } catch (err) {
      rmSync(tmp, { force: true });
      throw new KuzetError(
        'KUZET_ERR_CONFIG',
        `ensureClip ${clipName(spec)}: ffmpeg failed (is ffmpeg with libx264/libx265 installed? run node deploy/setup.mjs): ${errorMessage(err)}`,
        { cause: err },
      );
    } finally {
      rmSync(looped, { force: true });
    }
    // Atomic publish: a concurrent bench never sees half a clip.
    renameSync(tmp, file);
    return file;
  })().finally(() => pending.delete(file));
  pending.set(file, p);
  return p;
}
