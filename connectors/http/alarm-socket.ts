import uWS, { type WebSocket } from 'uWebSockets.js';
import { DeliverPolicy, type ConsumerMessages, type NatsConnection } from 'nats';
import { createLogger, type Logger } from '../../engine/log.js';
import { decodeMessage, type AlarmMessage } from '../nats/bus.js';
import { AlarmFeed, type FeedEntry } from './alarm-feed.js';
import type { OperatorAction } from '../../engine/types.js';
import {
  registerConsole,
  registerEvidence,
  registerLiveView,
  type EvidenceReader,
  type LiveViewService,
} from './routes.js';
import { TokenBook, type TokenEntry, type TokenRole } from './tokens.js';

export type { TokenEntry, TokenRole } from './tokens.js';

/**
 * WebSocket gateway that streams alarms from the JetStream stream `KUZET_ALARMS` to operator consoles.
 *
 * Protocol (JSON text frames):
 *  - auth: `Authorization: Bearer <token>` on the upgrade, or first message `{"type":"auth","token":"…"}`
 *    within 5 s. Failure: close 4401 'unauthorized' / 'auth timeout'. Success: `{"type":"ready","name":…}`.
 *  - `{"type":"subscribe","filters":{"severity":[…],"kind":[…],"school":[…]},"resumeAfter":N}`: alarms with
 *    stream sequence > N (absent → only new ones), in the token's scope and matching every given filter,
 *    are sent as `{"type":"alarm","seq":<stream seq>,"alarm":{…AlarmMessage}}`. A second subscribe replaces
 *    the first. A school filter naming a school outside the token's scope is refused: close 4403
 *    'forbidden: school X is outside your scope'.
 *  - `{"type":"ack","seq":N}`: highest acked seq is recorded (the client resumes with its own lastAcked).
 *  - `{"type":"acknowledge","alarmId":"…","comment":"…"}`: the operator takes the alarm (police and
 *    school-admin tokens, in scope). Reply `{"type":"acknowledged","alarmId"}` or an error naming the alarm;
 *    the state change itself arrives as the next `alarm` message (state 'acknowledged').
 *  - Each `alarm` carries `links` (evidence JPEG, live view; same bearer token over HTTP) and the camera's room.
 *  - Slow consumer: more than maxBufferedBytes buffered after a send → close 4008 'slow consumer'.
 *  - JetStream feed failure (e.g. missing stream) → `{"type":"error",…}` then close 1011: reconnect and resume.
 *  - Heartbeat: uWS pings automatically; a peer silent for ~idleTimeout (heartbeatSeconds rounded to 4 s) is dropped.
 */

export interface AlarmSocketOptions {
  host?: string;
  /** 0 = a free port. */
  port?: number;
  nc: NatsConnection;
  stream?: string;
  tokens: TokenEntry[];
  /** schoolId → district, for district-scoped tokens. */
  schoolsDistrict?: Record<string, string>;
  maxBufferedBytes?: number;
  heartbeatSeconds?: number;
  /** Stream messages held in memory for resuming clients (default 10,000); older resumes use a consumer. */
  replayWindow?: number;
  /** Time allowed for the first-message auth (default 5000 ms). */
  authTimeoutMs?: number;
  log?: Logger;
  /** An operator takes an alarm; without it `acknowledge` messages are refused. */
  acknowledge?: (req: AcknowledgeRequest) => AcknowledgeResult | Promise<AcknowledgeResult>;
  /** Camera facts for the payload (room) and the live view (RTSP URL; null = no live view). */
  camera?: (schoolId: string, cameraId: string) => CameraInfo | null;
  /** Evidence JPEGs, served at GET /evidence/<school>/<camera>/<alarmId>.jpg. */
  evidence?: EvidenceReader;
  /** On-demand live view: POST /live/<school>/<camera> → ticket, websocket /live/ws/<ticket>. */
  liveViews?: LiveViewService;
  /** Folder of the operators' console, served at /console/ (files outside it: `consoleVendor`). */
  consoleDir?: string;
  /** Extra files under /console/vendor/: name → absolute path. */
  consoleVendor?: Record<string, string>;
  /** The audit trail: acknowledgements, evidence views, live views. */
  audit?: (action: OperatorAction) => void;
  /** Every connection that ends, once, with why (for kuzet_alarm_client_disconnects_total). */
  onClientClosed?: (why: AlarmClientCloseReason) => void;
  /**
   * Each alarm message as the live fan-out writes it to the connected clients: ms from the alarm's change
   * (its `time`: the frame's, for a change seen on camera) to now (for kuzet_alarm_fanout_delay_seconds).
   */
  onAlarmFannedOut?: (delayMs: number) => void;
}

