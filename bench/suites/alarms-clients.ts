/**
 * Load side of `bench alarms`, forked by bench/suites/alarms.ts so its CPU is never counted in the
 * server under test's event loop. One script, two roles (argv[2]):
 *
 * - `clients`: N `ws` WebSocket clients against one alarm server (Kuzet's or the `ws` baseline: the
 *   clients are identical for both). Even clients authenticate with `Authorization: Bearer`, odd ones
 *   with a first `{"type":"auth"}` message; then `{"type":"subscribe","filters":{}}`. Every alarm frame's
 *   latency is receipt − `alarm.time`, both `performance.timeOrigin + performance.now()` (one machine,
 *   so comparable across processes). Acks are cumulative (`{"type":"ack","seq":highest}`) every ackMs.
 *   Requests: connect → { setupMs, perClientSetup… }; stats → { received, cpuUs, atMs }; finish
 *   { first, last, waitMs } → latency percentiles and per-client delivery against the seq range.
 * - `publisher`: one NATS connection publishing alarms with `encodeAlarm` to `kuzet.alarm.<sev>.<school>`
 *   on the JetStream stream at a fixed rate; `time`/`updatedAt` is stamped right before each publish.
 *   Requests: publish { natsUrl, rate, seconds, schools } → { first, last, published, … }.
 *
 * Replies echo the request `id`; errors come back as { type: 'error', error }. Exits on disconnect.
 */
import { performance } from 'node:perf_hooks';
import { connect, type PubAck } from 'nats';
import WebSocket from 'ws';
import { encodeAlarm, subjects } from '../../connectors/nats/bus.js';
import { errorMessage } from '../../engine/errors.js';
import type { Alarm, Severity } from '../../pipelines/analytics/types.js';
import { percentile } from '../harness/stats.js';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ConnectRequest {
  type: 'connect';
  url: string;
  /** Bearer tokens; client i uses tokens[i % length]. */
  tokens: string[];
  clients: number;
  /** Connections being set up at once. */
  concurrency: number;
  ackMs: number;
}

export interface ConnectReply {
  /** First connect started → last `subscribed` received. */
  setupMs: number;
  /** Per client, connect started → `subscribed`. */
  clientSetupP50Ms: number;
  clientSetupP99Ms: number;
  subscribed: number;
  failed: number;
  firstError: string | null;
}

export interface StatsReply {
  received: number;
  cpuUs: number;
  atMs: number;
}

export interface FinishReply {
  /** Clients × alarms in [first, last]. */
  expected: number;
  /** Alarm frames in range, counted once per client and seq. */
  delivered: number;
  duplicates: number;
  outOfOrder: number;
  /** Alarm frames outside [first, last] (should be none: clients subscribe to new alarms only). */
  outOfRange: number;
  /** Clients that got every alarm of the range. */
  complete: number;
  /** Receipt − creation over every in-range alarm frame, in ms. */
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  /** Close codes seen before finish (e.g. 4008 slow consumer, 1011 feed failed), code → count. */
  closes: Record<string, number>;
  waitedMs: number;
}

export interface PublishRequest {
  type: 'publish';
  natsUrl: string;
  rate: number;
  seconds: number;
  schools: number;
}

export interface PublishReply {
  first: number;
  last: number;
  published: number;
  failed: number;
  wallMs: number;
  /** How late publishes ran against their schedule (event loop, timers). */
  lateP99Ms: number;
  lateMaxMs: number;
  cpuUs: number;
}

type Request =
  | ({ id: number } & ConnectRequest)
  | { id: number; type: 'stats' }
  | { id: number; type: 'finish'; first: number; last: number; waitMs: number }
  | ({ id: number } & PublishRequest);

function send(msg: object): void {
  process.send?.(msg);
}

/** Growable float storage: millions of samples without a JS array of boxed numbers. */
class Samples {
  private chunks: Float64Array[] = [];
  private cur = new Float64Array(1 << 16);
  private n = 0;
  count = 0;

  push(v: number): void {
    if (this.n === this.cur.length) {
      this.chunks.push(this.cur);
      this.cur = new Float64Array(Math.min(this.cur.length * 2, 1 << 22));
      this.n = 0;
    }
    this.cur[this.n++] = v;
    this.count++;
  }

  sorted(): Float64Array {
    const out = new Float64Array(this.count);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    out.set(this.cur.subarray(0, this.n), o);
    return out.sort();
  }
}

