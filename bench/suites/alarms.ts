/**
 * `npm run bench -- alarms [--clients 1000] [--rate 100] [--seconds 60] [--runs N] [--warmup N]
 *   [--connect-concurrency 100] [--ack-ms 250] [--sides kuzet,ws,ws-shared]`
 *
 * Alarm delivery latency, creation → client receipt, through Kuzet's AlarmSocketServer
 * (connectors/http/alarm-socket.ts, uWebSockets.js) and through the same fan-out written with `ws`
 * (bench/baselines/ws-alarm-fanout.ts), in the same run, against the same nats-server and stream.
 *
 * - Processes: a local nats-server with JetStream (stream KUZET_ALARMS, file storage); the server
 *   under test runs in this process (its CPU = this process's CPU, event-loop delay measured here);
 *   the clients in one forked child (bench/suites/alarms-clients.ts, `ws` client library for both
 *   sides, fresh per side); the publisher in another child, so a busy server delays deliveries, not
 *   the alarms' creation stamps. Nothing is pinned: on a small box all four share the cores, and
 *   the notes give each one's CPU so saturation is visible.
 * - Load: `clients` authenticated clients (half Bearer header, half first-message auth; 10 city-wide
 *   tokens), each subscribed with no filters, so every client gets every alarm: `rate` × `clients`
 *   frames/s. Alarms are realistic `encodeAlarm` messages over 50 schools and 4 severities; each one's
 *   `updatedAt` (→ `alarm.time`) is `performance.timeOrigin + performance.now()` taken right before
 *   `js.publish`; the client subtracts it from its own clock at receipt (same machine, same clock).
 *   Clients ack cumulatively every `ack-ms`.
 * - Sides: `kuzet` (one shared JetStream tail, each message serialised once, the last 10,000 held
 *   for resume; a consumer of its own only for a client resuming from further back); `ws-shared` =
 *   the same design written with `ws` (one consumer, the frame sent to everyone): the ratios in the
 *   table are against this one; `ws` = the design Kuzet had first, one ordered consumer per client
 *   (nats-server capped it near 15k frames/s), reported in its own rows. What differs is documented
 *   in bench/baselines/ws-alarm-fanout.ts.
 * - Per side: latency p50/p95/p99/max over every (client, alarm) pair; delivered/expected (a lost,
 *   duplicated or reordered alarm is counted, never hidden); connection setup (all clients from first
 *   connect to last `subscribed`); CPU of server, clients, nats-server, publisher in % of one core.
 * - Runs: 60 s × 3 sides is minutes, so unless `--runs`/`--warmup` are given on the command line
 *   this suite does 1 measured run after 1 short warm-up (min(seconds, 5) s per side, discarded).
 *   Sides rotate order from run to run.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { connect, type NatsConnection } from 'nats';
import { AlarmSocketServer, type TokenEntry } from '../../connectors/http/alarm-socket.js';
import { ensureAlarmStream } from '../../connectors/nats/scanner-consumer.js';
import { startNatsServer, type LocalNatsServer } from '../../connectors/nats/server.js';
import { createLogger } from '../../engine/log.js';
import { compiledPath } from '../../engine/paths.js';
import { startWsAlarmFanout } from '../baselines/ws-alarm-fanout.js';
import { intArg } from '../harness/args.js';
import { CLK_TCK, IpcChild, procCpuS } from '../harness/processes.js';
import { compare, median } from '../harness/stats.js';
import type { BenchResult, Suite, SuiteContext } from '../harness/types.js';
import type { ConnectReply, FinishReply, PublishReply, StatsReply } from './alarms-clients.js';

export type Side = 'kuzet' | 'ws' | 'ws-shared';
export const allSides: readonly Side[] = ['kuzet', 'ws', 'ws-shared'];

const sideLabel: Record<Side, string> = {
  kuzet: 'Kuzet (uWS, one shared tail)',
  ws: 'ws, consumer per client',
  'ws-shared': 'ws, one shared consumer',
};

export interface AlarmLoad {
  clients: number;
  rate: number;
  seconds: number;
  /** Connections being set up at once. */
  concurrency: number;
  ackMs: number;
  /** Longest wait after the last publish for the last deliveries. */
  drainMs: number;
  /** Pause after the clients subscribe (half) and after tear-down (whole), default 1000 ms. */
  pauseMs?: number;
}

