/**
 * `npm run bench -- ingest [--quick] [--resolutions 640x360,1280x720] [--ramp 100,250,...] [--baseline-ramp 1,2,...] [--window-s 10]`
 *
 * How many simulated RTSP cameras one ingest process on one core holds, and what each costs.
 *
 * - Cameras: the fleet (bench/fleet) in its own process pinned to core 0, H.264 clips made by
 *   ensureClip: 1 Mbit/s, 25 fps, GOP 50 (a keyframe every 2 s), no B-frames, 20 s loop; camera i
 *   runs (i mod 50) frames ahead and clients join it live (next keyframe), so keyframes of cameras
 *   spread evenly over time, as unsynchronised cameras' do, however fast clients connect.
 * - One ramp per side and resolution; the runner's --runs/--warmup do not apply (a ramp is minutes).
 * - Kuzet: bench/suites/ingest-worker.ts pinned to core 1, N RtspCameraSource (maxFps 1) counting
 *   samples. Due = every keyframe = 0.5 samples/s/camera (maxFps 1 caps at 1/s, the GOP at 0.5/s).
 * - Baseline: the usual NVR way, one `ffmpeg -rtsp_transport tcp -i URL -vf fps=1 -f image2pipe
 *   -c:v mjpeg -` per camera, all pinned to core 1. Due = 1 JPEG/s/camera (fps=1 output).
 * - A step holds when, over the measuring window, every camera is online (Kuzet) / has produced
 *   a picture (baseline), ≥ 99 % of due samples arrived and the fleet skipped ≤ 1 % of frames
 *   (a skip means the client did not read fast enough: socket backed up past 1 MiB). The ramp
 *   stops at the first step that does not hold, or when the fleet process itself is saturated
 *   (≥ 95 % of its core): then the limit is the fleet's, and is reported as such.
 * - Per camera: RSS (Kuzet: worker RSS minus its RSS before any camera, / N; baseline: sum of
 *   the ffmpeg processes' RSS / N, each process being a camera's whole cost) and CPU (process
 *   CPU time / wall time / N, in % of one core).
 *
 * Not measured here: Kuzet decoding its keyframes (the decode pool, bench `detect`), where the
 * baseline's numbers include decoding every frame and encoding a JPEG a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { compiledPath } from '../../engine/paths.js';
import { ensureClip } from '../fleet/clips.js';
import type { FleetCamera, FleetStats } from '../fleet/server.js';
import { IpcChild, procCpuS } from '../harness/processes.js';
import { compare } from '../harness/stats.js';
import type { BenchResult, Suite, SuiteContext } from '../harness/types.js';

const FLEET_CORE = '0';
const INGEST_CORE = '1';
const GOP = 50;
const FPS = 25;
const KBPS = 1000;
const CLIP_SECONDS = 20;
/** Kuzet samples due per camera per second: one per keyframe. */
const KUZET_DUE_PER_S = FPS / GOP;
/** Baseline JPEGs due per camera per second (-vf fps=1). */
const BASELINE_DUE_PER_S = 1;
const HOLD_DELIVERY = 0.99;
const HOLD_SKIP = 0.01;
const FLEET_SATURATED = 0.95;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A forked node script pinned to one core. */
function pinnedChild(script: string, core: string): IpcChild {
  return new IpcChild('taskset', ['-c', core, process.execPath, script], script);
}

interface FleetSnap {
  stats: FleetStats;
  cpuUs: number;
  atMs: number;
}

interface WorkerSnap {
  online: number;
  samples: number;
  lossDiscarded: number;
  reconnects: number;
  cpuUs: number;
  rss: number;
  atMs: number;
}

interface Step {
  side: 'kuzet' | 'baseline';
  n: number;
  online: number;
  delivery: number;
  fleetSkip: number;
  /** Fraction of one core. */
  fleetCpu: number;
  clientCpu: number;
  rssPerCameraMiB: number;
  held: boolean;
  limit: string;
}

function fmtStep(s: Step): string {
  return (
    `${s.side} N=${s.n}: online ${s.online}/${s.n}, delivered ${(s.delivery * 100).toFixed(1)}% of due, fleet skipped ${(s.fleetSkip * 100).toFixed(2)}%, ` +
    `client CPU ${(s.clientCpu * 100).toFixed(0)}% of core ${INGEST_CORE}, fleet CPU ${(s.fleetCpu * 100).toFixed(0)}% of core ${FLEET_CORE}, ` +
    `RSS ${s.rssPerCameraMiB.toFixed(3)} MiB/camera → ${s.held ? 'held' : 'NOT held'}${s.limit ? ` (${s.limit})` : ''}`
  );
}

