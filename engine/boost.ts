/**
 * Temporary sampling boosts requested over NATS: `kuzet.ctl.boost.<schoolId>.<cameraId>`
 * (`*` as camera = every camera of the school) with a msgpack or JSON body
 * `{ fps?: 5, seconds?: 30, reason?: string }`. A request/reply caller gets `{ ok, cameras }` or
 * `{ ok: false, error }` back, in the format it sent.
 *
 * Requests are untrusted input from the bus: decoding never throws, every rejection is counted and
 * answered with a message that names the field and the allowed range.
 */
import { Packr } from 'msgpackr';
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';
import { errorMessage } from './errors.js';
import { createLogger, type Logger } from './log.js';

export const BOOST_SUBJECT_PREFIX = 'kuzet.ctl.boost';
export const BOOST_SUBSCRIPTION = `${BOOST_SUBJECT_PREFIX}.>`;
export const BOOST_DEFAULT_FPS = 5;
export const BOOST_MAX_FPS = 25;
export const BOOST_DEFAULT_SECONDS = 30;
export const BOOST_MAX_SECONDS = 600;
const MAX_REASON_CHARS = 200;
const MAX_BODY_BYTES = 4096;

/** Same id rule as the config schema: ids travel in NATS subject tokens. */
const ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface BoostTarget {
  schoolId: string;
  /** A camera id, or `*` for every camera of the school. */
  cameraId: string;
}

export function boostSubject(schoolId: string, cameraId: string): string {
  return `${BOOST_SUBJECT_PREFIX}.${schoolId}.${cameraId}`;
}

export function parseBoostSubject(subject: string): BoostTarget | null {
  const parts = subject.split('.');
  if (parts.length !== 5 || parts.slice(0, 3).join('.') !== BOOST_SUBJECT_PREFIX) return null;
  const [, , , schoolId, cameraId] = parts as [string, string, string, string, string];
  if (!ID.test(schoolId)) return null;
  if (cameraId !== '*' && !ID.test(cameraId)) return null;
  return { schoolId, cameraId };
}

export interface BoostRequest {
  fps: number;
  seconds: number;
  reason?: string;
}

export type BoostDecodeResult =
  | { ok: true; request: BoostRequest; format: 'json' | 'msgpack' }
  | { ok: false; error: string; format: 'json' | 'msgpack' };

const packr = new Packr({ useRecords: false, variableMapSize: true });
const KNOWN_KEYS = new Set(['fps', 'seconds', 'reason']);

function sniffFormat(data: Uint8Array, contentType?: string): 'json' | 'msgpack' {
  const ct = (contentType ?? '').toLowerCase();
  if (ct.includes('json')) return 'json';
  if (ct.includes('msgpack')) return 'msgpack';
  // No content type (plain `nats req`): JSON text starts with `{` or `[` after optional whitespace.
  for (const b of data) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === 0x7b || b === 0x5b ? 'json' : 'msgpack';
  }
  return 'json';
}

/** Decodes and validates a boost request body. An empty body means all defaults. Never throws. */
export function decodeBoostRequest(data: Uint8Array, contentType?: string): BoostDecodeResult {
  const format = sniffFormat(data, contentType);
  const fail = (error: string): BoostDecodeResult => ({ ok: false, error, format });
  if (data.length > MAX_BODY_BYTES)
    return fail(`body: must be at most ${MAX_BODY_BYTES} bytes (got ${data.length})`);
  let body: unknown = {};
  if (data.some((b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d)) {
    try {
      body =
        format === 'json'
          ? JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'))
          : packr.unpack(data);
    } catch (err) {
      return fail(`body: not valid ${format === 'json' ? 'JSON' : 'msgpack'} (${errorMessage(err)})`);
    }
  }
  if (body instanceof Map) body = Object.fromEntries(body);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return fail('body: must be a map like {"fps": 5, "seconds": 30, "reason": "..."}');
  }
  const o = body as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length > 0) return fail(`${unknown[0]}: unknown field (allowed: fps, seconds, reason)`);

  const fps = o.fps ?? BOOST_DEFAULT_FPS;
  if (typeof fps !== 'number' || !Number.isFinite(fps) || !(fps > 0) || fps > BOOST_MAX_FPS) {
    return fail(`fps: must be a number > 0 and <= ${BOOST_MAX_FPS} (got ${JSON.stringify(o.fps)})`);
  }
  const seconds = o.seconds ?? BOOST_DEFAULT_SECONDS;
  if (
    typeof seconds !== 'number' ||
    !Number.isFinite(seconds) ||
    seconds < 0 ||
    seconds > BOOST_MAX_SECONDS
  ) {
    return fail(
      `seconds: must be a number >= 0 and <= ${BOOST_MAX_SECONDS}, 0 cancels a boost (got ${JSON.stringify(o.seconds)})`,
    );
  }
  const request: BoostRequest = { fps, seconds };
  if (o.reason !== undefined) {
    if (typeof o.reason !== 'string' || o.reason.length > MAX_REASON_CHARS) {
      return fail(`reason: must be a string of at most ${MAX_REASON_CHARS} characters`);
    }
    request.reason = o.reason;
  }
  return { ok: true, request, format };
}

