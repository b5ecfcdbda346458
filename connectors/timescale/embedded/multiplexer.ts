import { createHash, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { errorMessage } from '../../../engine/errors.js';
import { createLogger, type Logger } from '../../../engine/log.js';
import {
  CANCEL_REQUEST_CODE,
  FrameReader,
  GSSENC_REQUEST_CODE,
  PROTOCOL_V3,
  ProtocolViolation,
  SSL_REQUEST_CODE,
  authenticationOk,
  backendKeyData,
  close,
  copyFromStdin,
  copyInResponse,
  errorResponse,
  parameterStatus,
  query,
  readyForQuery,
  rewriteNames,
  sqlText,
  summarizeResponse,
  sync,
  withFailingSql,
  withoutMessages,
  type FrontendMessage,
  type NameKind,
} from './wire.js';

/** The one thing the multiplexer needs from PGlite (kept narrow so the WASM library stays behind it). */
export interface ProtocolBackend {
  execProtocolRaw(message: Uint8Array): Promise<Uint8Array>;
}

export interface MultiplexerOptions {
  backend: ProtocolBackend;
  /** 127.0.0.1 by default: passwords are not checked, so only loopback clients should reach it. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Connections beyond this get FATAL 53300 at startup, as Postgres' max_connections does. */
  maxClients?: number;
  /** A client holding the database (open transaction, unfinished extended sequence) and idle this long is
   * terminated once another client is waiting: every client shares one backend session. 0 disables. */
  idleInTransactionTimeoutMs?: number;
  /** Reported to clients in ParameterStatus; take them from the backend so drivers parse values right. */
  serverParams?: Record<string, string>;
  /** Called when the backend throws: the WASM instance is then unusable and the process should restart. */
  onBackendError?: (err: unknown) => void;
  log?: Logger;
}

const DEFAULT_SERVER_PARAMS: Record<string, string> = {
  server_version: '17.5',
  server_encoding: 'UTF8',
  client_encoding: 'UTF8',
  DateStyle: 'ISO, MDY',
  integer_datetimes: 'on',
  standard_conforming_strings: 'on',
  TimeZone: 'UTC',
  IntervalStyle: 'postgres',
  is_superuser: 'on',
};

/** Postgres truncates identifiers to NAMEDATALEN-1 bytes; a rewritten name must stay below that to stay unique. */
const MAX_NAME_BYTES = 63;
const STARTUP_TIMEOUT_MS = 10_000;
/** COPY FROM STDIN data is held in memory until CopyDone (see copyFromStdin); beyond this, use INSERTs. */
const MAX_COPY_BYTES = 64 * 1024 * 1024;
const UNSUPPORTED_COPY =
  'COPY FROM STDIN is only supported by the embedded server as a single simple-protocol statement (psql \\copy); use INSERT';

interface Pending {
  bytes: Buffer;
  /** An emulated COPY FROM STDIN: query, data and CopyDone in one buffer; PGlite's CopyInResponse is not forwarded. */
  copy: boolean;
}

/** FIFO lock over the single backend session; handed straight to the next waiter so nobody can barge in. */
class SessionLock {
  private holder: number | null = null;
  private readonly waiters: Array<{ id: number; grant: () => void }> = [];

  get waiting(): number {
    return this.waiters.length;
  }

  acquire(id: number): Promise<void> {
    if (this.holder === null || this.holder === id) {
      this.holder = id;
      return Promise.resolve();
    }
    return new Promise((grant) => this.waiters.push({ id, grant }));
  }

  release(id: number): void {
    if (this.holder !== id) return;
    const next = this.waiters.shift();
    this.holder = next ? next.id : null;
    next?.grant();
  }
}

class Client {
  readonly reader = new FrameReader();
  phase: 'startup' | 'ready' | 'closed' = 'startup';
  /** Rewritten frontend messages not yet sent to the backend. */
  pending: Pending[] = [];
  /** COPY FROM STDIN being collected: the client has (or will get) our CopyInResponse and streams CopyData. */
  copy: { query: Buffer; data: Buffer[]; bytes: number; announced: boolean } | null = null;
  holdsLock = false;
  /** Messages went to the backend and it has not answered with ReadyForQuery yet (e.g. Parse/Bind without Sync). */
  inCycle = false;
  txStatus: 'I' | 'T' | 'E' = 'I';
  /** Rewritten names of prepared statements this client created, closed again when it leaves. */
  readonly statements = new Set<string>();
  working = false;
  terminating = false;
  cleanedUp = false;
  rejected = false;
  idleTimer: NodeJS.Timeout | null = null;
  startupTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: number,
    readonly socket: Socket,
  ) {}

  /** A getter, not a field read, so checks after an await are not narrowed away by the compiler. */
  get closed(): boolean {
    return this.phase === 'closed';
  }

  rename(kind: NameKind, name: string, messageType: string): string {
    const plain = `k${this.id}_${name}`;
    const renamed =
      Buffer.byteLength(plain) <= MAX_NAME_BYTES
        ? plain
        : `k${this.id}_h${createHash('sha1').update(name).digest('hex')}`;
    if (kind === 'S' && messageType === 'P') this.statements.add(renamed);
    if (kind === 'S' && messageType === 'C') this.statements.delete(renamed);
    return renamed;
  }
}