function judge(step: Omit<Step, 'held' | 'limit'>): Step {
  const held = step.online === step.n && step.delivery >= HOLD_DELIVERY && step.fleetSkip <= HOLD_SKIP;
  let limit = '';
  if (step.fleetCpu >= FLEET_SATURATED) limit = 'fleet saturated';
  else if (!held && step.clientCpu >= FLEET_SATURATED) limit = 'client saturated';
  else if (!held) limit = 'client fell behind';
  return { ...step, held, limit };
}

async function fleetSnap(fleet: IpcChild): Promise<FleetSnap> {
  return fleet.request<FleetSnap>({ type: 'stats' });
}

function fleetWindow(a: FleetSnap, b: FleetSnap): { skip: number; cpu: number } {
  const sent = b.stats.framesSent - a.stats.framesSent;
  const skipped = b.stats.framesSkipped - a.stats.framesSkipped;
  return {
    skip: sent + skipped > 0 ? skipped / (sent + skipped) : 0,
    cpu: (b.cpuUs - a.cpuUs) / 1000 / (b.atMs - a.atMs),
  };
}

async function kuzetStep(fleet: IpcChild, urls: string[], n: number, windowMs: number): Promise<Step> {
  const worker = pinnedChild(compiledPath('bench/suites/ingest-worker.ts'), INGEST_CORE);
  try {
    await sleep(300);
    const idle = await worker.request<WorkerSnap>({ type: 'snapshot' });
    await worker.request(
      { type: 'start', urls: urls.slice(0, n), maxFps: 1, silenceTimeoutMs: 10_000 },
      120_000,
    );
    const t0 = performance.now();
    let w = idle;
    while (performance.now() - t0 < 30_000) {
      w = await worker.request<WorkerSnap>({ type: 'snapshot' });
      if (w.online === n) break;
      await sleep(250);
    }
    // Two GOPs so every camera's sampler has settled and connect-time bursts are over.
    await sleep(2 * (GOP / FPS) * 1000);
    const [fa, wa] = await Promise.all([fleetSnap(fleet), worker.request<WorkerSnap>({ type: 'snapshot' })]);
    await sleep(windowMs);
    const [fb, wb] = await Promise.all([fleetSnap(fleet), worker.request<WorkerSnap>({ type: 'snapshot' })]);
    const wall = wb.atMs - wa.atMs;
    const f = fleetWindow(fa, fb);
    return judge({
      side: 'kuzet',
      n,
      online: wb.online,
      delivery: (wb.samples - wa.samples) / ((n * KUZET_DUE_PER_S * wall) / 1000),
      fleetSkip: f.skip,
      fleetCpu: f.cpu,
      clientCpu: (wb.cpuUs - wa.cpuUs) / 1000 / wall / 1,
      rssPerCameraMiB: (wb.rss - idle.rss) / n / 2 ** 20,
    });
  } finally {
    worker.kill();
    // Let the fleet notice the closed sockets before the next step.
    await sleep(500);
  }
}

/** CPU seconds and RSS bytes of a process from /proc; zeros once it is gone. */
function procUsage(pid: number | undefined): { cpuS: number; rss: number } {
  if (pid === undefined) return { cpuS: 0, rss: 0 };
  try {
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return { cpuS: procCpuS(pid), rss: rssKb * 1024 };
  } catch {
    return { cpuS: 0, rss: 0 };
  }
}

interface Ffmpeg {
  proc: ChildProcess;
  jpegs: number;
}