/**
 * Why a connection ended: refused (`unauthorized`, `auth_timeout`, `forbidden`), cut off (`slow_consumer`,
 * `feed_failed`: the client should resume), `shutdown` of the server, or `peer` (the client closed it).
 */
export type AlarmClientCloseReason =
  'unauthorized' | 'auth_timeout' | 'forbidden' | 'slow_consumer' | 'feed_failed' | 'shutdown' | 'peer';

export interface CameraInfo {
  room: string | null;
  /** With credentials, for the live-view process only; never sent to clients. */
  rtspUrl: string | null;
}

export interface AcknowledgeRequest {
  alarmId: string;
  comment: string;
  token: TokenEntry;
  inScope: (schoolId: string) => boolean;
}

export type AcknowledgeResult = { ok: true } | { ok: false; reason: string };

/** What a client receives per alarm: the bus message plus what the console needs to act on it. */
export interface AlarmPayload extends AlarmMessage {
  room: string | null;
  links: { evidence: string; live: string | null };
}

export interface AlarmSocketServer {
  port: number;
  /** Live authenticated-or-pending connections. */
  connections(): number;
  close(): Promise<void>;
}

export interface AlarmFilters {
  severity?: string[];
  kind?: string[];
  school?: string[];
}

export type ClientMessage =
  | { type: 'auth'; token: string }
  | { type: 'subscribe'; filters?: AlarmFilters; resumeAfter?: number }
  | { type: 'ack'; seq: number }
  | { type: 'acknowledge'; alarmId: string; comment: string };

export type ServerMessage =
  | { type: 'ready'; name: string; role: TokenRole }
  /**
   * `lastSeq`: the stream's newest sequence. `reset`: the client resumed beyond it (the stream was recreated
   * and numbers restarted), so the server replays the stream from its start; the client should forget the
   * sequences it stored.
   */
  | { type: 'subscribed'; resumeAfter: number | null; lastSeq?: number; reset?: true }
  | { type: 'alarm'; seq: number; alarm: AlarmPayload }
  | { type: 'acknowledged'; alarmId: string }
  | { type: 'error'; reason: string; alarmId?: string };

export const CLOSE_UNAUTHORIZED = 4401;
/** A subscription naming a school outside the token's scope. */
export const CLOSE_FORBIDDEN = 4403;
const MAX_COMMENT = 1000;
/** Serialised alarm messages kept for the next clients (each client has its own consumer, same messages). */
const MESSAGE_CACHE = 4096;
export const CLOSE_SLOW_CONSUMER = 4008;
/** The JetStream feed failed or ended; the client should reconnect and resume. */
export const CLOSE_FEED_FAILED = 1011;
const CLOSE_CODES: Readonly<Record<Exclude<AlarmClientCloseReason, 'peer'>, number>> = {
  unauthorized: CLOSE_UNAUTHORIZED,
  auth_timeout: CLOSE_UNAUTHORIZED,
  forbidden: CLOSE_FORBIDDEN,
  slow_consumer: CLOSE_SLOW_CONSUMER,
  feed_failed: CLOSE_FEED_FAILED,
  shutdown: 1001,
};

interface Conn {
  id: number;
  /** Set in open; never touched after close (uWS throws on a closed socket). */
  ws: Ws | null;
  /** Token presented on the upgrade: undefined = none, null = wrong. */
  headerToken: TokenEntry | null | undefined;
  token: TokenEntry | null;
  closed: boolean;
  /** Why the server ended it; null while open or when the client closed it. */
  endedAs: AlarmClientCloseReason | null;
  authTimer: NodeJS.Timeout | null;
  /** A catch-up consumer of its own (resume from before the feed's window); null once live. */
  sub: ConsumerMessages | null;
  subGen: number;
  /** What the current subscription lets through; null before the first subscribe. */
  filter: ConnFilter | null;
  /** Highest stream sequence already delivered or skipped for this client. */
  cursor: number;
  highestAck: number;
  sent: number;
}

type Ws = WebSocket<Conn>;

interface ConnFilter {
  schools: Set<string> | null;
  severity: Set<string> | null;
  kind: Set<string> | null;
}

