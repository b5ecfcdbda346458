/**
 * One camera polled over HTTP for JPEG snapshots (the ONVIF `GetSnapshotUri` kind of URL), for
 * cameras without a usable RTSP stream or where one image every few seconds is all a site needs.
 *
 * Like the RTSP source, nothing throws out of this class: every failure becomes a `camera-offline`
 * status with a short reason and a jittered, exponentially backed-off retry. Polls run on fixed
 * marks (start + k × interval), one request in flight at most; a mark missed because the camera
 * was slow is skipped, not queued.
 */
import http from 'node:http';
import https from 'node:https';
import { CameraLink, type CameraSourceBase } from '../camera-link.js';
import { errorMessage } from '../../engine/errors.js';
import { createLogger, type Logger } from '../../engine/log.js';
import type { CameraStatus } from '../../engine/types.js';
import { Authenticator, credentialsFromUrl, parseChallenges, pickChallenge } from '../rtsp/auth.js';

/** One JPEG as it leaves the connector. */
export interface JpegSample {
  schoolId: string;
  cameraId: string;
  /** Wall-clock time (ms since epoch) when the whole image had arrived. */
  captureTimeMs: number;
  /** Per-camera image counter. */
  seq: number;
  /** The JPEG file, in its own ArrayBuffer (transferable to a worker). */
  data: Uint8Array;
}

/** Kept as a name for callers: snapshot cameras report the shared CameraStatus with `codec: 'jpeg'`. */
export type SnapshotCameraStatus = CameraStatus;

/** Short, bounded-cardinality reasons for camera-offline (details go to the log). */
export type SnapshotOfflineReason = 'auth-failed' | 'unreachable' | 'http-error' | 'bad-content' | 'stopped';

export interface HttpSnapshotSourceConfig extends CameraSourceBase {
  /** Seconds between snapshots (default 1). */
  everySeconds?: number;
  /** Whole-request timeout: connect, headers and body (default 5000, capped at the interval when that is longer than 1 s). */
  timeoutMs?: number;
  /** Larger images are refused as bad-content (default 8 MiB). */
  maxBytes?: number;
  onJpeg: (s: JpegSample) => void;
}

/** Monotonic counters, shaped like the RTSP source's so CameraHealth reads both. */
export interface HttpSnapshotCounters {
  /** HTTP requests sent (auth retries included). */
  packets: number;
  /** Body bytes received. */
  bytes: number;
  /** Images received (valid or not). */
  accessUnits: number;
  /** Images emitted through onJpeg. */
  sampled: number;
  /** Always 0: every good image is emitted. */
  skipped: number;
  /** Images refused: wrong content type, not a JPEG, too large, truncated. */
  lossDiscarded: number;
  /** Polls after a failure. */
  reconnects: number;
  /** Failed polls, any reason. */
  failures: number;
}

class SnapshotError extends Error {
  constructor(
    readonly reason: Exclude<SnapshotOfflineReason, 'stopped'>,
    message: string,
  ) {
    super(message);
  }
}

const JPEG_TYPES = new Set(['image/jpeg', 'image/jpg', 'image/pjpeg']);

export class HttpSnapshotSource {
  readonly counters: HttpSnapshotCounters = {
    packets: 0,
    bytes: 0,
    accessUnits: 0,
    sampled: 0,
    skipped: 0,
    lossDiscarded: 0,
    reconnects: 0,
    failures: 0,
  };
  private readonly log: Logger;
  private readonly url: URL;
  private readonly user: string | undefined;
  private readonly pass: string | undefined;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly link: CameraLink;
  private readonly agent: http.Agent;

  private running = false;
  private polls = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private nextAt = 0;
  private inFlight: http.ClientRequest | undefined;
  private auth: Authenticator | undefined;
  private boostIntervalMs = 0;
  private boostUntil = 0;