export interface SideResult {
  side: Side;
  setup: ConnectReply;
  delivery: FinishReply;
  publish: PublishReply;
  /** Publish start → every client done (or drain timeout). */
  windowMs: number;
  /** Fractions of one core over the window. */
  serverCpu: number;
  clientsCpu: number;
  natsCpu: number;
  publisherCpu: number;
  /** Everything else on the machine (other users' work): machine busy − the four above. */
  otherCpu: number;
  /** Event-loop delay of the server process over the window, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  framesPerSec: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** A forked alarms-clients.js in one role. */
function child(role: 'clients' | 'publisher'): IpcChild {
  return new IpcChild(
    process.execPath,
    [compiledPath('bench/suites/alarms-clients.ts'), role],
    `alarms-clients ${role}`,
  );
}

/** Busy CPU seconds of the whole machine (all cores) from /proc/stat. */
function machineBusyS(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - f[3]! - f[4]!) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** The nats-server this suite started, found by its unique store directory (startNatsServer keeps the pid private). */
function natsPid(storeDir: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('nats-server') && cmd.includes(storeDir)) return Number(d);
    } catch {
      // gone or not ours to read
    }
  }
  return undefined;
}

/** A nats-server with the alarm stream, and the tokens both servers accept. */
export interface AlarmBenchEnv {
  nats: LocalNatsServer;
  natsPid: number | undefined;
  /** Stream set-up only: each side's server gets its own connection (measureSide), the publisher child its own. */
  nc: NatsConnection;
  tokens: string[];
  entries: TokenEntry[];
  close(): Promise<void>;
}

