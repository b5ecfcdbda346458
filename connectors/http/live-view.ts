/**
 * On-demand live view of a camera for police operators, behind the `/live/…` routes of the alarm
 * socket and independent of uWS. One ffmpeg process per watched camera (node-rtsp-stream's
 * Mpeg1Muxer: RTSP in, MPEG-TS with mpeg1video out, what JSMpeg plays), shared by every viewer of
 * that camera, started when a ticket is granted and stopped when nobody watches.
 *
 * Flow: `open()` grants a single-use ticket (and starts or reuses the camera's stream, so ffmpeg
 * warms up while the console connects its websocket); `attach(ticket, viewer)` joins the viewer;
 * the route calls `detach()` when the websocket closes. A stream with no viewer and no outstanding
 * ticket is stopped after `idleStopMs`.
 *
 * Bounds: at most `maxStreams` ffmpeg processes alive (a stopping one still counts until it has
 * exited), at most `maxViewersPerStream` viewers plus outstanding tickets per camera; nothing is
 * queued per viewer here: a viewer whose `send` reports backpressure is closed 4008 'slow viewer'.
 * Every chunk handed to viewers is a whole number of 188-byte TS packets, so a viewer that joins
 * mid-stream starts on a packet boundary.
 *
 * Transport: Mpeg1Muxer puts its options after `-i <url>`, so input options such as
 * `-rtsp_transport tcp` cannot be given, and ffmpeg 5.1 ignores the old `?tcp` URL suffix (checked:
 * it still tries UDP). ffmpeg's default is UDP first; a server that answers SETUP with 461 (the
 * project's fleet is TCP-only) gets an immediate retry over TCP interleaved on the same open, and a
 * camera that accepts UDP but whose packets never arrive is retried over TCP after ffmpeg's 10 s
 * read timeout.
 */
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { KuzetError } from '../../engine/errors.js';
import { createLogger, type Logger } from '../../engine/log.js';
import { redactUrl } from '../rtsp/index.js';

/** The part of node-rtsp-stream's CommonJS Mpeg1Muxer this unit uses (the package ships no types). */
interface Mpeg1Muxer {
  /** The ffmpeg process, spawned by the constructor. */
  readonly stream: ChildProcess;
  on(event: 'mpeg1data' | 'ffmpegStderr', listener: (data: Buffer) => void): unknown;
}
type Mpeg1MuxerConstructor = new (options: {
  url: string;
  ffmpegPath: string;
  /** Flag → value ('' = flag alone), appended in insertion order after `-codec:v mpeg1video`. */
  ffmpegOptions?: Record<string, string>;
}) => Mpeg1Muxer;

const Mpeg1Muxer = createRequire(import.meta.url)('node-rtsp-stream/mpeg1muxer.js') as Mpeg1MuxerConstructor;

export type LiveStreamStopReason = 'idle' | 'shutdown' | 'failed';
export type LiveViewerLeaveReason = 'detached' | 'slow' | 'stream-failed' | 'shutdown';

export type LiveViewEvent =
  | { type: 'stream-start'; schoolId: string; cameraId: string; pid: number | undefined }
  | {
      type: 'stream-stop';
      schoolId: string;
      cameraId: string;
      pid: number | undefined;
      reason: LiveStreamStopReason;
      /** For 'failed': how ffmpeg ended (e.g. 'ffmpeg exited with code 1'). */
      detail?: string;
    }
  | { type: 'viewer-join'; schoolId: string; cameraId: string; viewers: number }
  | {
      type: 'viewer-leave';
      schoolId: string;
      cameraId: string;
      viewers: number;
      reason: LiveViewerLeaveReason;
    };