function stringList(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new Error('filters must be string arrays');
  return v as string[];
}

function parseClientMessage(text: string): ClientMessage {
  const m = JSON.parse(text) as Record<string, unknown> | null;
  if (!m || typeof m !== 'object') throw new Error('message must be a JSON object');
  switch (m.type) {
    case 'auth':
      if (typeof m.token !== 'string') throw new Error('auth needs a token');
      return { type: 'auth', token: m.token };
    case 'ack':
      if (typeof m.seq !== 'number' || !Number.isSafeInteger(m.seq))
        throw new Error('ack needs an integer seq');
      return { type: 'ack', seq: m.seq };
    case 'acknowledge': {
      if (typeof m.alarmId !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(m.alarmId))
        throw new Error('acknowledge needs an alarmId');
      const comment = m.comment ?? '';
      if (typeof comment !== 'string' || comment.length > MAX_COMMENT)
        throw new Error(`comment must be a string of at most ${MAX_COMMENT} characters`);
      return { type: 'acknowledge', alarmId: m.alarmId, comment };
    }
    case 'subscribe': {
      const f = (m.filters ?? {}) as Record<string, unknown>;
      if (typeof f !== 'object') throw new Error('filters must be an object');
      const r = m.resumeAfter;
      if (r !== undefined && r !== null && (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 0))
        throw new Error('resumeAfter must be a non-negative integer');
      return {
        type: 'subscribe',
        filters: { severity: stringList(f.severity), kind: stringList(f.kind), school: stringList(f.school) },
        resumeAfter: typeof r === 'number' ? r : undefined,
      };
    }
    default:
      throw new Error('unknown message type');
  }
}