  constructor(private readonly cfg: HttpSnapshotSourceConfig) {
    this.log = (cfg.log ?? createLogger('http-snapshot')).child(cfg.cameraId);
    const fromUrl = credentialsFromUrl(cfg.url);
    this.url = new URL(fromUrl.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new RangeError(`url: must be an http:// or https:// URL (got ${this.url.protocol})`);
    }
    this.user = cfg.user ?? fromUrl.user;
    this.pass = cfg.pass ?? fromUrl.pass;
    const every = cfg.everySeconds ?? 1;
    if (!(every > 0)) throw new RangeError(`everySeconds: must be > 0 (got ${every})`);
    this.intervalMs = every * 1000;
    this.timeoutMs = cfg.timeoutMs ?? Math.min(5000, Math.max(1000, this.intervalMs));
    this.maxBytes = cfg.maxBytes ?? 8 * 1024 * 1024;
    this.link = new CameraLink(cfg, cfg.onStatus, this.log, cfg.reconnect);
    // One socket per camera, kept alive between polls: a TCP (and TLS) handshake per image is wasteful.
    const agentOpts = { keepAlive: true, maxSockets: 1 };
    this.agent = this.url.protocol === 'https:' ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
  }

  get online(): boolean {
    return this.link.online;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.nextAt = Date.now();
    this.link.emit({
      type: 'camera-connecting',
      schoolId: this.cfg.schoolId,
      cameraId: this.cfg.cameraId,
      at: Date.now(),
    });
    this.schedule(0);
  }

  /** Cancels polling and any request in flight. Never rejects. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    this.inFlight?.destroy();
    this.inFlight = undefined;
    this.agent.destroy();
    this.link.markOffline('stopped');
  }

  /** Polls at `fps` (at most) for `durationMs`, then back to `everySeconds`. A boost never slows polling down. */
  boost(fps: number, durationMs: number): void {
    if (!(fps > 0) || !Number.isFinite(fps)) throw new RangeError(`boost fps: must be > 0 (got ${fps})`);
    if (!(durationMs >= 0)) throw new RangeError(`boost duration: must be >= 0 ms (got ${durationMs})`);
    this.boostIntervalMs = 1000 / fps;
    this.boostUntil = Date.now() + durationMs;
    // Pull the next poll forward when it is further away than the boosted interval.
    if (this.running && this.inFlight === undefined && this.link.failures === 0 && this.timer !== undefined) {
      const now = Date.now();
      const soon = now + this.currentIntervalMs(now);
      if (soon < this.nextAt) {
        this.nextAt = soon;
        this.schedule(soon - now);
      }
    }
  }

  boosted(nowMs = Date.now()): boolean {
    return nowMs < this.boostUntil;
  }