function startFfmpeg(url: string): Ffmpeg {
  const proc = spawn(
    'taskset',
    [
      '-c',
      INGEST_CORE,
      'ffmpeg',
      '-hide_banner',
      '-loglevel',
      'error',
      '-rtsp_transport',
      'tcp',
      '-i',
      url,
      '-vf',
      'fps=1',
      '-f',
      'image2pipe',
      '-c:v',
      'mjpeg',
      '-',
    ],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const f: Ffmpeg = { proc, jpegs: 0 };
  let prevFF = false;
  // Counts JPEG end-of-image markers (FF D9); entropy-coded data stuffs FF as FF 00, so D9 after FF only ends an image.
  proc.stdout?.on('data', (b: Buffer) => {
    if (prevFF && b[0] === 0xd9) f.jpegs++;
    let i = b.indexOf(0xff);
    while (i >= 0 && i + 1 < b.length) {
      if (b[i + 1] === 0xd9) f.jpegs++;
      i = b.indexOf(0xff, i + 1);
    }
    prevFF = b[b.length - 1] === 0xff;
  });
  return f;
}

async function baselineStep(fleet: IpcChild, urls: string[], n: number, windowMs: number): Promise<Step> {
  const procs = urls.slice(0, n).map(startFfmpeg);
  try {
    const t0 = performance.now();
    while (performance.now() - t0 < 30_000 && !procs.every((p) => p.jpegs >= 1)) await sleep(250);
    await sleep(3000);
    const usage = () => procs.map((p) => procUsage(p.proc.pid));
    const fa = await fleetSnap(fleet);
    const ua = usage();
    const ja = procs.map((p) => p.jpegs);
    const ta = performance.now();
    await sleep(windowMs);
    const fb = await fleetSnap(fleet);
    const ub = usage();
    const jb = procs.map((p) => p.jpegs);
    const wall = performance.now() - ta;
    const f = fleetWindow(fa, fb);
    const cpuS = ub.reduce((s, u, i) => s + u.cpuS - ua[i].cpuS, 0);
    const got = jb.reduce((s, j, i) => s + j - ja[i], 0);
    return judge({
      side: 'baseline',
      n,
      online: procs.filter((p, i) => jb[i] > 0 && p.proc.exitCode === null).length,
      delivery: got / ((n * BASELINE_DUE_PER_S * wall) / 1000),
      fleetSkip: f.skip,
      fleetCpu: f.cpu,
      clientCpu: cpuS / (wall / 1000),
      rssPerCameraMiB: ub.reduce((s, u) => s + u.rss, 0) / n / 2 ** 20,
    });
  } finally {
    for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
    await sleep(500);
  }
}

function listArg(ctx: SuiteContext, key: string, dflt: number[]): number[] {
  const v = ctx.args[key];
  if (v === undefined) return dflt;
  const out = v.split(',').map(Number);
  if (out.some((n) => !Number.isInteger(n) || n < 1))
    throw new RangeError(`--${key} must be a comma-separated list of positive integers, got ${v}`);
  return out.sort((a, b) => a - b);
}

async function ramp(
  label: string,
  ns: number[],
  step: (n: number) => Promise<Step>,
  progress: (m: string) => void,
): Promise<Step[]> {
  const steps: Step[] = [];
  for (const n of ns) {
    const s = await step(n);
    steps.push(s);
    progress(`${label}: ${fmtStep(s)}`);
    if (!s.held || s.limit === 'fleet saturated') break;
  }
  return steps;
}

function maxHeld(steps: Step[]): Step | undefined {
  return steps.filter((s) => s.held).pop();
}

async function resolution(ctx: SuiteContext, width: number, height: number): Promise<BenchResult[]> {
  const quick = ctx.args.quick === 'true';
  const windowMs = Number(ctx.args['window-s'] ?? (quick ? 6 : 10)) * 1000;
  const kRamp = listArg(
    ctx,
    'ramp',
    quick ? [100, 500, 1000] : [100, 250, 500, 1000, 1500, 2000, 2500, 3000, 4000],
  );
  const bRamp = listArg(ctx, 'baseline-ramp', quick ? [1, 2, 4, 8] : [1, 2, 4, 6, 8, 12, 16, 24, 32, 48]);
  const label = `${width}x${height}`;
  ctx.progress(`${label}: preparing clip (ffmpeg, cached in .bench/clips)`);
  const clip = await ensureClip({
    codec: 'h264',
    width,
    height,
    fps: FPS,
    gop: GOP,
    kbps: KBPS,
    seconds: CLIP_SECONDS,
  });
  const total = Math.max(kRamp[kRamp.length - 1], bRamp[bRamp.length - 1]);
  const digits = String(total).length;
  const cameras: FleetCamera[] = Array.from({ length: total }, (_, i) => ({
    path: `cam${String(i + 1).padStart(digits, '0')}`,
    clip,
    fps: FPS,
    // With joinAt 'live' the phase within the GOP fixes when this camera's keyframes fall: spread evenly, as unsynchronised cameras' are; whole GOPs on top vary the content.
    startFrame: (i % GOP) + GOP * (Math.floor(i / GOP) % ((CLIP_SECONDS * FPS) / GOP)),
  }));
  const fleet = pinnedChild(compiledPath('bench/fleet/child.ts'), FLEET_CORE);
  try {
    const { urls } = await fleet.request<{ urls: string[] }>({ type: 'start', cameras, joinAt: 'live' });
    const base = await ramp(
      `${label} baseline`,
      bRamp,
      (n) => baselineStep(fleet, urls, n, windowMs),
      ctx.progress,
    );
    const bMax = maxHeld(base);
    // CPU per camera is compared where both sides ran: the baseline's largest held N (else its first step).
    const common = bMax?.n ?? base[0].n;
    const kNs = [...new Set([common, ...kRamp])].sort((a, b) => a - b);
    const kuz = await ramp(`${label} kuzet`, kNs, (n) => kuzetStep(fleet, urls, n, windowMs), ctx.progress);
    const kMax = maxHeld(kuz);
    const kCommon = kuz.find((s) => s.n === common);
    const bCommon = base.find((s) => s.n === common);
    const kLast = kuz[kuz.length - 1];
    const bLast = base[base.length - 1];
    const why = (last: Step) =>
      last.held
        ? `ramp ended at N=${last.n} still holding${last.limit ? ` (${last.limit})` : ''}`
        : `N=${last.n} failed: ${last.limit}`;
    const notes =
      `H.264 ${label}, ${KBPS} kbit/s, ${FPS} fps, GOP ${GOP} (keyframe every ${GOP / FPS} s), RTP/TCP interleaved over loopback; ` +
      `Kuzet due ${KUZET_DUE_PER_S} samples/s/camera (every keyframe), baseline due ${BASELINE_DUE_PER_S} JPEG/s/camera (ffmpeg fps=1); ` +
      `held = all online, ≥ ${HOLD_DELIVERY * 100}% of due delivered, fleet skips ≤ ${HOLD_SKIP * 100}% over ${windowMs / 1000} s; ` +
      `Kuzet: ${why(kLast)}; baseline: ${why(bLast)}; steps: ${[...base, ...kuz].map((s) => `${s.side[0]}${s.n}:${(s.delivery * 100).toFixed(0)}%/c${(s.clientCpu * 100).toFixed(0)}%/f${(s.fleetCpu * 100).toFixed(0)}%`).join(' ')}`;
    const one = (s: Step | undefined, f: (s: Step) => number) => [s ? f(s) : Number.NaN];
    return [
      compare(`max cameras held, ${label}`, 'cameras', 'higher', [kMax?.n ?? 0], [bMax?.n ?? 0], notes),
      compare(
        `RSS per camera at max held, ${label}`,
        'MiB',
        'lower',
        one(kMax ?? kuz[0], (s) => s.rssPerCameraMiB),
        one(bMax ?? base[0], (s) => s.rssPerCameraMiB),
        `Kuzet at N=${(kMax ?? kuz[0]).n}, baseline at N=${(bMax ?? base[0]).n}`,
      ),
      compare(
        `CPU per camera at N=${common}, ${label}`,
        '% of a core',
        'lower',
        one(kCommon, (s) => (s.clientCpu / s.n) * 100),
        one(bCommon, (s) => (s.clientCpu / s.n) * 100),
      ),
      compare(
        `CPU per camera at max held, ${label}`,
        '% of a core',
        'lower',
        one(kMax ?? kuz[0], (s) => (s.clientCpu / s.n) * 100),
        one(bMax ?? base[0], (s) => (s.clientCpu / s.n) * 100),
        `Kuzet at N=${(kMax ?? kuz[0]).n}, baseline at N=${(bMax ?? base[0]).n}`,
      ),
    ];
  } finally {
    fleet.kill();
  }
}

export const ingestSuite: Suite = {
  name: 'ingest',
  description:
    'Simulated RTSP cameras (H.264 1 Mbit/s, 25 fps, GOP 50) one ingest process on one core holds with >= 99% of due keyframe samples, RSS and CPU per camera; baseline: one ffmpeg per camera decoding to 1 fps JPEG, same core. --quick for a short ramp',
  async run(ctx) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', FLEET_CORE, String(process.pid)], { stdio: 'ignore' });
    } catch {
      ctx.progress('taskset not available: the runner itself is not pinned');
    }
    const res = (ctx.args.resolutions ?? '640x360,1280x720').split(',').map((r) => r.split('x').map(Number));
    const out: BenchResult[] = [];
    for (const [w, h] of res) {
      if (!(w > 0 && h > 0))
        throw new RangeError(`--resolutions must be like 640x360,1280x720, got ${ctx.args.resolutions}`);
      out.push(...(await resolution(ctx, w, h)));
    }
    return out;
  },
};
