/**
 * `npm run bench -- decode [--clip demo|person|bus|<path>] [--threads T] [--frames K] [--cameras C] [--inflight N]`
 *
 * Keyframe decode throughput, Kuzet's DecodePool against ffmpeg doing the same work with the same threads.
 *
 * - Input: the clip's IDR access units with their SPS/PPS, one buffer each, as the RTSP sampler delivers
 *   them (bench/baselines/keyframes.ts; clips with too few IDRs are re-encoded all-IDR at the original
 *   keyframe size and cached in .bench/clips). K keyframes per ffmpeg process (the distinct ones cycled).
 * - Kuzet: `new DecodePool({ threads: T })`, T*K decodeSample calls spread round-robin over C cameras
 *   (the pool keeps one decoder per camera, routed to one lane), N in flight; every submit gets its own
 *   copy of the bytes (made before the clock starts, since decodeSample detaches them) and every returned
 *   tensor is recycled. Output: letterboxed planar float32 BGR [1,3,416,416].
 * - Baseline: T parallel `ffmpeg -threads 1 -skip_frame nokey -i keyframes.h264 -vf scale=W:H:flags=bicubic
 *   -pix_fmt gbrp -f null -` over a file of the same K keyframes, W x H = the letterbox size Kuzet scales to
 *   (decode + colour conversion + resize: the same work short of Kuzet's float packing). A second row
 *   compares with decode only (no -vf). Baseline wall time includes ffmpeg's start-up, reported in the notes.
 * - keyframes/s = frames decoded / wall time; ratio = Kuzet / ffmpeg (> 1: Kuzet faster).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { letterboxGeometry } from '../../detectors/letterbox.js';
import { repoPath } from '../../engine/paths.js';
import { DecodePool, PoolQueueFullError } from '../../engine/pools/index.js';
import { ffmpegFrameCount, ffmpegStartupMs, timeFfmpegParallel } from '../baselines/ffmpeg-keyframes.js';
import { loadKeyframes } from '../baselines/keyframes.js';
import { clipCacheDir } from '../fleet/clips.js';
import { pipelined, repeat } from '../harness/repeat.js';
import { compare, median } from '../harness/stats.js';
import { intArg } from '../harness/args.js';
import type { Suite } from '../harness/types.js';

const fixtureClips: Record<string, string> = {
  demo: 'demo-640x360.h264',
  person: 'person-640x424.h264',
  bus: 'bus-810x1080.h264',
};

/** `demo` / `person` / `bus` name a fixture clip; anything else is a path (relative to where npm was run). */
function clipPath(arg: string | undefined): string {
  const v = arg ?? 'demo';
  const fixture = fixtureClips[v] ?? Object.values(fixtureClips).find((f) => f === v);
  if (fixture) return repoPath('bench', 'fixtures', 'clips', fixture);
  return isAbsolute(v) ? v : resolve(process.env.INIT_CWD ?? process.cwd(), v);
}