  private currentIntervalMs(now: number): number {
    return this.boosted(now) ? Math.min(this.intervalMs, this.boostIntervalMs) : this.intervalMs;
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.poll();
      },
      Math.max(0, delayMs),
    );
  }

  private async poll(): Promise<void> {
    if (!this.running) return;
    if (this.polls++ > 0 && this.link.failures > 0) this.counters.reconnects++;
    try {
      const data = await this.fetchJpeg();
      if (!this.running) return;
      this.onImage(data);
      const now = Date.now();
      // Next mark after now, on the grid started at the last mark: no drift, missed marks skipped.
      const step = this.currentIntervalMs(now);
      this.nextAt += step;
      if (this.nextAt <= now) this.nextAt = now + step - ((now - this.nextAt) % step);
      this.schedule(this.nextAt - now);
    } catch (err) {
      if (!this.running) return;
      this.fail(err);
    }
  }

  private onImage(data: Uint8Array): void {
    if (!this.link.online) {
      this.log.debug('Camera online', { url: redact(this.cfg.url) });
      this.link.markOnline('jpeg');
    }
    this.counters.sampled++;
    const sample: JpegSample = {
      schoolId: this.cfg.schoolId,
      cameraId: this.cfg.cameraId,
      captureTimeMs: Date.now(),
      seq: this.seq++,
      data,
    };
    try {
      this.cfg.onJpeg(sample);
    } catch (err) {
      this.log.error('onJpeg threw', { err: errorMessage(err) });
    }
  }

  private fail(err: unknown): void {
    const reason: Exclude<SnapshotOfflineReason, 'stopped'> =
      err instanceof SnapshotError ? err.reason : 'unreachable';
    const delay = this.link.failed(reason === 'auth-failed');
    this.counters.failures++;
    if (reason === 'bad-content') this.counters.lossDiscarded++;
    if (reason === 'auth-failed') this.auth = undefined;
    const level = reason === 'auth-failed' ? 'warn' : 'debug';
    this.log[level]('Camera offline', {
      reason,
      err: errorMessage(err),
      url: redact(this.cfg.url),
      failures: this.link.failures,
    });
    this.link.markOffline(reason);
    this.nextAt = Date.now() + delay;
    this.schedule(delay);
  }

  /** One snapshot, answering at most one auth challenge. Rejects with SnapshotError or a network error. */
  private async fetchJpeg(): Promise<Uint8Array> {
    const first = await this.request();
    if (first.status !== 401) return this.check(first);
    const challenge = pickChallenge(parseChallenges(first.challenges));
    if (this.user === undefined || this.pass === undefined)
      throw new SnapshotError('auth-failed', 'camera asks for credentials and none are configured');
    if (!challenge)
      throw new SnapshotError(
        'auth-failed',
        `no supported auth scheme in ${JSON.stringify(first.challenges)}`,
      );
    this.auth = new Authenticator(this.user, this.pass, challenge);
    const second = await this.request();
    if (second.status === 401) throw new SnapshotError('auth-failed', 'camera rejected the credentials');
    return this.check(second);
  }

  private check(r: HttpResult): Uint8Array {
    if (r.status === 403) throw new SnapshotError('auth-failed', 'HTTP 403 Forbidden');
    if (r.status !== 200) throw new SnapshotError('http-error', `HTTP ${r.status}`);
    this.counters.accessUnits++;
    const type = (r.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    if (!JPEG_TYPES.has(type))
      throw new SnapshotError(
        'bad-content',
        `content-type ${JSON.stringify(r.contentType ?? null)}, expected image/jpeg`,
      );
    const d = r.body;
    if (d.length < 4 || d[0] !== 0xff || d[1] !== 0xd8 || d[2] !== 0xff)
      throw new SnapshotError('bad-content', 'body is not a JPEG (no SOI marker)');
    return d;
  }

  private request(): Promise<HttpResult> {
    return new Promise<HttpResult>((resolve, reject) => {
      const path = this.url.pathname + this.url.search;
      const headers: http.OutgoingHttpHeaders = { accept: 'image/jpeg', 'user-agent': 'kuzet' };
      if (this.auth) headers.authorization = this.auth.header('GET', path);
      this.counters.packets++;
      const mod = this.url.protocol === 'https:' ? https : http;
      let settled = false;
      const done = (err: Error | undefined, res?: HttpResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.inFlight === req) this.inFlight = undefined;
        if (err) reject(err);
        else resolve(res!);
      };
      const req = mod.request(this.url, { method: 'GET', headers, agent: this.agent }, (res) => {
        const status = res.statusCode ?? 0;
        const contentType = res.headers['content-type'];
        const challenges: string[] = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          if (res.rawHeaders[i]!.toLowerCase() === 'www-authenticate')
            challenges.push(res.rawHeaders[i + 1]!);
        }
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (status === 200 && declared > this.maxBytes) {
          req.destroy();
          done(
            new SnapshotError('bad-content', `image of ${declared} bytes exceeds maxBytes ${this.maxBytes}`),
          );
          return;
        }
        if (status !== 200) {
          // Drain small error bodies so the keep-alive socket can be reused; no need to keep them.
          res.resume();
          res.on('end', () => done(undefined, { status, contentType, challenges, body: new Uint8Array(0) }));
          res.on('error', (e) => done(e));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          this.counters.bytes += c.length;
          if (size > this.maxBytes) {
            req.destroy();
            done(new SnapshotError('bad-content', `image exceeds maxBytes ${this.maxBytes}`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          if (res.complete === false) return done(new SnapshotError('bad-content', 'response ended early'));
          // Own ArrayBuffer, not the Buffer pool: the image can be transferred to a worker.
          const body = new Uint8Array(size);
          let o = 0;
          for (const c of chunks) {
            body.set(c, o);
            o += c.length;
          }
          done(undefined, { status, contentType, challenges, body });
        });
        res.on('aborted', () => done(new SnapshotError('bad-content', 'response aborted')));
        res.on('error', (e) => done(e));
      });
      const timer = setTimeout(() => {
        req.destroy();
        done(new SnapshotError('unreachable', `no complete response within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.inFlight = req;
      req.on('error', (e) => done(e));
      req.end();
    });
  }
}

interface HttpResult {
  status: number;
  contentType: string | undefined;
  challenges: string[];
  body: Uint8Array;
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
