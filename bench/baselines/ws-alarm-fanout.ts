/**
 * The alarm fan-out of connectors/http/alarm-socket.ts written with the `ws` library, for `bench alarms`.
 * Same protocol and byte-identical alarm frames (`{"type":"alarm","seq","alarm":{…AlarmPayload}}`, with
 * `room` null and `links` as Kuzet builds them when no camera lookup is configured), same auth (TokenBook:
 * SHA-256 of the bearer token compared in constant time against every entry, from the header or a first
 * message), same scope and filter checks, same slow-consumer rule (close 4008 past maxBufferedBytes
 * buffered), a ping every heartbeatSeconds (uWS pings on its own).
 *
 * Two feeds, chosen by `mode`:
 * - 'shared' (Kuzet's design, connectors/http/alarm-feed.ts): one ordered consumer for the whole server,
 *   each message decoded and serialised once (a Buffer, as Kuzet sends), and the alarms of one I/O phase
 *   sent to every subscribed client in scope in one corked write per client (net.Socket cork/uncork, as
 *   Kuzet uses uWS cork).
 *   `resumeAfter` is refused here: Kuzet serves it from the 10,000 messages it holds in memory (and a
 *   consumer per client beyond that), which the bench's clients never ask for. So on the bench's path the
 *   two do the same work.
 * - 'per-client' (the design Kuzet had first): one JetStream ordered consumer per subscribed client, each
 *   stream message decoded and serialised once and cached by sequence for the other clients' consumers.
 *
 * What differs from Kuzet, on purpose: sockets and framing are `ws` on node:net (bufferutil installed,
 * no compression) instead of uWebSockets.js; that is what the bench measures. Not carried over: the
 * operator `acknowledge` message, evidence/live/console HTTP routes and logging (none is on the fan-out path).
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { DeliverPolicy, type ConsumerMessages, type OrderedConsumerOptions } from 'nats';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  CLOSE_FEED_FAILED,
  CLOSE_FORBIDDEN,
  CLOSE_SLOW_CONSUMER,
  CLOSE_UNAUTHORIZED,
  type AlarmFilters,
  type AlarmPayload,
  type AlarmSocketOptions,
  type ServerMessage,
} from '../../connectors/http/alarm-socket.js';
import { TokenBook, type TokenEntry } from '../../connectors/http/tokens.js';
import { decodeMessage, type AlarmMessage } from '../../connectors/nats/bus.js';

export type WsFanoutMode = 'per-client' | 'shared';

/** Kuzet's server options that the fan-out itself uses, plus the feed design. */
export interface WsAlarmFanoutOptions extends Pick<
  AlarmSocketOptions,
  | 'host'
  | 'port'
  | 'nc'
  | 'stream'
  | 'tokens'
  | 'schoolsDistrict'
  | 'maxBufferedBytes'
  | 'heartbeatSeconds'
  | 'authTimeoutMs'
> {
  mode: WsFanoutMode;
}

export interface WsAlarmFanout {
  port: number;
  connections(): number;
  close(): Promise<void>;
}

interface Filter {
  schools: Set<string> | null;
  severity: Set<string> | null;
  kind: Set<string> | null;
}

interface Conn {
  ws: WebSocket;
  token: TokenEntry | null;
  closed: boolean;
  alive: boolean;
  authTimer: NodeJS.Timeout | null;
  sub: ConsumerMessages | null;
  subGen: number;
  /** Shared mode: set once subscribed. */
  filter: Filter | null;
  highestAck: number;
}

type Cached = { school: string; severity: string; kind: string; json: string; frame: Buffer } | null;

/** Same bound as alarm-socket.ts's cache. */
const MESSAGE_CACHE = 4096;