export const decodeSuite: Suite = {
  name: 'decode',
  description:
    'H.264 keyframes/s into letterboxed tensors: Kuzet DecodePool (T threads) vs T parallel ffmpeg -skip_frame nokey (decode + bicubic scale to planar gbrp, and decode only)',
  async run(ctx) {
    const threads = intArg(ctx, 'threads', 2);
    const cameras = intArg(ctx, 'cameras', 16);
    const inflight = intArg(ctx, 'inflight', 4 * threads);
    const clip = clipPath(ctx.args.clip);

    const kf = await loadKeyframes(clip, 200);
    // Default: about 12 MB of keyframes per process (300 at 640x360, fewer for big frames), and >= 200 per run.
    const perProcess = intArg(
      ctx,
      'frames',
      Math.max(Math.ceil(200 / threads), Math.min(300, Math.round(12e6 / kf.meanBytes))),
    );
    const frames = Array.from({ length: perProcess }, (_, i) => kf.units[i % kf.units.length]);
    const g = letterboxGeometry(kf.width, kf.height, 416);
    const dir = join(clipCacheDir(), 'decode');
    mkdirSync(dir, { recursive: true });
    const stem = basename(kf.file).replace(/\.h264$/, '');
    const file = join(dir, `${stem}-keyframes-${perProcess}.h264`);
    writeFileSync(file, Buffer.concat(frames));
    const oneFrame = join(dir, `${stem}-keyframe-1.h264`);
    writeFileSync(oneFrame, frames[0]);
    ctx.progress(
      `decode: ${clip} ${kf.width}x${kf.height} -> ${g.width}x${g.height}, ${kf.units.length} distinct keyframes` +
        `${kf.reencoded ? ` (all-IDR re-encode ${kf.file})` : ''}, mean ${Math.round(kf.meanBytes)} B`,
    );

    const scaled = { file, scaleTo: { width: g.width, height: g.height } };
    const decodeOnly = { file, scaleTo: null };
    for (const opts of [scaled, decodeOnly]) {
      const n = await ffmpegFrameCount(opts);
      if (n !== perProcess)
        throw new Error(`ffmpeg output ${n} frames for ${file}, expected ${perProcess} keyframes`);
    }
    const startupMs = await ffmpegStartupMs(oneFrame);

    const total = threads * perProcess;
    const pool = new DecodePool({ threads, maxQueue: Math.max(16, inflight) });
    let drops = 0;
    const seen = { width: 0, height: 0 };
    const decodeMs: number[] = [];
    try {
      const per = await repeat(
        { runs: ctx.runs, warmup: ctx.warmup, label: 'decode', progress: ctx.progress },
        async () => {
          // Fresh copies before the clock: decodeSample transfers (detaches) the buffer it is given.
          const copies = Array.from({ length: total }, (_, i) => new Uint8Array(frames[i % perProcess]));
          const t0 = performance.now();
          await pipelined(total, inflight, async (i) => {
            try {
              const frame = await pool.decodeSample({
                schoolId: 'bench',
                cameraId: `cam-${i % cameras}`,
                codec: 'h264',
                captureTimeMs: 0,
                seq: Math.floor(i / cameras),
                data: copies[i],
              });
              seen.width = frame.width;
              seen.height = frame.height;
              decodeMs.push(frame.decodeMs);
              pool.recycle(frame.tensor);
            } catch (err) {
              if (err instanceof PoolQueueFullError) drops++;
              else throw err;
            }
          });
          const kuzet = ((total - drops) * 1000) / (performance.now() - t0);
          const scaledMs = await timeFfmpegParallel(scaled, threads);
          const onlyMs = await timeFfmpegParallel(decodeOnly, threads);
          return {
            kuzet,
            scaled: (total * 1000) / scaledMs,
            decodeOnly: (total * 1000) / onlyMs,
          };
        },
      );
      if (drops > 0) throw new Error(`decode bench: ${drops} queue-full rejections; raise maxQueue`);
      if (seen.width !== kf.width || seen.height !== kf.height)
        throw new Error(
          `Kuzet decoded ${seen.width}x${seen.height} frames, ffprobe says ${kf.width}x${kf.height}`,
        );
      const kuzetRuns = per.map((r) => r.kuzet);
      const notes =
        `${ctx.args.clip ?? 'demo'} clip ${basename(clip)} ${kf.width}x${kf.height} -> letterbox ${g.width}x${g.height}; ` +
        `${kf.units.length} distinct keyframes${kf.reencoded ? ' (all-IDR re-encode of the clip, keyframe size matched)' : ''}, ` +
        `mean ${(kf.meanBytes / 1000).toFixed(1)} kB (clip's own ${(kf.originalMeanBytes / 1000).toFixed(1)} kB); ` +
        `${threads} threads; ${total} keyframes/run (Kuzet: ${cameras} cameras, ${inflight} in flight, decode p50 ` +
        `${median(decodeMs).toFixed(2)} ms in worker incl. float packing; ffmpeg: ${threads} x ${perProcess}, ` +
        `process start-up ~${startupMs.toFixed(0)} ms each, included)`;
      return [
        compare(
          'decode keyframes/s vs ffmpeg decode+scale gbrp',
          'keyframes/s',
          'higher',
          kuzetRuns,
          per.map((r) => r.scaled),
          notes,
        ),
        compare(
          'decode keyframes/s vs ffmpeg decode only (no scale)',
          'keyframes/s',
          'higher',
          kuzetRuns,
          per.map((r) => r.decodeOnly),
          'baseline skips colour conversion and resize: an upper bound, not the same work',
        ),
      ];
    } finally {
      await pool.close();
    }
  },
};