export const AlarmSocketServer = {
  start(opts: AlarmSocketOptions): Promise<AlarmSocketServer> {
    const host = opts.host ?? '127.0.0.1';
    const stream = opts.stream ?? 'KUZET_ALARMS';
    const maxBuffered = opts.maxBufferedBytes ?? 1024 * 1024;
    const heartbeat = opts.heartbeatSeconds ?? 20;
    const authTimeoutMs = opts.authTimeoutMs ?? 5000;
    const log = opts.log ?? createLogger('alarm-socket');
    const book = new TokenBook(opts.tokens, opts.schoolsDistrict ?? {});
    const inScope = (t: TokenEntry, school: string): boolean => book.inScope(t, school);
    const js = opts.nc.jetstream();
    const sockets = new Set<Conn>();
    let nextId = 1;

    /** Decoded and serialised once per stream sequence, whatever the number of clients. */
    const decode = (seq: number, data: Uint8Array): FeedEntry | null => {
      try {
        const alarm = decodeMessage<AlarmMessage>(data);
        if (typeof alarm?.school !== 'string' || typeof alarm.camera !== 'string') {
          log.warn('Alarm without school or camera skipped', { seq });
          return null;
        }
        const cam = opts.camera?.(alarm.school, alarm.camera) ?? null;
        const path = `${encodeURIComponent(alarm.school)}/${encodeURIComponent(alarm.camera)}`;
        const payload: AlarmPayload = {
          ...alarm,
          room: cam?.room ?? null,
          links: {
            evidence: `/evidence/${path}/${encodeURIComponent(alarm.id)}.jpg`,
            live: cam?.rtspUrl ? `/live/${path}` : null,
          },
        };
        const frame = Buffer.from(
          JSON.stringify({ type: 'alarm', seq, alarm: payload } satisfies ServerMessage),
        );
        return {
          seq,
          school: alarm.school,
          severity: alarm.severity,
          kind: alarm.kind,
          time: alarm.time,
          frame,
        };
      } catch (err) {
        log.warn('Undecodable alarm skipped', { seq, error: (err as Error).message });
        return null;
      }
    };
    /** Older messages, for clients catching up together (e.g. every console after a server restart). */
    const older = new Map<number, FeedEntry | null>();
    const decodeOlder = (seq: number, data: Uint8Array): FeedEntry | null => {
      if (older.has(seq)) return older.get(seq)!;
      const e = decode(seq, data);
      older.set(seq, e);
      if (older.size > MESSAGE_CACHE) older.delete(older.keys().next().value!);
      return e;
    };
    const live = new Set<Conn>();
    const matches = (c: Conn, e: FeedEntry | null): e is FeedEntry => {
      const f = c.filter;
      if (!e || !f || !inScope(c.token!, e.school)) return false;
      if (f.schools && !f.schools.has(e.school)) return false;
      if (f.severity && !f.severity.has(e.severity)) return false;
      return !f.kind || f.kind.has(e.kind);
    };
    const feed = new AlarmFeed({
      nc: opts.nc,
      stream,
      window: opts.replayWindow ?? 10_000,
      decode,
      log,
      onEntry: (seq, e, catchingUp) => {
        pending.push([seq, e]);
        if (e && !catchingUp) news.push(e.time);
        if (pending.length === 1) setImmediate(fanOut);
      },
      onFailure: (reason) => {
        for (const c of [...live]) end(c, 'feed_failed', reason);
      },
    });
    /**
     * New stream messages wait for the end of the current I/O phase and go out together: one corked write
     * per client per batch instead of one per alarm, which is what keeps a burst (a city-wide incident, or a
     * server catching up after a stall) from costing a syscall per alarm per client.
     */
    const pending: Array<[number, FeedEntry | null]> = [];
    /** Change times of the pending entries that are news (not the tail's catch-up of older alarms at start). */
    const news: number[] = [];
    const fanOut = (): void => {
      const batch = pending.splice(0);
      for (const c of live) deliver(c, batch);
      // Only with someone to write to, and only for news: a delay nobody waited for is no delay.
      if (opts.onAlarmFannedOut && live.size > 0) {
        const now = Date.now();
        for (const t of news) opts.onAlarmFannedOut(now - t);
      }
      news.length = 0;
    };
    /**
     * Sends the client the entries past its cursor that its subscription lets through, in one corked write,
     * moving the cursor over every entry. False when the socket is gone (closed, or closed as too slow).
     */
    const deliver = (c: Conn, entries: Iterable<[number, FeedEntry | null]>): boolean => {
      const ws = c.ws;
      if (c.closed || !ws) return false;
      let open = true;
      ws.cork(() => {
        for (const [seq, e] of entries) {
          if (seq <= c.cursor) continue;
          c.cursor = seq;
          if (!matches(c, e)) continue;
          if (!send(c, e.frame)) {
            open = false;
            return;
          }
          c.sent++;
        }
      });
      return open;
    };
    /** From `cursor` on, the rest is in memory: replay it and join the live tail, in one synchronous step. */
    const goLive = (c: Conn, cursor: number): void => {
      if (!feed.running) return end(c, 'feed_failed', 'alarm feed ended');
      c.cursor = Math.max(c.cursor, cursor);
      if (deliver(c, feed.after(c.cursor))) live.add(c);
    };

    /** Sends and enforces the backpressure limit; never blocks. Returns false when the socket is gone. */
    const send = (c: Conn, msg: ServerMessage | Buffer): boolean => {
      const ws = c.ws;
      if (c.closed || !ws) return false;
      const r = ws.send(Buffer.isBuffer(msg) ? msg : JSON.stringify(msg), false);
      // 1: written out; only a socket with backpressure built up (0) needs the (native) buffered-amount check.
      if (r === 2 || (r === 0 && ws.getBufferedAmount() > maxBuffered)) {
        log.warn('Closing slow alarm consumer', {
          conn: c.id,
          name: c.token?.name,
          buffered: ws.getBufferedAmount(),
        });
        end(c, 'slow_consumer', 'slow consumer');
        return false;
      }
      return true;
    };

    const stopSub = (c: Conn): void => {
      c.subGen++;
      live.delete(c);
      if (c.sub) {
        c.sub.stop();
        c.sub = null;
      }
    };

    const end = (c: Conn, why: Exclude<AlarmClientCloseReason, 'peer'>, reason: string): void => {
      const ws = c.ws;
      if (c.closed || !ws) return;
      c.closed = true;
      c.endedAs = why;
      const code = CLOSE_CODES[why];
      stopSub(c);
      if (c.authTimer) clearTimeout(c.authTimer);
      ws.end(code, reason);
    };

    const authenticated = (c: Conn, t: TokenEntry): void => {
      c.token = t;
      if (c.authTimer) clearTimeout(c.authTimer);
      c.authTimer = null;
      log.info('Alarm client authenticated', { conn: c.id, name: t.name, role: t.role });
      send(c, { type: 'ready', name: t.name, role: t.role });
    };

    const subscribe = async (
      c: Conn,
      filters: AlarmFilters,
      resumeAfter: number | undefined,
    ): Promise<void> => {
      const t = c.token!;
      stopSub(c);
      const gen = c.subGen;
      let schools: Set<string> | null = null;
      if (filters.school && filters.school.length > 0) {
        const outside = filters.school.filter((s) => !inScope(t, s));
        // Refused, not narrowed: a desk that asked for a school it may not see has a wrong setup to fix.
        if (outside.length > 0) {
          log.warn('Alarm subscription refused: schools outside the token scope', {
            conn: c.id,
            name: t.name,
            schools: outside.join(','),
          });
          // A close reason is at most 123 bytes; school ids are at most 64 characters.
          const more = outside.length > 1 ? ` (+${outside.length - 1} more)` : '';
          return end(c, 'forbidden', `forbidden: school ${outside[0]} is outside your scope${more}`);
        }
        schools = new Set(filters.school);
      }
      const severity = filters.severity && filters.severity.length > 0 ? new Set(filters.severity) : null;
      const kind = filters.kind && filters.kind.length > 0 ? new Set(filters.kind) : null;
      await feed.ready();
      if (c.closed || c.subGen !== gen) return;
      c.filter = { schools, severity, kind };
      c.cursor = 0;
      const reset = resumeAfter !== undefined && resumeAfter > feed.lastSeq;
      if (reset) {
        log.warn('Alarm client resumed beyond the stream (recreated?): replaying it from the start', {
          conn: c.id,
          name: t.name,
          resumeAfter,
          lastSeq: feed.lastSeq,
        });
        resumeAfter = 0;
      }
      const reply: ServerMessage = {
        type: 'subscribed',
        resumeAfter: resumeAfter ?? null,
        lastSeq: feed.lastSeq,
      };
      if (reset) reply.reset = true;
      if (!send(c, reply)) return;
      log.info('Alarm client subscribed', { conn: c.id, name: t.name, resumeAfter: resumeAfter ?? null });
      if (resumeAfter === undefined) return goLive(c, feed.lastSeq);
      if (resumeAfter + 1 >= feed.firstSeq()) return goLive(c, resumeAfter);
      // Further back than the feed holds: a consumer of its own until it meets the feed's window.
      const consumer = await js.consumers.get(stream, {
        filterSubjects: 'kuzet.alarm.>',
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: resumeAfter + 1,
      });
      const iter = await consumer.consume();
      if (c.closed || c.subGen !== gen) {
        iter.stop();
        return;
      }
      c.sub = iter;
      c.cursor = resumeAfter;
      for await (const m of iter) {
        if (c.closed || c.subGen !== gen) break;
        if (feed.has(m.seq) || m.seq > feed.lastSeq) {
          iter.stop();
          c.sub = null;
          return goLive(c, m.seq - 1);
        }
        if (!deliver(c, [[m.seq, decodeOlder(m.seq, m.data)]])) break;
        if (m.seq >= feed.lastSeq) {
          iter.stop();
          c.sub = null;
          return goLive(c, m.seq);
        }
      }
      // The consumer ended without the client asking: close, so it reconnects and resumes instead of idling blind.
      if (!c.closed && c.subGen === gen) end(c, 'feed_failed', 'alarm feed ended');
    };

    const acknowledge = (c: Conn, alarmId: string, comment: string): void => {
      const t = c.token!;
      const refuse = (reason: string): void => void send(c, { type: 'error', reason, alarmId });
      if (t.role === 'city-operator') return refuse('your role cannot acknowledge alarms');
      if (!opts.acknowledge) return refuse('acknowledgement is not available on this server');
      Promise.resolve(opts.acknowledge({ alarmId, comment, token: t, inScope: (s) => inScope(t, s) }))
        .then((r) => {
          if (r.ok) {
            log.info('Alarm acknowledged', { conn: c.id, name: t.name, alarm: alarmId });
            send(c, { type: 'acknowledged', alarmId });
          } else refuse(r.reason);
        })
        .catch((err: Error) => {
          log.error('Acknowledgement failed', { conn: c.id, alarm: alarmId, error: err.message });
          refuse('acknowledgement failed');
        });
    };

    const onMessage = (c: Conn, data: ArrayBuffer): void => {
      if (c.closed) return;
      let msg: ClientMessage;
      try {
        msg = parseClientMessage(Buffer.from(data).toString('utf8'));
      } catch (err) {
        if (!c.token) return end(c, 'unauthorized', 'unauthorized');
        send(c, { type: 'error', reason: (err as Error).message });
        return;
      }
      if (!c.token) {
        const t = msg.type === 'auth' ? book.find(msg.token) : null;
        if (!t) {
          log.warn('Alarm client rejected', { conn: c.id });
          return end(c, 'unauthorized', 'unauthorized');
        }
        return authenticated(c, t);
      }
      switch (msg.type) {
        case 'auth':
          send(c, { type: 'error', reason: 'already authenticated' });
          return;
        case 'ack':
          if (msg.seq > c.highestAck) c.highestAck = msg.seq;
          return;
        case 'acknowledge':
          acknowledge(c, msg.alarmId, msg.comment);
          return;
        case 'subscribe': {
          const gen = c.subGen + 1; // the generation subscribe() is about to take
          subscribe(c, msg.filters ?? {}, msg.resumeAfter).catch((err: Error) => {
            log.error('Alarm subscription failed', { conn: c.id, error: err.message });
            if (c.closed || c.subGen !== gen) return;
            send(c, { type: 'error', reason: 'subscription failed' });
            end(c, 'feed_failed', 'subscription failed');
          });
          return;
        }
      }
    };

    const app = uWS.App();
    app.get('/healthz', (res) => {
      res.writeStatus('200 OK').writeHeader('content-type', 'text/plain').end('ok');
    });
    const routes = { app, book, log, audit: opts.audit ?? (() => undefined) };
    if (opts.consoleDir) registerConsole(routes, opts.consoleDir, opts.consoleVendor ?? {});
    if (opts.evidence) registerEvidence(routes, opts.evidence);
    if (opts.liveViews)
      registerLiveView(routes, opts.liveViews, (s, c) => opts.camera?.(s, c)?.rtspUrl ?? null);
    app.ws<Conn>('/*', {
      idleTimeout: Math.max(8, Math.round(heartbeat / 4) * 4),
      sendPingsAutomatically: true,
      maxPayloadLength: 64 * 1024,
      // Above our own limit, so uWS never drops a message silently before we close the socket.
      maxBackpressure: maxBuffered * 4 + 16 * 1024 * 1024,
      upgrade: (res, req, context) => {
        const headerToken = book.fromHeader(req.getHeader('authorization'));
        const conn: Conn = {
          id: nextId++,
          ws: null,
          headerToken,
          token: null,
          closed: false,
          endedAs: null,
          authTimer: null,
          sub: null,
          subGen: 0,
          filter: null,
          cursor: 0,
          highestAck: 0,
          sent: 0,
        };
        res.upgrade(
          conn,
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      open: (ws) => {
        const c = ws.getUserData();
        c.ws = ws;
        sockets.add(c);
        if (c.headerToken === null) {
          log.warn('Alarm client rejected', { conn: c.id });
          return end(c, 'unauthorized', 'unauthorized');
        }
        if (c.headerToken) return authenticated(c, c.headerToken);
        c.authTimer = setTimeout(() => {
          if (!c.token && !c.closed) end(c, 'auth_timeout', 'auth timeout');
        }, authTimeoutMs);
      },
      message: (ws, data) => onMessage(ws.getUserData(), data),
      close: (ws, code) => {
        const c = ws.getUserData();
        sockets.delete(c);
        c.ws = null;
        c.closed = true;
        stopSub(c);
        if (c.authTimer) clearTimeout(c.authTimer);
        opts.onClientClosed?.(c.endedAs ?? 'peer');
        log.info('Alarm client closed', {
          conn: c.id,
          name: c.token?.name,
          code,
          endedAs: c.endedAs ?? 'peer',
          sent: c.sent,
          highestAck: c.highestAck,
        });
      },
    });
    app.any('/*', (res) => {
      res.writeStatus('404 Not Found').end('not found');
    });

    return new Promise((resolve, reject) => {
      app.listen(host, opts.port ?? 8080, (token) => {
        if (!token) return reject(new Error(`cannot listen on ${host}:${opts.port ?? 8080}`));
        const port = uWS.us_socket_local_port(token);
        log.info('Alarm socket listening', { host, port });
        resolve({
          port,
          connections: () => sockets.size,
          close: async () => {
            uWS.us_listen_socket_close(token);
            feed.stop();
            for (const c of [...sockets]) end(c, 'shutdown', 'server shutdown');
          },
        });
      });
    });
  },
};