export interface LiveViewOptions {
  /** Cap on concurrently alive camera streams (ffmpeg processes); the engine's default is 4. */
  maxStreams: number;
  /** Viewers plus outstanding tickets per camera (default 8). */
  maxViewersPerStream?: number;
  /** A stream with no viewer and no outstanding ticket is stopped this long after it became so (default 5000). */
  idleStopMs?: number;
  /** A ticket must be attached within this; single use (default 30000). */
  ticketTtlMs?: number;
  /** Default 'ffmpeg'. */
  ffmpegPath?: string;
  /**
   * ffmpeg output options merged over the defaults `{ '-b:v': '1000k', '-r': '25', '-bf': '0', '-an': '' }`
   * ('' = flag without value). `-r` must be an MPEG-1 rate (23.976, 24, 25, 29.97, 30, 50, 59.94, 60).
   */
  outputOptions?: Record<string, string>;
  /** SIGTERM → SIGKILL grace when stopping ffmpeg (default 3000). */
  killGraceMs?: number;
  log?: Logger;
  /** Called synchronously; a throwing listener is logged and ignored. */
  onEvent?: (e: LiveViewEvent) => void;
}

export interface LiveViewer {
  /** Returns false when the viewer is backed up (e.g. uWS send() === 2 or buffered above a cap): it gets closed 4008. */
  send(chunk: Uint8Array): boolean;
  close(code: number, reason: string): void;
}

export interface LiveViewTicket {
  ticket: string;
  /** Epoch ms. */
  expiresAt: number;
}

export interface LiveViewAttachment {
  /** Idempotent; call it when the viewer's websocket closes, whoever closed it. */
  detach(): void;
}

/** Thrown by `open()` at a cap; the route should answer 503 (streams) or 429 (viewers) with the message. */
export class LiveViewCapError extends Error {
  readonly kind: 'streams' | 'viewers';
  constructor(kind: 'streams' | 'viewers', message: string) {
    super(message);
    this.kind = kind;
    this.name = 'LiveViewCapError';
  }
}

/** Close codes sent to viewers. */
export const LIVE_CLOSE_SHUTDOWN = 1001;
export const LIVE_CLOSE_STREAM_FAILED = 1011;
export const LIVE_CLOSE_SLOW_VIEWER = 4008;

const TS_PACKET = 188;
const STDERR_LINES = 8;
/** A websocket close reason is at most 123 bytes. */
const MAX_CLOSE_REASON = 123;
const DEFAULT_OUTPUT: Record<string, string> = { '-b:v': '1000k', '-r': '25', '-bf': '0', '-an': '' };
/**
 * Global ffmpeg flags are valid anywhere on the command line, so they can go through Mpeg1Muxer's
 * output options: no stdin, no progress lines, only warnings and errors on stderr (the tail kept
 * for the failure log).
 */
const QUIET: Record<string, string> = { '-nostdin': '', '-nostats': '', '-loglevel': 'warning' };
const MPEG1_RATES = [24000 / 1001, 24, 25, 30000 / 1001, 30, 50, 60000 / 1001, 60];

interface Viewer {
  viewer: LiveViewer;
  stream: Stream;
  gone: boolean;
}

interface Stream {
  schoolId: string;
  cameraId: string;
  key: string;
  /** Credentials redacted: the only form of the URL that may reach a log. */
  shownUrl: string;
  /** Password as written in the URL and decoded, to scrub from ffmpeg's stderr. */
  secrets: string[];
  child: ChildProcess;
  pid: number | undefined;
  state: 'running' | 'stopping' | 'exited';
  stopReason: LiveStreamStopReason;
  /** Close reason for viewers (and late attaches) once the stream has failed. */
  failure: string | undefined;
  viewers: Set<Viewer>;
  tickets: number;
  idleTimer: NodeJS.Timeout | undefined;
  killTimer: NodeJS.Timeout | undefined;
  /** The bytes of an incomplete TS packet, held until the next chunk completes it. */
  carry: Buffer | undefined;
  stderrTail: string[];
  stderrPartial: string;
  exited: Promise<void>;
}

interface Ticket {
  stream: Stream;
  expiresAt: number;
  timer: NodeJS.Timeout;
}