export async function openAlarmBenchEnv(): Promise<AlarmBenchEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'kuzet-bench-alarms-'));
  const nats = await startNatsServer({ storeDir: dir });
  const nc = await connect({ servers: nats.url });
  await ensureAlarmStream(nc, 'KUZET_ALARMS', createLogger('bench', 'error'));
  const tokens = Array.from({ length: 10 }, (_, i) => `bench-operator-${i}-secret`);
  const entries: TokenEntry[] = tokens.map((t, i) => ({
    name: `operator-${i}`,
    sha256: createHash('sha256').update(t).digest('hex'),
    role: i % 2 === 0 ? 'city-operator' : 'police',
  }));
  return {
    nats,
    natsPid: natsPid(dir),
    nc,
    tokens,
    entries,
    close: async () => {
      await nc.close();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startServer(
  env: AlarmBenchEnv,
  nc: NatsConnection,
  side: Side,
): Promise<{ port: number; close(): Promise<void> }> {
  if (side === 'kuzet')
    return AlarmSocketServer.start({
      port: 0,
      nc,
      tokens: env.entries,
      log: createLogger('alarm-socket', 'error'),
    });
  return startWsAlarmFanout({
    port: 0,
    nc,
    tokens: env.entries,
    mode: side === 'ws' ? 'per-client' : 'shared',
  });
}

/** One side once: server up, clients connected and subscribed, `rate` alarms/s for `seconds`, drain, tear down. */
export async function measureSide(
  env: AlarmBenchEnv,
  side: Side,
  load: AlarmLoad,
  progress: (msg: string) => void = () => {},
): Promise<SideResult> {
  // A fresh connection per side, as a fresh server process would have: a side that fell behind leaves
  // megabytes queued for its connection, and the next side's JetStream requests must not wait behind them.
  const nc = await connect({ servers: env.nats.url });
  const server = await withTimeout(startServer(env, nc, side), 60_000, `${side} server start`).catch(
    async (err: unknown) => {
      await nc.close();
      throw err;
    },
  );
  progress(`${side}: server listening on ${server.port}`);
  const clients = child('clients');
  const publisher = child('publisher');
  try {
    const setup = await clients.request<ConnectReply>(
      {
        type: 'connect',
        url: `ws://127.0.0.1:${server.port}/alarms`,
        tokens: env.tokens,
        clients: load.clients,
        concurrency: load.concurrency,
        ackMs: load.ackMs,
      },
      120_000,
    );
    progress(
      `${side}: ${setup.subscribed}/${load.clients} clients subscribed in ${setup.setupMs.toFixed(0)} ms` +
        (setup.failed > 0 ? `, ${setup.failed} failed (${setup.firstError})` : ''),
    );
    // Let the ordered consumers' first pulls settle before the clock starts.
    await sleep((load.pauseMs ?? 1000) / 2);
    const loop = monitorEventLoopDelay({ resolution: 5 });
    const c0 = await clients.request<StatsReply>({ type: 'stats' }, 10_000);
    const s0 = process.cpuUsage();
    const n0 = procCpuS(env.natsPid);
    const m0 = machineBusyS();
    const t0 = performance.now();
    loop.enable();
    const publish = await publisher.request<PublishReply>(
      { type: 'publish', natsUrl: env.nats.url, rate: load.rate, seconds: load.seconds, schools: 50 },
      (load.seconds + 60) * 1000,
    );
    if (publish.failed > 0) progress(`${side}: ${publish.failed} publishes failed`);
    const delivery = await clients.request<FinishReply>(
      { type: 'finish', first: publish.first, last: publish.last, waitMs: load.drainMs },
      load.drainMs + 120_000,
    );
    loop.disable();
    const windowMs = performance.now() - t0;
    const s1 = process.cpuUsage(s0);
    const n1 = procCpuS(env.natsPid);
    const m1 = machineBusyS();
    const c1 = await clients.request<StatsReply>({ type: 'stats' }, 10_000);
    const serverCpu = (s1.user + s1.system) / 1000 / windowMs;
    const clientsCpu = (c1.cpuUs - c0.cpuUs) / 1000 / windowMs;
    const natsCpu = env.natsPid === undefined ? Number.NaN : ((n1 - n0) * 1000) / windowMs;
    const publisherCpu = publish.cpuUs / 1000 / windowMs;
    const r: SideResult = {
      side,
      setup,
      delivery,
      publish,
      windowMs,
      serverCpu,
      clientsCpu,
      natsCpu,
      publisherCpu,
      otherCpu: Math.max(0, ((m1 - m0) * 1000) / windowMs - serverCpu - clientsCpu - natsCpu - publisherCpu),
      loopDelayP99Ms: loop.percentile(99) / 1e6,
      loopDelayMaxMs: loop.max / 1e6,
      framesPerSec: (c1.received - c0.received) / (windowMs / 1000),
    };
    progress(`${side}: ${fmtSide(r)}`);
    return r;
  } finally {
    clients.kill();
    publisher.kill();
    await server.close();
    await nc.close();
    // Let the ordered consumers of the closed clients go before the next side.
    await sleep(load.pauseMs ?? 1000);
  }
}

const pct = (f: number) => `${(f * 100).toFixed(0)}%`;

/** One process at ≥ 90 % of a core (each is one event loop) or the machine at ≥ 95 % busy is saturated. */
function saturation(r: SideResult): string {
  const procs: Array<[string, number]> = [
    ['server', r.serverCpu],
    ['clients', r.clientsCpu],
    ['nats-server', r.natsCpu],
    ['publisher', r.publisherCpu],
  ];
  const hot = procs.filter(([name, v]) => v >= 0.9 && name !== 'nats-server').map(([n]) => n);
  const busy = procs.reduce((a, [, v]) => a + (Number.isFinite(v) ? v : 0), 0) + r.otherCpu;
  const cores = os.cpus().length;
  const parts = [...hot.map((n) => `${n} saturated`)];
  if (busy >= 0.95 * cores) parts.push(`machine saturated (${pct(busy / cores)} of ${cores} cores busy)`);
  return parts.length > 0 ? parts.join(', ') : 'nothing saturated';
}

function fmtSide(r: SideResult): string {
  const d = r.delivery;
  const closes = Object.entries(d.closes)
    .map(([k, v]) => `${v}x${k}`)
    .join(' ');
  return (
    `latency p50 ${d.p50.toFixed(2)} / p95 ${d.p95.toFixed(2)} / p99 ${d.p99.toFixed(2)} / max ${d.max.toFixed(1)} ms; ` +
    `delivered ${d.delivered}/${d.expected}` +
    (d.duplicates + d.outOfOrder + d.outOfRange > 0
      ? ` (dup ${d.duplicates}, reordered ${d.outOfOrder}, out of range ${d.outOfRange})`
      : '') +
    (closes ? `, closes ${closes}` : '') +
    `; ${r.framesPerSec.toFixed(0)} frames/s; CPU server ${pct(r.serverCpu)}, clients ${pct(r.clientsCpu)}, ` +
    `nats-server ${pct(r.natsCpu)}, publisher ${pct(r.publisherCpu)}, other processes ${pct(r.otherCpu)} of a core; ` +
    `server event-loop delay p99 ${r.loopDelayP99Ms.toFixed(1)} ms, max ${r.loopDelayMaxMs.toFixed(0)} ms; ` +
    `publisher late p99 ${r.publish.lateP99Ms.toFixed(2)} ms; setup ${r.setup.setupMs.toFixed(0)} ms; ${saturation(r)}`
  );
}

/** True when the flag was on the command line, not the runner's default (the runner does not say). */
function given(flag: string): boolean {
  return process.argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
}

function sidesArg(ctx: SuiteContext): Side[] {
  const v = ctx.args.sides;
  if (v === undefined) return [...allSides];
  const out = v.split(',');
  for (const s of out)
    if (!allSides.includes(s as Side))
      throw new RangeError(`--sides must be a comma-separated subset of ${allSides.join(',')}, got ${v}`);
  if (!out.includes('kuzet')) throw new RangeError(`--sides must include kuzet, got ${v}`);
  return out as Side[];
}

function rows(load: AlarmLoad, runs: Map<Side, SideResult[]>): BenchResult[] {
  const k = runs.get('kuzet')!;
  const out: BenchResult[] = [];
  const of = (rs: SideResult[], f: (r: SideResult) => number) => rs.map(f);
  const summary = (rs: SideResult[]) => rs.map((r) => fmtSide(r)).join(' | ');
  const latencyRows = (b: SideResult[], vs: string, which: Array<'p50' | 'p95' | 'p99' | 'max'>) => {
    for (const p of which) {
      const kv = of(k, (r) => r.delivery[p]);
      const bv = of(b, (r) => r.delivery[p]);
      out.push(
        compare(
          `latency ${p}${vs}`,
          'ms',
          'lower',
          kv,
          bv,
          p === 'p50' || p === 'p99' ? `Kuzet/ws = ${(median(kv) / median(bv)).toFixed(2)}` : undefined,
        ),
      );
    }
  };
  const common = (b: SideResult[], vs: string) => {
    out.push(
      compare(
        `delivered${vs}`,
        '% of expected',
        'higher',
        of(k, (r) => (100 * r.delivery.delivered) / r.delivery.expected),
        of(b, (r) => (100 * r.delivery.delivered) / r.delivery.expected),
        `expected ${k[0].delivery.expected} per side (${load.clients} clients × ${k[0].publish.published} alarms)`,
      ),
      compare(
        `server CPU${vs}`,
        '% of a core',
        'lower',
        of(k, (r) => r.serverCpu * 100),
        of(b, (r) => r.serverCpu * 100),
      ),
    );
  };
  const ws = runs.get('ws-shared');
  if (ws) {
    latencyRows(ws, '', ['p50', 'p95', 'p99', 'max']);
    common(ws, '');
    out.push(
      compare(
        `connection setup, ${load.clients} clients`,
        'ms',
        'lower',
        of(k, (r) => r.setup.setupMs),
        of(ws, (r) => r.setup.setupMs),
        `first connect → last "subscribed", ${load.concurrency} at once; per client p50/p99: ` +
          `Kuzet ${median(of(k, (r) => r.setup.clientSetupP50Ms)).toFixed(1)}/${median(of(k, (r) => r.setup.clientSetupP99Ms)).toFixed(1)} ms, ` +
          `ws ${median(of(ws, (r) => r.setup.clientSetupP50Ms)).toFixed(1)}/${median(of(ws, (r) => r.setup.clientSetupP99Ms)).toFixed(1)} ms`,
      ),
    );
  }
  const perClient = runs.get('ws');
  if (perClient) {
    latencyRows(perClient, ' (vs ws, consumer per client)', ['p50', 'p99']);
    common(perClient, ' (vs ws, consumer per client)');
  }
  const last = out[out.length - 1];
  last.notes =
    (last.notes ? last.notes + '; ' : '') +
    `${load.clients} clients, ${load.rate} alarms/s for ${load.seconds} s; ` +
    [...runs.entries()].map(([s, rs]) => `${sideLabel[s]}: ${summary(rs)}`).join(' || ');
  return out;
}

export const alarmsSuite: Suite = {
  name: 'alarms',
  description:
    'Alarm delivery latency (creation → client receipt, p50/p95/p99/max) to 1,000 authenticated WebSocket clients at 100 alarms/s for 60 s through AlarmSocketServer (uWS + one JetStream tail); baseline: the same fan-out with `ws` (one shared consumer), and `ws` with a consumer per client. --clients --rate --seconds --sides',
  async run(ctx) {
    const load: AlarmLoad = {
      clients: intArg(ctx, 'clients', 1000),
      rate: intArg(ctx, 'rate', 100),
      seconds: intArg(ctx, 'seconds', 60),
      concurrency: intArg(ctx, 'connect-concurrency', 100),
      ackMs: intArg(ctx, 'ack-ms', 250),
      drainMs: intArg(ctx, 'drain-ms', 15_000),
    };
    const sides = sidesArg(ctx);
    const runs = given('runs') ? ctx.runs : 1;
    const warmup = given('warmup') ? ctx.warmup : 1;
    const warmLoad = { ...load, seconds: Math.min(load.seconds, 5) };
    const env = await openAlarmBenchEnv();
    if (env.natsPid === undefined) ctx.progress('nats-server pid not found: its CPU is not reported');
    try {
      const results = new Map<Side, SideResult[]>(sides.map((s) => [s, []]));
      for (let run = -warmup; run < runs; run++) {
        const label = run < 0 ? `warm-up ${run + warmup + 1}/${warmup}` : `run ${run + 1}/${runs}`;
        const order = sides.map((_, i) => sides[(i + Math.max(run, 0)) % sides.length]);
        for (const side of order) {
          ctx.progress(`${label}: ${side}`);
          const r = await measureSide(env, side, run < 0 ? warmLoad : load, ctx.progress);
          if (run >= 0) results.get(side)!.push(r);
        }
      }
      return rows(load, results);
    } finally {
      await env.close();
    }
  },
};