/**
 * A Postgres wire-protocol front for one PGlite instance. PGlite is a single backend session, and
 * pglite-socket serves one client at a time; this serves many (engine writer, psql, Grafana) by giving the
 * session to one client per command cycle: a client keeps it from its first message until the backend is
 * idle again (ReadyForQuery 'I'), so extended-protocol sequences and transactions are never interleaved.
 * Per-session state that clients name (prepared statements, portals) is renamed per client; state set with
 * SQL (SET, PREPARE, LISTEN, temp tables) is shared by all clients.
 */
export class WireMultiplexer {
  private readonly log: Logger;
  private readonly lock = new SessionLock();
  private readonly clients = new Map<number, Client>();
  private readonly maxClients: number;
  private readonly idleTimeoutMs: number;
  private readonly greeting: Buffer;
  private server: Server | null = null;
  private nextId = 1;
  private stopped = false;
  private inflight: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: MultiplexerOptions) {
    this.log = opts.log ?? createLogger('timescale.multiplexer');
    this.maxClients = opts.maxClients ?? 64;
    this.idleTimeoutMs = opts.idleInTransactionTimeoutMs ?? 30_000;
    const params = { ...DEFAULT_SERVER_PARAMS, ...opts.serverParams };
    this.greeting = Buffer.concat(Object.entries(params).map(([k, v]) => parameterStatus(k, v)));
  }

  get clientCount(): number {
    return this.clients.size;
  }

  async listen(): Promise<{ host: string; port: number }> {
    const host = this.opts.host ?? '127.0.0.1';
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    server.listen(this.opts.port ?? 0, host);
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => Promise.reject(err)),
    ]);
    const port = (server.address() as AddressInfo).port;
    this.log.info('Listening for Postgres clients', { host, port, maxClients: this.maxClients });
    return { host, port };
  }

  /** Stops accepting, drops every client and waits for the backend call in progress, so the caller can close PGlite. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const closed = this.server ? new Promise<void>((r) => this.server!.close(() => r())) : Promise.resolve();
    for (const c of this.clients.values()) c.socket.destroy();
    await closed;
    await this.inflight.catch(() => undefined);
  }

  private accept(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const client = new Client(this.nextId++, socket);
    client.rejected = this.clients.size >= this.maxClients;
    if (!client.rejected) this.clients.set(client.id, client);
    client.startupTimer = setTimeout(() => socket.destroy(), STARTUP_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => this.onData(client, chunk));
    socket.on('error', (err) =>
      this.log.debug('Client socket error', { client: client.id, error: err.message }),
    );
    socket.on('close', () => this.onClose(client));
  }

  private onData(c: Client, chunk: Buffer): void {
    if (c.closed || c.terminating) return;
    c.reader.push(chunk);
    try {
      if (c.phase === 'startup' && !this.handleStartup(c)) return;
      for (let msg = c.reader.next(); msg; msg = c.reader.next()) {
        if (c.copy) {
          this.collectCopy(c, msg);
          continue;
        }
        if (msg.type === 'X') {
          // Terminate: whatever came before it still runs, then the connection closes.
          c.terminating = true;
          break;
        }
        const text = sqlText(msg);
        const copy = text === null ? null : copyFromStdin(text);
        if (copy === 'lead' && msg.type === 'Q') {
          c.copy = { query: msg.bytes, data: [], bytes: 0, announced: false };
          continue;
        }
        const bytes = copy ? withFailingSql(msg, UNSUPPORTED_COPY) : msg.bytes;
        const { type } = msg;
        c.pending.push({
          bytes: rewriteNames({ type, bytes }, (kind, name) => c.rename(kind, name, type)),
          copy: false,
        });
      }
    } catch (err) {
      this.fatal(c, '08P01', errorMessage(err));
      return;
    }
    this.clearIdle(c);
    void this.drive(c);
  }

  /** Gathers CopyData until CopyDone or CopyFail, then queues the COPY as one backend call. */
  private collectCopy(c: Client, msg: FrontendMessage): void {
    const copy = c.copy!;
    if (msg.type === 'd') {
      copy.bytes += msg.bytes.length;
      if (copy.bytes > MAX_COPY_BYTES)
        throw new ProtocolViolation(`COPY FROM STDIN over ${MAX_COPY_BYTES} bytes; use INSERT batches`);
      copy.data.push(msg.bytes);
    } else if (msg.type === 'c' || msg.type === 'f') {
      c.pending.push({ bytes: Buffer.concat([copy.query, ...copy.data, msg.bytes]), copy: true });
      c.copy = null;
    } else if (msg.type !== 'H' && msg.type !== 'S') {
      // Flush and Sync are ignored during COPY IN, as Postgres does; anything else breaks the protocol.
      throw new ProtocolViolation(`Unexpected message '${msg.type}' during COPY FROM STDIN`);
    }
  }

  /** Answers startup-phase packets; true once the client is past startup. */
  private handleStartup(c: Client): boolean {
    for (let p = c.reader.nextStartup(); p; p = c.reader.nextStartup()) {
      if (p.code === SSL_REQUEST_CODE || p.code === GSSENC_REQUEST_CODE) {
        c.socket.write('N');
        continue;
      }
      if (p.code === CANCEL_REQUEST_CODE) {
        // Cancelling would need a signal into the WASM backend; the request is accepted and ignored, as a
        // server that lost the race would.
        c.socket.destroy();
        return false;
      }
      if (p.code !== PROTOCOL_V3) {
        this.fatal(
          c,
          '0A000',
          `Unsupported frontend protocol ${p.code >>> 16}.${p.code & 0xffff}: the embedded server speaks 3.0`,
        );
        return false;
      }
      if (c.rejected) {
        this.fatal(
          c,
          '53300',
          `Sorry, too many clients already (the embedded server allows ${this.maxClients})`,
        );
        return false;
      }
      clearTimeout(c.startupTimer!);
      c.phase = 'ready';
      c.socket.write(
        Buffer.concat([
          authenticationOk(),
          this.greeting,
          backendKeyData(c.id, randomInt(1, 2 ** 31 - 1)),
          readyForQuery('I'),
        ]),
      );
      this.log.debug('Client connected', {
        client: c.id,
        user: p.params.user,
        database: p.params.database,
        clients: this.clients.size,
      });
      return true;
    }
    return false;
  }

  /** Sends one client's queued messages to the backend, one batch at a time, under the session lock. */
  private async drive(c: Client): Promise<void> {
    if (c.working) return;
    c.working = true;
    try {
      while (c.pending.length > 0 && !c.closed) {
        if (!c.holdsLock) {
          await this.lock.acquire(c.id);
          c.holdsLock = true;
        }
        if (c.closed) break;
        const batch =
          c.pending.length === 1 ? c.pending[0]!.bytes : Buffer.concat(c.pending.map((p) => p.bytes));
        const hasCopy = c.pending.some((p) => p.copy);
        c.pending = [];
        const raw = await this.exec(batch);
        // The client already got our CopyInResponse before it sent the data.
        const response = hasCopy ? withoutMessages(raw, 'G') : raw;
        const summary = summarizeResponse(response);
        if (summary.lastStatus) c.txStatus = summary.lastStatus;
        c.inCycle = !summary.endsWithReady;
        const flushed = c.closed || response.length === 0 ? true : c.socket.write(response);
        if (summary.endsWithReady && summary.lastStatus === 'I') this.releaseLock(c);
        if (!flushed) await Promise.race([once(c.socket, 'drain'), once(c.socket, 'close')]);
      }
    } catch (err) {
      this.log.error('Backend failed while serving a client; dropping the client', {
        client: c.id,
        error: errorMessage(err),
      });
      this.fatal(c, 'XX000', `Embedded database failure: ${errorMessage(err)}`);
    } finally {
      c.working = false;
    }
    if (c.closed) {
      await this.cleanup(c);
      return;
    }
    if (c.pending.length > 0) {
      void this.drive(c);
      return;
    }
    if (c.copy && !c.copy.announced) {
      // Only now: every response to what the client sent before the COPY has been written.
      c.copy.announced = true;
      c.socket.write(copyInResponse());
    }
    if (c.terminating) {
      c.socket.end();
      return;
    }
    if (c.holdsLock) this.armIdle(c);
  }

  private releaseLock(c: Client): void {
    if (!c.holdsLock) return;
    c.holdsLock = false;
    this.lock.release(c.id);
  }

  private exec(bytes: Buffer): Promise<Buffer> {
    if (this.stopped) return Promise.reject(new Error('Embedded server is stopping'));
    // PGlite answers with a view of a receive buffer it reuses on the next call; the socket may still hold it.
    const p = this.opts.backend.execProtocolRaw(bytes).then((r) => Buffer.from(r));
    this.inflight = p.catch((err: unknown) => {
      this.opts.onBackendError?.(err);
    });
    return p;
  }

  private armIdle(c: Client): void {
    if (this.idleTimeoutMs <= 0) return;
    this.clearIdle(c);
    const check = (waitMs: number) => {
      c.idleTimer = setTimeout(() => {
        if (!c.holdsLock || c.closed) return;
        // Only a client that blocks someone is worth cutting off; recheck soon so a newcomer waits little.
        if (this.lock.waiting === 0) return check(Math.min(1000, this.idleTimeoutMs));
        this.log.warn('Terminating a client idle while holding the database', {
          client: c.id,
          idleMs: this.idleTimeoutMs,
        });
        this.fatal(
          c,
          '25P03',
          'Terminating connection due to idle-in-transaction timeout (the embedded server shares one session)',
        );
      }, waitMs);
      c.idleTimer.unref();
    };
    check(this.idleTimeoutMs);
  }

  private clearIdle(c: Client): void {
    if (c.idleTimer) clearTimeout(c.idleTimer);
    c.idleTimer = null;
  }

  private fatal(c: Client, sqlState: string, text: string): void {
    if (!c.socket.destroyed) c.socket.end(errorResponse('FATAL', sqlState, text));
    setTimeout(() => c.socket.destroy(), 1000).unref();
    this.markClosed(c);
  }

  private onClose(c: Client): void {
    this.markClosed(c);
    if (!c.working) void this.cleanup(c);
  }

  private markClosed(c: Client): void {
    if (c.closed) return;
    c.phase = 'closed';
    c.pending = [];
    c.copy = null;
    clearTimeout(c.startupTimer!);
    this.clearIdle(c);
  }

  /**
   * Leaves the shared session as the client found it: ends an unfinished extended sequence, rolls back an
   * open transaction and closes the client's prepared statements, then hands the session on.
   */
  private async cleanup(c: Client): Promise<void> {
    if (c.cleanedUp) return;
    c.cleanedUp = true;
    this.clients.delete(c.id);
    const needsBackend = c.holdsLock || c.inCycle || c.txStatus !== 'I' || c.statements.size > 0;
    if (needsBackend && !this.stopped) {
      try {
        if (!c.holdsLock) {
          await this.lock.acquire(c.id);
          c.holdsLock = true;
        }
        const status = summarizeResponse(await this.exec(sync())).lastStatus;
        if (status && status !== 'I') await this.exec(query('ROLLBACK'));
        if (c.statements.size > 0)
          await this.exec(Buffer.concat([...[...c.statements].map((s) => close('S', s)), sync()]));
      } catch (err) {
        this.log.warn('Could not clean up after a disconnected client', {
          client: c.id,
          error: errorMessage(err),
        });
      }
    }
    this.releaseLock(c);
    this.log.debug('Client disconnected', { client: c.id, clients: this.clients.size });
  }
}
