/**
 * The ffmpeg side of `bench decode`: T `ffmpeg -skip_frame nokey` processes, one decoder thread each, decoding
 * the same keyframes-only Annex B file in parallel. Wall time includes each process's start-up (measured
 * separately by `ffmpegStartupMs` so a reader can tell how much of the baseline's time it is).
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export interface FfmpegDecodeOptions {
  /** Keyframes-only Annex B H.264 file. */
  file: string;
  /** `scale=WxH:flags=bicubic` + planar gbrp output, as Kuzet's decoder produces (same scaler pass); null = decode only. */
  scaleTo: { width: number; height: number } | null;
}

export function ffmpegArgs(opts: FfmpegDecodeOptions): string[] {
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    // Decoder threads (an input option), and no filter-graph threads: one thread per process, like one Kuzet lane.
    '-threads',
    '1',
    '-filter_threads',
    '1',
    '-skip_frame',
    'nokey',
    '-f',
    'h264',
    '-i',
    opts.file,
  ];
  if (opts.scaleTo)
    args.push('-vf', `scale=${opts.scaleTo.width}:${opts.scaleTo.height}:flags=bicubic`, '-pix_fmt', 'gbrp');
  args.push('-f', 'null', '-');
  return args;
}

function runOne(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`ffmpeg exited ${code}: ${out.slice(-500)}`)),
    );
  });
}

/** Wall milliseconds for `processes` ffmpeg processes started together to all finish. */
export async function timeFfmpegParallel(opts: FfmpegDecodeOptions, processes: number): Promise<number> {
  const args = ffmpegArgs(opts);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: processes }, () => runOne(args)));
  return performance.now() - t0;
}

/** Frames ffmpeg outputs for the file with these options (checks that every keyframe is decoded). */
export async function ffmpegFrameCount(opts: FfmpegDecodeOptions): Promise<number> {
  const args = ffmpegArgs(opts);
  // -progress writes frame=N lines to stdout; the last one is the total.
  const out = await runOne([...args.slice(0, -1), '-progress', 'pipe:1', '-']);
  const frames = [...out.matchAll(/^frame=(\d+)$/gm)].map((m) => Number(m[1]));
  return frames.length > 0 ? frames[frames.length - 1] : 0;
}

/** Median wall time of an ffmpeg process decoding one keyframe: process start-up, probing and codec open. */
export async function ffmpegStartupMs(oneFrameFile: string, samples = 5): Promise<number> {
  const args = ffmpegArgs({ file: oneFrameFile, scaleTo: null });
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await runOne(args);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