function pick(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * (p / 100);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

// ---------------------------------------------------------------- clients

interface Client {
  ws: WebSocket;
  /** In-range alarms received (first delivery of each seq). */
  count: number;
  firstSeq: number;
  lastSeq: number;
  ackedSeq: number;
  closedCode: number | null;
}

const clients: Client[] = [];
const latencies = new Samples();
let received = 0;
let duplicates = 0;
let outOfOrder = 0;
let rangeFirst = 0;
let ackTimer: NodeJS.Timeout | null = null;

const ALARM_PREFIX = Buffer.from('{"type":"alarm","seq":');
const TIME_KEY = Buffer.from('"time":');

/** Digits (and . - e +) from `at` to the next delimiter, as a number. Avoids decoding the whole frame. */
function numberAt(buf: Buffer, at: number): number {
  let end = at;
  while (end < buf.length) {
    const c = buf[end];
    if (c === 0x2c || c === 0x7d || c === 0x5d) break; // , } ]
    end++;
  }
  return Number(buf.toString('latin1', at, end));
}

function onFrame(c: Client, data: Buffer, t: number): boolean {
  // Both servers write JSON.stringify({ type, seq, alarm }), so alarm frames start with this prefix.
  if (
    data.length > ALARM_PREFIX.length &&
    data.compare(ALARM_PREFIX, 0, ALARM_PREFIX.length, 0, ALARM_PREFIX.length) === 0
  ) {
    const seq = numberAt(data, ALARM_PREFIX.length);
    const ti = data.indexOf(TIME_KEY);
    const created = ti >= 0 ? numberAt(data, ti + TIME_KEY.length) : Number.NaN;
    if (c.count === 0) {
      // Check the first alarm of each client in full, so a change of shape fails loudly rather than skews.
      const m = JSON.parse(data.toString('utf8')) as { seq: number; alarm: { id: unknown; time: unknown } };
      if (m.seq !== seq || m.alarm.time !== created || typeof m.alarm.id !== 'string')
        throw new Error(`unexpected alarm frame: ${data.toString('utf8').slice(0, 200)}`);
    }
    received++;
    if (seq <= c.lastSeq) {
      if (seq === c.lastSeq) duplicates++;
      else outOfOrder++;
      return true;
    }
    if (c.count === 0) c.firstSeq = seq;
    c.lastSeq = seq;
    c.count++;
    latencies.push(t - created);
    return true;
  }
  return false;
}

function openClient(
  url: string,
  token: string,
  header: boolean,
  onError: (e: string) => void,
): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: header ? { authorization: `Bearer ${token}` } : {},
      perMessageDeflate: false,
      // Same for both servers; the client's own CPU is what competes with the server on a small box.
      skipUTF8Validation: true,
    });
    const c: Client = { ws, count: 0, firstSeq: 0, lastSeq: 0, ackedSeq: 0, closedCode: null };
    let state: 'open' | 'ready' | 'subscribed' = 'open';
    const fail = (why: string) => {
      if (state !== 'subscribed') reject(new Error(why));
      else onError(why);
    };
    ws.on('open', () => {
      if (!header) ws.send(JSON.stringify({ type: 'auth', token }));
    });
    ws.on('message', (data: Buffer) => {
      const t = now();
      if (state === 'subscribed') {
        if (onFrame(c, data, t)) return;
      }
      const m = JSON.parse(data.toString('utf8')) as { type: string; reason?: string };
      if (m.type === 'ready' && state === 'open') {
        state = 'ready';
        ws.send(JSON.stringify({ type: 'subscribe', filters: {} }));
      } else if (m.type === 'subscribed' && state === 'ready') {
        state = 'subscribed';
        resolve(c);
      } else if (m.type === 'error') fail(`server error: ${m.reason}`);
    });
    ws.on('close', (code, reason) => {
      c.closedCode = code;
      fail(`closed ${code} ${reason.toString()}`);
    });
    ws.on('error', (err) => fail(err.message));
  });
}

async function connectAll(req: ConnectRequest): Promise<ConnectReply> {
  let failed = 0;
  let firstError: string | null = null;
  const setups: number[] = [];
  const t0 = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < req.clients) {
      const i = next++;
      const s = performance.now();
      try {
        clients.push(
          await openClient(req.url, req.tokens[i % req.tokens.length], i % 2 === 0, (e) => {
            firstError ??= e;
          }),
        );
        setups.push(performance.now() - s);
      } catch (err) {
        failed++;
        firstError ??= errorMessage(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(req.concurrency, req.clients) }, lane));
  const setupMs = performance.now() - t0;
  ackTimer = setInterval(() => {
    for (const c of clients) {
      if (c.lastSeq > c.ackedSeq && c.ws.readyState === WebSocket.OPEN) {
        c.ws.send(`{"type":"ack","seq":${c.lastSeq}}`);
        c.ackedSeq = c.lastSeq;
      }
    }
  }, req.ackMs);
  return {
    setupMs,
    clientSetupP50Ms: percentile(setups, 50),
    clientSetupP99Ms: percentile(setups, 99),
    subscribed: clients.length,
    failed,
    firstError,
  };
}