export type BoostReply = { ok: true; cameras: number } | { ok: false; error: string };

/** Anything that can be boosted: a camera source, or its sampler. */
export interface Boostable {
  boost(fps: number, durationMs: number): void;
}

export type BoostLookup = (schoolId: string, cameraId: string) => Boostable[];

export interface BoostControllerOptions {
  nc: NatsConnection;
  /** Cameras matching a target; `cameraId` may be `*` (every camera of the school). */
  lookup: BoostLookup;
  log?: Logger;
  /** Registers `kuzet_boost_requests_total{result}` here when given. */
  registry?: Registry;
}

export type BoostResult = 'applied' | 'invalid' | 'no-camera';

export class BoostController {
  /** Requests by outcome, also exported as `kuzet_boost_requests_total{result}`. */
  readonly stats: Record<BoostResult, number> = { applied: 0, invalid: 0, 'no-camera': 0 };
  private readonly log: Logger;
  private readonly counter: Counter<'result'> | undefined;
  private sub: Subscription | undefined;

  constructor(private readonly opts: BoostControllerOptions) {
    this.log = (opts.log ?? createLogger('engine')).child('boost');
    if (opts.registry) {
      const existing = opts.registry.getSingleMetric('kuzet_boost_requests_total');
      this.counter =
        (existing as Counter<'result'> | undefined) ??
        new Counter({
          name: 'kuzet_boost_requests_total',
          help: 'Sampling boost requests received on kuzet.ctl.boost.>, by result',
          labelNames: ['result'] as const,
          registers: [opts.registry],
        });
    }
  }

  start(): void {
    if (this.sub) return;
    this.sub = this.opts.nc.subscribe(BOOST_SUBSCRIPTION, {
      callback: (err, msg) => {
        if (err) {
          this.log.warn('Boost subscription error', { err: errorMessage(err) });
          return;
        }
        this.handle(msg);
      },
    });
  }

  /** Stops listening; requests already handled keep their boost until it expires. */
  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  /** Applies one request message and replies when the sender asked for a reply. Never throws. */
  handle(msg: Msg): BoostReply {
    let contentType: string | undefined;
    try {
      contentType = msg.headers?.get('Content-Type') || undefined;
    } catch {
      contentType = undefined;
    }
    const decoded = decodeBoostRequest(msg.data, contentType);
    let reply: BoostReply;
    let result: BoostResult;
    const target = parseBoostSubject(msg.subject);
    if (!target) {
      result = 'invalid';
      reply = {
        ok: false,
        error: `subject: must be ${BOOST_SUBJECT_PREFIX}.<schoolId>.<cameraId|*> (got ${msg.subject})`,
      };
    } else if (!decoded.ok) {
      result = 'invalid';
      reply = { ok: false, error: decoded.error };
    } else {
      const { fps, seconds, reason } = decoded.request;
      let cameras: Boostable[] = [];
      try {
        cameras = this.opts.lookup(target.schoolId, target.cameraId);
      } catch (err) {
        this.log.error('Boost lookup threw', { err: errorMessage(err) });
      }
      let applied = 0;
      for (const c of cameras) {
        try {
          c.boost(fps, seconds * 1000);
          applied++;
        } catch (err) {
          this.log.warn('Camera refused boost', {
            school: target.schoolId,
            camera: target.cameraId,
            err: errorMessage(err),
          });
        }
      }
      if (applied > 0) {
        result = 'applied';
        reply = { ok: true, cameras: applied };
        this.log.info('Sampling boost applied', {
          school: target.schoolId,
          camera: target.cameraId,
          cameras: applied,
          fps,
          seconds,
          reason,
        });
      } else {
        result = 'no-camera';
        reply = {
          ok: false,
          error: `no running camera matches school "${target.schoolId}" camera "${target.cameraId}"`,
        };
      }
    }
    this.stats[result]++;
    this.counter?.inc({ result });
    if (!reply.ok) this.log.debug('Boost request rejected', { subject: msg.subject, error: reply.error });
    if (msg.reply) {
      try {
        const body =
          decoded.format === 'json' ? new TextEncoder().encode(JSON.stringify(reply)) : packr.pack(reply);
        msg.respond(body);
      } catch (err) {
        this.log.warn('Boost reply failed', { err: errorMessage(err) });
      }
    }
    return reply;
  }
}