export async function startWsAlarmFanout(opts: WsAlarmFanoutOptions): Promise<WsAlarmFanout> {
  const stream = opts.stream ?? 'KUZET_ALARMS';
  const maxBuffered = opts.maxBufferedBytes ?? 1024 * 1024;
  const authTimeoutMs = opts.authTimeoutMs ?? 5000;
  const book = new TokenBook(opts.tokens, opts.schoolsDistrict ?? {});
  const js = opts.nc.jetstream();
  const conns = new Set<Conn>();

  const messages = new Map<number, Cached>();
  const message = (seq: number, data: Uint8Array): Cached => {
    const hit = messages.get(seq);
    if (hit !== undefined) return hit;
    let entry: Cached = null;
    try {
      const alarm = decodeMessage<AlarmMessage>(data);
      if (typeof alarm?.school === 'string' && typeof alarm.camera === 'string') {
        const path = `${encodeURIComponent(alarm.school)}/${encodeURIComponent(alarm.camera)}`;
        const payload: AlarmPayload = {
          ...alarm,
          room: null,
          links: { evidence: `/evidence/${path}/${encodeURIComponent(alarm.id)}.jpg`, live: null },
        };
        const json = JSON.stringify({ type: 'alarm', seq, alarm: payload } satisfies ServerMessage);
        entry = {
          school: alarm.school,
          severity: alarm.severity,
          kind: alarm.kind,
          json,
          frame: Buffer.from(json),
        };
      }
    } catch {
      // undecodable: skipped, as Kuzet does
    }
    messages.set(seq, entry);
    if (messages.size > MESSAGE_CACHE) messages.delete(messages.keys().next().value!);
    return entry;
  };

  const end = (c: Conn, code: number, reason: string): void => {
    if (c.closed) return;
    c.closed = true;
    c.filter = null;
    c.subGen++;
    c.sub?.stop();
    c.sub = null;
    if (c.authTimer) clearTimeout(c.authTimer);
    c.ws.close(code, reason);
  };
  /** Sends and enforces the backpressure limit; never blocks. False when the socket is gone. */
  const send = (c: Conn, msg: ServerMessage | string | Buffer): boolean => {
    if (c.closed) return false;
    if (Buffer.isBuffer(msg)) c.ws.send(msg, { binary: false });
    else c.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
    if (c.ws.bufferedAmount > maxBuffered) {
      end(c, CLOSE_SLOW_CONSUMER, 'slow consumer');
      return false;
    }
    return true;
  };
  const authenticated = (c: Conn, t: TokenEntry): void => {
    c.token = t;
    if (c.authTimer) clearTimeout(c.authTimer);
    c.authTimer = null;
    send(c, { type: 'ready', name: t.name, role: t.role });
  };
  const wanted = (c: Conn, f: Filter, a: NonNullable<Cached>): boolean =>
    book.inScope(c.token!, a.school) &&
    (!f.schools || f.schools.has(a.school)) &&
    (!f.severity || f.severity.has(a.severity)) &&
    (!f.kind || f.kind.has(a.kind));

  // Shared mode: one feed for everyone.
  let shared: ConsumerMessages | null = null;
  let sharedLoop: Promise<void> | null = null;
  if (opts.mode === 'shared') {
    const consumer = await js.consumers.get(stream, {
      filterSubjects: 'kuzet.alarm.>',
      deliver_policy: DeliverPolicy.New,
    });
    const iter = await consumer.consume();
    shared = iter;
    // Like Kuzet: alarms that arrive in one I/O phase go out together, one corked write per client.
    const pending: Array<NonNullable<Cached>> = [];
    const fanOut = (): void => {
      const batch = pending.splice(0);
      for (const c of conns) {
        if (!c.filter || c.closed) continue;
        const socket = (c.ws as unknown as { _socket: Socket })._socket;
        socket.cork();
        for (const a of batch) if (wanted(c, c.filter, a) && !send(c, a.frame)) break;
        socket.uncork();
      }
    };
    sharedLoop = (async () => {
      for await (const m of iter) {
        const a = message(m.seq, m.data);
        if (!a) continue;
        pending.push(a);
        if (pending.length === 1) setImmediate(fanOut);
      }
    })();
  }

  const subscribe = async (c: Conn, filters: AlarmFilters, resumeAfter: number | undefined) => {
    const t = c.token!;
    c.subGen++;
    c.sub?.stop();
    c.sub = null;
    c.filter = null;
    const gen = c.subGen;
    let schools: Set<string> | null = null;
    if (filters.school && filters.school.length > 0) {
      const outside = filters.school.filter((s) => !book.inScope(t, s));
      if (outside.length > 0)
        return end(c, CLOSE_FORBIDDEN, `forbidden: school ${outside[0]} is outside your scope`);
      schools = new Set(filters.school);
    }
    const f: Filter = {
      schools,
      severity: filters.severity?.length ? new Set(filters.severity) : null,
      kind: filters.kind?.length ? new Set(filters.kind) : null,
    };
    if (opts.mode === 'shared') {
      if (resumeAfter !== undefined) {
        send(c, { type: 'error', reason: 'resumeAfter is not supported by the shared-feed baseline' });
        return;
      }
      c.filter = f;
      send(c, { type: 'subscribed', resumeAfter: null });
      return;
    }
    const copts: Partial<OrderedConsumerOptions> = { filterSubjects: 'kuzet.alarm.>' };
    if (resumeAfter === undefined) copts.deliver_policy = DeliverPolicy.New;
    else {
      copts.deliver_policy = DeliverPolicy.StartSequence;
      copts.opt_start_seq = resumeAfter + 1;
    }
    const consumer = await js.consumers.get(stream, copts);
    const iter = await consumer.consume();
    if (c.closed || c.subGen !== gen) {
      iter.stop();
      return;
    }
    c.sub = iter;
    if (!send(c, { type: 'subscribed', resumeAfter: resumeAfter ?? null })) return;
    for await (const m of iter) {
      if (c.closed || c.subGen !== gen) break;
      const a = message(m.seq, m.data);
      if (!a || !wanted(c, f, a)) continue;
      if (!send(c, a.json)) break;
    }
    if (!c.closed && c.subGen === gen) end(c, CLOSE_FEED_FAILED, 'alarm feed ended');
  };

  const onMessage = (c: Conn, data: RawData): void => {
    if (c.closed) return;
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(String(data)) as Record<string, unknown>;
      if (!m || typeof m !== 'object') throw new Error('message must be a JSON object');
    } catch (err) {
      if (!c.token) return end(c, CLOSE_UNAUTHORIZED, 'unauthorized');
      send(c, { type: 'error', reason: (err as Error).message });
      return;
    }
    if (!c.token) {
      const t = m.type === 'auth' && typeof m.token === 'string' ? book.find(m.token) : null;
      if (!t) return end(c, CLOSE_UNAUTHORIZED, 'unauthorized');
      return authenticated(c, t);
    }
    if (m.type === 'ack') {
      if (typeof m.seq === 'number' && m.seq > c.highestAck) c.highestAck = m.seq;
    } else if (m.type === 'subscribe') {
      const f = (m.filters ?? {}) as AlarmFilters;
      const r = typeof m.resumeAfter === 'number' ? m.resumeAfter : undefined;
      const gen = c.subGen + 1;
      subscribe(c, f, r).catch(() => {
        if (c.closed || c.subGen !== gen) return;
        send(c, { type: 'error', reason: 'subscription failed' });
        end(c, CLOSE_FEED_FAILED, 'subscription failed');
      });
    } else if (m.type === 'auth') send(c, { type: 'error', reason: 'already authenticated' });
    else send(c, { type: 'error', reason: 'unknown message type' });
  };

  const wss = new WebSocketServer({
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 0,
    maxPayload: 64 * 1024,
    perMessageDeflate: false,
  });
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const c: Conn = {
      ws,
      token: null,
      closed: false,
      alive: true,
      authTimer: null,
      sub: null,
      subGen: 0,
      filter: null,
      highestAck: 0,
    };
    conns.add(c);
    ws.on('message', (d) => onMessage(c, d));
    ws.on('pong', () => (c.alive = true));
    ws.on('error', () => {});
    ws.on('close', () => {
      conns.delete(c);
      c.closed = true;
      c.filter = null;
      c.subGen++;
      c.sub?.stop();
      c.sub = null;
      if (c.authTimer) clearTimeout(c.authTimer);
    });
    const headerToken = book.fromHeader(req.headers.authorization ?? '');
    if (headerToken === null) return end(c, CLOSE_UNAUTHORIZED, 'unauthorized');
    if (headerToken) return authenticated(c, headerToken);
    c.authTimer = setTimeout(() => {
      if (!c.token && !c.closed) end(c, CLOSE_UNAUTHORIZED, 'auth timeout');
    }, authTimeoutMs);
  });
  const pinger = setInterval(
    () => {
      for (const c of conns) {
        if (!c.alive) {
          c.ws.terminate();
          continue;
        }
        c.alive = false;
        c.ws.ping();
      }
    },
    (opts.heartbeatSeconds ?? 20) * 1000,
  );

  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  return {
    port: (wss.address() as AddressInfo).port,
    connections: () => conns.size,
    close: async () => {
      clearInterval(pinger);
      for (const c of [...conns]) end(c, 1001, 'server shutdown');
      shared?.stop();
      await sharedLoop?.catch(() => {});
      const closed = new Promise<void>((r) => wss.close(() => r()));
      // A peer that does not answer the close handshake must not hold the listener open.
      const force = setTimeout(() => {
        for (const ws of wss.clients) ws.terminate();
      }, 1000);
      await closed;
      clearTimeout(force);
    },
  };
}