export class LiveViews {
  private readonly maxStreams: number;
  private readonly maxViewers: number;
  private readonly idleStopMs: number;
  private readonly ticketTtlMs: number;
  private readonly killGraceMs: number;
  private readonly ffmpegPath: string;
  private readonly ffmpegOptions: Record<string, string>;
  private readonly log: Logger;
  private readonly onEvent: ((e: LiveViewEvent) => void) | undefined;
  /** Running streams by camera. */
  private readonly running = new Map<string, Stream>();
  /** Killed, not yet exited: still holding a slot. */
  private readonly stopping = new Set<Stream>();
  private readonly tickets = new Map<string, Ticket>();
  private closed = false;

  constructor(opts: LiveViewOptions) {
    this.maxStreams = positiveInt('maxStreams', opts.maxStreams);
    this.maxViewers = positiveInt('maxViewersPerStream', opts.maxViewersPerStream ?? 8);
    this.idleStopMs = nonNegative('idleStopMs', opts.idleStopMs ?? 5000);
    this.ticketTtlMs = positive('ticketTtlMs', opts.ticketTtlMs ?? 30_000);
    this.killGraceMs = nonNegative('killGraceMs', opts.killGraceMs ?? 3000);
    this.ffmpegPath = opts.ffmpegPath ?? 'ffmpeg';
    const output = { ...DEFAULT_OUTPUT, ...opts.outputOptions };
    checkRate(output['-r']);
    this.ffmpegOptions = { ...QUIET, ...output };
    this.log = opts.log ?? createLogger('live-view');
    this.onEvent = opts.onEvent;
  }