async function finish(first: number, last: number, waitMs: number): Promise<FinishReply> {
  rangeFirst = first;
  const t0 = performance.now();
  const done = () => clients.every((c) => c.lastSeq >= last || c.closedCode !== null);
  while (!done() && performance.now() - t0 < waitMs) await sleep(20);
  const waitedMs = performance.now() - t0;
  if (ackTimer) clearInterval(ackTimer);
  const per = last - first + 1;
  let delivered = 0;
  let complete = 0;
  let outOfRange = 0;
  const closes: Record<string, number> = {};
  for (const c of clients) {
    // Subscribed before the first publish, so a client's frames are [firstSeq, lastSeq] of this run only.
    const early = c.count > 0 && c.firstSeq < rangeFirst ? rangeFirst - c.firstSeq : 0;
    const late = c.lastSeq > last ? c.lastSeq - last : 0;
    outOfRange += Math.min(c.count, early + late);
    const inRange = c.count - Math.min(c.count, early + late);
    delivered += inRange;
    if (inRange === per && c.firstSeq <= first && c.lastSeq >= last) complete++;
    if (c.closedCode !== null) closes[c.closedCode] = (closes[c.closedCode] ?? 0) + 1;
  }
  const s = latencies.sorted();
  let sum = 0;
  for (const v of s) sum += v;
  return {
    expected: clients.length * per,
    delivered,
    duplicates,
    outOfOrder,
    outOfRange,
    complete,
    p50: pick(s, 50),
    p95: pick(s, 95),
    p99: pick(s, 99),
    max: s.length > 0 ? s[s.length - 1] : Number.NaN,
    mean: s.length > 0 ? sum / s.length : Number.NaN,
    closes,
    waitedMs,
  };
}

// ---------------------------------------------------------------- publisher

const severities: Severity[] = ['critical', 'high', 'medium', 'low'];

function makeAlarm(i: number, schools: number, created: number): Alarm {
  const school = `s${(i % schools) + 1}`;
  return {
    id: `bench-${process.pid}-${i}`,
    kind: 'fight',
    severity: severities[i % severities.length],
    state: 'open',
    schoolId: school,
    cameraId: `cam${(i % 7) + 1}`,
    zoneId: 'yard',
    trackIds: [i, i + 1],
    score: 0.87,
    cues: { motion: 0.62, people: 3 },
    frames: 4,
    openedAt: Math.floor(created) - 1000,
    updatedAt: created,
    confirmedAt: Math.floor(created) - 500,
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: null,
    evidence: { seq: i, box: { x1: 100, y1: 80, x2: 260, y2: 300 } },
  } as Alarm;
}

async function publish(req: PublishRequest): Promise<PublishReply> {
  const nc = await connect({ servers: req.natsUrl });
  try {
    const js = nc.jetstream();
    const total = Math.round(req.rate * req.seconds);
    const period = 1000 / req.rate;
    const acks: Array<Promise<PubAck | null>> = [];
    const late: number[] = [];
    let failed = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now() + 20;
    for (let i = 0; i < total; i++) {
      const due = t0 + i * period;
      // Timers are ms-accurate, which is enough: the creation stamp is taken when the alarm is really published.
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      late.push(performance.now() - due);
      const a = makeAlarm(i, req.schools, now());
      acks.push(
        js.publish(subjects.alarm(a.severity, a.schoolId), encodeAlarm(a)).catch(() => {
          failed++;
          return null;
        }),
      );
    }
    const done = (await Promise.all(acks)).filter((a): a is PubAck => a !== null);
    const cpu = process.cpuUsage(cpu0);
    const seqs = done.map((a) => a.seq);
    return {
      first: Math.min(...seqs),
      last: Math.max(...seqs),
      published: done.length,
      failed,
      wallMs: performance.now() - t0,
      lateP99Ms: percentile(late, 99),
      lateMaxMs: Math.max(...late),
      cpuUs: cpu.user + cpu.system,
    };
  } finally {
    await nc.close();
  }
}

// ---------------------------------------------------------------- IPC

async function handle(req: Request): Promise<void> {
  try {
    let reply: object;
    if (req.type === 'connect') reply = await connectAll(req);
    else if (req.type === 'stats') {
      const cpu = process.cpuUsage();
      reply = { received, cpuUs: cpu.user + cpu.system, atMs: now() } satisfies StatsReply;
    } else if (req.type === 'finish') reply = await finish(req.first, req.last, req.waitMs);
    else reply = await publish(req);
    send({ ...reply, id: req.id, type: 'reply' });
  } catch (err) {
    send({ id: req.id, type: 'error', error: errorMessage(err) });
  }
}

const role = process.argv[2];
if (!process.send || (role !== 'clients' && role !== 'publisher')) {
  process.stderr.write(
    'bench/suites/alarms-clients.js clients|publisher runs as a child process with an IPC channel (started by `npm run bench -- alarms`)\n',
  );
  process.exit(2);
}
process.on('message', (m) => void handle(m as Request));
process.on('disconnect', () => process.exit(0));