  /**
   * Grants a single-use ticket for the camera's live view, starting its stream unless one is
   * running. Throws LiveViewCapError at `maxStreams` (a new camera) or `maxViewersPerStream`.
   * `rtspUrl` may carry credentials; it is never logged as given.
   */
  open(schoolId: string, cameraId: string, rtspUrl: string): LiveViewTicket {
    if (this.closed) throw new Error('LiveViews.open: closed');
    // ffmpeg would open any protocol it knows (file:, http:) from this argument.
    if (!/^rtsps?:\/\//i.test(rtspUrl))
      throw new KuzetError(
        'KUZET_ERR_CONFIG',
        `live view ${schoolId}/${cameraId}: camera URL must be rtsp:// or rtsps:// (got ${redactUrl(rtspUrl)})`,
      );
    const key = `${schoolId}\u0000${cameraId}`;
    let s = this.running.get(key);
    if (s) {
      if (s.viewers.size + s.tickets >= this.maxViewers)
        throw new LiveViewCapError(
          'viewers',
          `live view ${schoolId}/${cameraId}: ${this.maxViewers} viewers already (maxViewersPerStream)`,
        );
    } else {
      const alive = this.streams();
      if (alive >= this.maxStreams)
        throw new LiveViewCapError(
          'streams',
          `live view ${schoolId}/${cameraId}: ${alive} camera streams already running (maxStreams ${this.maxStreams}); retry when one is closed`,
        );
      s = this.start(schoolId, cameraId, key, rtspUrl);
    }
    const ticket = randomBytes(18).toString('base64url');
    const expiresAt = Date.now() + this.ticketTtlMs;
    const timer = setTimeout(() => this.expire(ticket), this.ticketTtlMs);
    timer.unref();
    this.tickets.set(ticket, { stream: s, expiresAt, timer });
    s.tickets++;
    clearTimeout(s.idleTimer);
    s.idleTimer = undefined;
    return { ticket, expiresAt };
  }

  /**
   * Joins a viewer to the stream its ticket was granted for and uses the ticket up. Null for an
   * unknown, expired or used ticket (and after close()). When the stream has failed meanwhile the
   * viewer is closed at once (1011, with the reason) and the detach is a no-op.
   */
  attach(ticket: string, viewer: LiveViewer): LiveViewAttachment | null {
    const t = this.tickets.get(ticket);
    if (!t || this.closed) return null;
    this.tickets.delete(ticket);
    clearTimeout(t.timer);
    const s = t.stream;
    s.tickets--;
    if (Date.now() > t.expiresAt) {
      this.idleCheck(s);
      return null;
    }
    if (s.state !== 'running') {
      safeClose(viewer, LIVE_CLOSE_STREAM_FAILED, s.failure ?? 'live stream ended', this.log);
      return { detach: () => {} };
    }
    const v: Viewer = { viewer, stream: s, gone: false };
    s.viewers.add(v);
    this.log.debug('Live viewer joined', { school: s.schoolId, camera: s.cameraId, viewers: s.viewers.size });
    this.emit({ type: 'viewer-join', schoolId: s.schoolId, cameraId: s.cameraId, viewers: s.viewers.size });
    return { detach: () => this.leave(v, 'detached') };
  }

  /** ffmpeg processes alive, stopping ones included (what `maxStreams` caps). */
  streams(): number {
    return this.running.size + this.stopping.size;
  }

  viewers(): number {
    let n = 0;
    for (const s of this.running.values()) n += s.viewers.size;
    return n;
  }

  /** Closes every viewer (1001), kills every ffmpeg and resolves once all have exited. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.tickets.values()) clearTimeout(t.timer);
    this.tickets.clear();
    for (const s of [...this.running.values()]) this.stop(s, 'shutdown');
    await Promise.all([...this.stopping].map((s) => s.exited));
  }

  private start(schoolId: string, cameraId: string, key: string, url: string): Stream {
    const muxer = new Mpeg1Muxer({ url, ffmpegPath: this.ffmpegPath, ffmpegOptions: this.ffmpegOptions });
    const child = muxer.stream;
    // The library's own exit listener only prints an unstructured console line on code 1; this
    // unit reports every exit itself, redacted, through the logger.
    child.removeAllListeners('exit');
    const s: Stream = {
      schoolId,
      cameraId,
      key,
      shownUrl: redactUrl(url),
      secrets: passwordForms(url),
      child,
      pid: child.pid,
      state: 'running',
      stopReason: 'failed',
      failure: undefined,
      viewers: new Set(),
      tickets: 0,
      idleTimer: undefined,
      killTimer: undefined,
      carry: undefined,
      stderrTail: [],
      stderrPartial: '',
      exited: Promise.resolve(),
    };
    s.exited = new Promise<void>((resolve) => {
      let done = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null, err?: Error): void => {
        if (done) return;
        done = true;
        this.onExit(s, code, signal, err);
        resolve();
      };
      child.once('exit', (code, signal) => finish(code, signal));
      // A spawn failure (no ffmpeg at ffmpegPath) is an 'error' with no process; without this
      // listener it would be thrown as an unhandled event.
      child.on('error', (err) => {
        if (child.pid === undefined || child.exitCode !== null) finish(child.exitCode, null, err);
        else
          this.log.warn('Live stream process error', {
            school: schoolId,
            camera: cameraId,
            err: err.message,
          });
      });
    });
    muxer.on('mpeg1data', (chunk) => this.fanOut(s, chunk));
    muxer.on('ffmpegStderr', (chunk) => this.keepStderr(s, chunk));
    this.running.set(key, s);
    this.log.info('Live stream started', { school: schoolId, camera: cameraId, url: s.shownUrl, pid: s.pid });
    this.emit({ type: 'stream-start', schoolId, cameraId, pid: s.pid });
    return s;
  }

  private fanOut(s: Stream, chunk: Buffer): void {
    if (s.state !== 'running') return;
    const data = s.carry ? Buffer.concat([s.carry, chunk]) : chunk;
    const whole = data.length - (data.length % TS_PACKET);
    s.carry = whole < data.length ? data.subarray(whole) : undefined;
    if (whole === 0 || s.viewers.size === 0) return;
    const out = whole === data.length ? data : data.subarray(0, whole);
    // A copy of the set: closing a viewer may re-enter through its detach().
    for (const v of [...s.viewers]) {
      let ok: boolean;
      try {
        ok = v.viewer.send(out);
      } catch {
        ok = false;
      }
      if (!ok) this.leave(v, 'slow', LIVE_CLOSE_SLOW_VIEWER, 'slow viewer');
    }
  }

  private keepStderr(s: Stream, chunk: Buffer): void {
    const lines = (s.stderrPartial + chunk.toString('utf8')).split(/\r\n|\r|\n/);
    // ffmpeg ends every line; a runaway partial line must not grow without bound.
    s.stderrPartial = (lines.pop() ?? '').slice(-1024);
    for (const line of lines) {
      if (line.trim() === '') continue;
      s.stderrTail.push(scrub(line, s.secrets).slice(0, 512));
      if (s.stderrTail.length > STDERR_LINES) s.stderrTail.shift();
    }
  }

  private leave(v: Viewer, reason: LiveViewerLeaveReason, code?: number, text?: string): void {
    if (v.gone) return;
    v.gone = true;
    const s = v.stream;
    s.viewers.delete(v);
    if (code !== undefined) safeClose(v.viewer, code, text ?? '', this.log);
    const fields = { school: s.schoolId, camera: s.cameraId, viewers: s.viewers.size, reason };
    if (reason === 'slow') this.log.warn('Live viewer too slow, closed', fields);
    else this.log.debug('Live viewer left', fields);
    this.emit({
      type: 'viewer-leave',
      schoolId: s.schoolId,
      cameraId: s.cameraId,
      viewers: s.viewers.size,
      reason,
    });
    this.idleCheck(s);
  }

  private expire(ticket: string): void {
    const t = this.tickets.get(ticket);
    if (!t) return;
    this.tickets.delete(ticket);
    t.stream.tickets--;
    this.idleCheck(t.stream);
  }

  private idleCheck(s: Stream): void {
    if (s.state !== 'running' || s.viewers.size > 0 || s.tickets > 0 || s.idleTimer) return;
    s.idleTimer = setTimeout(() => this.stop(s, 'idle'), this.idleStopMs);
    s.idleTimer.unref();
  }

  private stop(s: Stream, reason: 'idle' | 'shutdown'): void {
    if (s.state !== 'running') return;
    s.state = 'stopping';
    s.stopReason = reason;
    clearTimeout(s.idleTimer);
    s.idleTimer = undefined;
    this.running.delete(s.key);
    this.stopping.add(s);
    for (const v of [...s.viewers]) this.leave(v, 'shutdown', LIVE_CLOSE_SHUTDOWN, 'live view shutting down');
    s.child.kill('SIGTERM');
    // ffmpeg blocked in a network read honours SIGTERM through its interrupt callback; SIGKILL is for the rest.
    s.killTimer = setTimeout(() => s.child.kill('SIGKILL'), this.killGraceMs);
  }

  private onExit(s: Stream, code: number | null, signal: NodeJS.Signals | null, err?: Error): void {
    clearTimeout(s.killTimer);
    clearTimeout(s.idleTimer);
    const failed = s.state === 'running';
    s.state = 'exited';
    s.carry = undefined;
    if (this.running.get(s.key) === s) this.running.delete(s.key);
    this.stopping.delete(s);
    const base = { school: s.schoolId, camera: s.cameraId, pid: s.pid };
    if (!failed) {
      this.log.info('Live stream stopped', { ...base, reason: s.stopReason });
      this.emit({
        type: 'stream-stop',
        schoolId: s.schoolId,
        cameraId: s.cameraId,
        pid: s.pid,
        reason: s.stopReason,
      });
      return;
    }
    const detail = err
      ? `ffmpeg could not start (${(err as NodeJS.ErrnoException).code ?? err.message})`
      : signal
        ? `ffmpeg killed by ${signal}`
        : `ffmpeg exited with code ${code}`;
    if (s.stderrPartial.trim() !== '') s.stderrTail.push(scrub(s.stderrPartial, s.secrets).slice(0, 512));
    s.failure = `live stream ended: ${detail}`.slice(0, MAX_CLOSE_REASON);
    // 255: ffmpeg was interrupted by a signal, which is what Ctrl-C on the engine's terminal does to its whole
    // process group before the engine's own shutdown reaches the live views: not a camera failure.
    const interrupted = code === 255 || signal === 'SIGINT' || signal === 'SIGTERM';
    this.log[interrupted ? 'warn' : 'error'](interrupted ? 'Live stream interrupted' : 'Live stream failed', {
      ...base,
      url: s.shownUrl,
      detail,
      stderr: s.stderrTail.slice(-STDERR_LINES).join(' | '),
    });
    for (const v of [...s.viewers]) this.leave(v, 'stream-failed', LIVE_CLOSE_STREAM_FAILED, s.failure);
    this.emit({
      type: 'stream-stop',
      schoolId: s.schoolId,
      cameraId: s.cameraId,
      pid: s.pid,
      reason: 'failed',
      detail,
    });
  }

  private emit(e: LiveViewEvent): void {
    if (!this.onEvent) return;
    try {
      this.onEvent(e);
    } catch (err) {
      this.log.warn('Live view event listener threw', { type: e.type, err: String(err) });
    }
  }
}

function safeClose(viewer: LiveViewer, code: number, reason: string, log: Logger): void {
  try {
    viewer.close(code, reason);
  } catch (err) {
    // Already closed on the other side (uWS throws on a closed socket): nothing left to tell it.
    log.debug('Live viewer close failed', { err: String(err) });
  }
}

/** The password as written and decoded; ffmpeg may print either. Short ones are left to the URL redaction, lest common words be starred. */
function passwordForms(url: string): string[] {
  const m = /^[a-z][\w+.-]*:\/\/([^@/]*)@/i.exec(url);
  const colon = m ? m[1].indexOf(':') : -1;
  if (!m || colon < 0) return [];
  const raw = m[1].slice(colon + 1);
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    // Malformed escapes: ffmpeg sees the raw form only.
  }
  return [...new Set([raw, decoded])].filter((p) => p.length >= 4);
}

function scrub(line: string, secrets: string[]): string {
  let out = redactUrl(line);
  for (const p of secrets) out = out.split(p).join('***');
  return out;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1)
    throw new KuzetError(
      'KUZET_ERR_CONFIG',
      `LiveViews options.${name}: must be a positive integer (got ${v})`,
    );
  return v;
}

function positive(name: string, v: number): number {
  if (!(v > 0) || !Number.isFinite(v))
    throw new KuzetError('KUZET_ERR_CONFIG', `LiveViews options.${name}: must be > 0 (got ${v})`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!(v >= 0) || !Number.isFinite(v))
    throw new KuzetError('KUZET_ERR_CONFIG', `LiveViews options.${name}: must be >= 0 (got ${v})`);
  return v;
}

/** MPEG-1 video has a fixed table of frame rates; ffmpeg refuses any other at start (e.g. 15). */
function checkRate(rate: string | undefined): void {
  if (rate === undefined) return;
  const m = /^(\d+(?:\.\d+)?)(?:\/(\d+(?:\.\d+)?))?$/.exec(rate.trim());
  if (!m) return; // Named rates (ntsc, pal, film) are ffmpeg's to judge.
  const fps = Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2]));
  if (!MPEG1_RATES.some((r) => Math.abs(r - fps) < 0.01))
    throw new KuzetError(
      'KUZET_ERR_CONFIG',
      `LiveViews options.outputOptions['-r']: MPEG-1 video allows only 23.976, 24, 25, 29.97, 30, 50, 59.94 or 60 fps (got ${rate}); lower '-b:v' to save bandwidth instead`,
    );
}
