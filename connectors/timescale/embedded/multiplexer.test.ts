import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import postgres, { type Sql } from 'postgres';
import { createLogger } from '../../../engine/log.js';
import { startEmbeddedTimescale, type EmbeddedTimescale } from './embedded.js';
import { FrameReader, PROTOCOL_V3, cstring, message, query, sync, type FrontendMessage } from './wire.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const IDLE_TIMEOUT_MS = 1500;
const MAX_CLIENTS = 12;

/** A hand-rolled Postgres client, to send exactly the bytes a test needs (bad timing, same names, cut-offs). */
class RawClient {
  private readonly reader = new FrameReader();
  private readonly inbox: FrontendMessage[] = [];
  private wake: (() => void) | null = null;
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let m = this.reader.next(); m; m = this.reader.next()) this.inbox.push(m);
      this.wake?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = createConnection({ port, host: '127.0.0.1' });
    await once(socket, 'connect');
    const c = new RawClient(socket);
    const params = Buffer.concat([
      cstring('user'),
      cstring('postgres'),
      cstring('database'),
      cstring('postgres'),
      Buffer.from([0]),
    ]);
    const head = Buffer.alloc(8);
    head.writeInt32BE(8 + params.length, 0);
    head.writeInt32BE(PROTOCOL_V3, 4);
    socket.write(Buffer.concat([head, params]));
    return c;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Messages up to and including the next ReadyForQuery, or up to the connection closing. */
  async untilReady(): Promise<FrontendMessage[]> {
    const out: FrontendMessage[] = [];
    for (;;) {
      while (this.inbox.length > 0) {
        const m = this.inbox.shift()!;
        out.push(m);
        if (m.type === 'Z') return out;
      }
      if (this.closed) return out;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.socket.destroy();
    await once(this.socket, 'close');
  }
}

const parse = (name: string, sql: string) =>
  message('P', Buffer.concat([cstring(name), cstring(sql), Buffer.from([0, 0])]));
const bind = (portal: string, stmt: string) =>
  message('B', Buffer.concat([cstring(portal), cstring(stmt), Buffer.alloc(6)]));
const execute = (portal: string) => message('E', Buffer.concat([cstring(portal), Buffer.alloc(4)]));

function dataRows(msgs: FrontendMessage[]): string[][] {
  return msgs
    .filter((m) => m.type === 'D')
    .map((m) => {
      const b = m.bytes;
      const n = b.readInt16BE(5);
      const row: string[] = [];
      let o = 7;
      for (let i = 0; i < n; i++) {
        const len = b.readInt32BE(o);
        row.push(b.toString('utf8', o + 4, o + 4 + len));
        o += 4 + len;
      }
      return row;
    });
}

function errorCode(msgs: FrontendMessage[]): string | null {
  const e = msgs.find((m) => m.type === 'E');
  if (!e) return null;
  const fields = e.bytes.subarray(5).toString('utf8').split('\0');
  return fields.find((f) => f.startsWith('C'))?.slice(1) ?? null;
}

describe('WireMultiplexer (embedded server)', { timeout: 60_000 }, () => {
  let server: EmbeddedTimescale;
  let a: Sql;
  let b: Sql;
  const log = createLogger('test', 'warn');

  before(async () => {
    server = await startEmbeddedTimescale({
      port: 0,
      dataDir: 'memory',
      maxClients: MAX_CLIENTS,
      idleInTransactionTimeoutMs: IDLE_TIMEOUT_MS,
      log,
    });
    a = postgres(server.url, { max: 1, onnotice: () => undefined });
    b = postgres(server.url, { max: 1, onnotice: () => undefined });
    await a`CREATE TABLE t_tx (v int)`;
  });

  after(async () => {
    await Promise.all([a?.end({ timeout: 1 }), b?.end({ timeout: 1 })]);
    await server?.stop();
  });

  it('serves two postgres.js clients with interleaved prepared statements', async () => {
    for (let i = 0; i < 100; i++) {
      const [ra, rb] = await Promise.all([
        a`SELECT ${i}::int + 1 AS v`,
        b`SELECT ${String(i)}::text || 'b' AS v`,
      ]);
      assert.equal(ra[0]!.v, i + 1);
      assert.equal(rb[0]!.v, `${i}b`);
    }
  });

  it('serves five clients at once, each with its own pipeline of queries', async () => {
    const clients = Array.from({ length: 5 }, () =>
      postgres(server.url, { max: 1, onnotice: () => undefined }),
    );
    try {
      const results = await Promise.all(
        clients.map((c, k) =>
          Promise.all(Array.from({ length: 30 }, (_, i) => c`SELECT ${k}::int * 1000 + ${i}::int AS v`)),
        ),
      );
      results.forEach((perClient, k) => perClient.forEach((r, i) => assert.equal(r[0]!.v, k * 1000 + i)));
    } finally {
      await Promise.all(clients.map((c) => c.end({ timeout: 1 })));
    }
  });

  it('keeps a transaction whole while another client queries', async () => {
    await a`TRUNCATE t_tx`;
    const tx = a.begin(async (t) => {
      await t`INSERT INTO t_tx VALUES (1)`;
      await sleep(300);
      await t`INSERT INTO t_tx VALUES (2)`;
    });
    await sleep(50);
    // b asks mid-transaction; it is served only once the transaction ends, so it never sees half of it.
    const [row] = await b`SELECT count(*)::int AS n FROM t_tx`;
    await tx;
    assert.equal(row!.n, 2);
  });

  it('lets psql query while a postgres.js client holds a connection', async () => {
    await a`SELECT 1`;
    const { stdout } = await run(
      '/usr/bin/psql',
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(server.port),
        '-U',
        'postgres',
        '-d',
        'postgres',
        '-At',
        '-c',
        "SELECT 40 + 2, extversion FROM pg_extension WHERE extname = 'timescaledb'",
      ],
      { env: { ...process.env, PGCONNECT_TIMEOUT: '5' }, timeout: 10_000 },
    );
    assert.equal(stdout.trim(), '42|2.23.0-dev');
    assert.equal((await a`SELECT 2 AS v`)[0]!.v, 2);
  });

  it('emulates COPY FROM STDIN for psql (PGlite would abort reading data it was not handed)', async () => {
    const psql = (args: string[], input?: string) =>
      new Promise<string>((resolve, reject) => {
        const child = execFile(
          '/usr/bin/psql',
          [
            '-h',
            '127.0.0.1',
            '-p',
            String(server.port),
            '-U',
            'postgres',
            '-d',
            'postgres',
            '-At',
            '-v',
            'ON_ERROR_STOP=1',
            ...args,
          ],
          { timeout: 10_000 },
          (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout)),
        );
        child.stdin!.end(input ?? '');
      });
    const out = await psql(
      ['-f', '-'],
      'CREATE TABLE nums (n int);\nBEGIN;\nCOPY nums FROM STDIN;\n7\n8\n9\n\\.\nCOMMIT;\nSELECT sum(n) FROM nums;\n',
    );
    assert.match(out, /^24$/m);
    await assert.rejects(
      psql(['-c', 'SELECT 1; COPY nums FROM STDIN']),
      /only supported by the embedded server as a single/,
    );
    assert.equal((await a`SELECT count(*)::int AS n FROM nums`)[0]!.n, 3);
  });

  it('keeps two clients apart that use the same statement name', async () => {
    const x = await RawClient.connect(server.port);
    const y = await RawClient.connect(server.port);
    await Promise.all([x.untilReady(), y.untilReady()]);
    x.send(Buffer.concat([parse('s1', "SELECT 'from x'"), sync()]));
    assert.equal(errorCode(await x.untilReady()), null);
    y.send(Buffer.concat([parse('s1', "SELECT 'from y'"), sync()]));
    assert.equal(errorCode(await y.untilReady()), null);
    x.send(Buffer.concat([bind('', 's1'), execute(''), sync()]));
    y.send(Buffer.concat([bind('', 's1'), execute(''), sync()]));
    assert.deepEqual(dataRows(await x.untilReady()), [['from x']]);
    assert.deepEqual(dataRows(await y.untilReady()), [['from y']]);
    await Promise.all([x.close(), y.close()]);
  });

  it('reassembles a query sent one byte per TCP segment', async () => {
    const x = await RawClient.connect(server.port);
    await x.untilReady();
    x.socket.setNoDelay(true);
    for (const byte of query('SELECT 6 * 7')) {
      x.send(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(dataRows(await x.untilReady()), [['42']]);
    await x.close();
  });

  it('rolls back and unblocks when a client disconnects mid-transaction or mid-sequence', async () => {
    await a`TRUNCATE t_tx`;
    const x = await RawClient.connect(server.port);
    await x.untilReady();
    x.send(query('BEGIN; INSERT INTO t_tx VALUES (99)'));
    const reply = await x.untilReady();
    assert.equal(reply.at(-1)!.bytes.toString('latin1', 5, 6), 'T');
    const waiting = b`SELECT count(*)::int AS n FROM t_tx`;
    await sleep(100);
    await x.close();
    assert.equal((await waiting)[0]!.n, 0);

    const y = await RawClient.connect(server.port);
    await y.untilReady();
    // Parse and Bind without Sync: the backend is mid-sequence when the client vanishes.
    y.send(Buffer.concat([parse('s9', 'SELECT 1'), bind('', 's9')]));
    await sleep(100);
    await y.close();
    assert.equal((await b`SELECT 3 AS v`)[0]!.v, 3);
  });

  it('terminates a client idle in a transaction once another client waits', async () => {
    const x = await RawClient.connect(server.port);
    await x.untilReady();
    x.send(query('BEGIN'));
    await x.untilReady();
    const t0 = performance.now();
    assert.equal((await b`SELECT 5 AS v`)[0]!.v, 5);
    const waited = performance.now() - t0;
    assert.ok(waited >= IDLE_TIMEOUT_MS - 200 && waited < IDLE_TIMEOUT_MS + 3000, `waited ${waited} ms`);
    assert.equal(errorCode(await x.untilReady()), '25P03');
    assert.ok(x.closed || (await once(x.socket, 'close')));
  });

  it(`refuses client ${MAX_CLIENTS + 1} with a clear error and recovers when clients leave`, async () => {
    const raws: RawClient[] = [];
    let refused: FrontendMessage[] | null = null;
    for (let i = 0; i < MAX_CLIENTS + 1 && !refused; i++) {
      const c = await RawClient.connect(server.port);
      raws.push(c);
      const msgs = await c.untilReady();
      if (errorCode(msgs)) refused = msgs;
    }
    assert.ok(refused, 'no client was refused');
    assert.equal(errorCode(refused), '53300');
    assert.match(refused.find((m) => m.type === 'E')!.bytes.toString('utf8'), /too many clients/);
    await Promise.all(raws.map((c) => c.close()));
    // The server sees the disconnects a moment after we do; a newcomer is served once it has.
    let accepted = false;
    for (let i = 0; i < 20 && !accepted; i++) {
      const late = await RawClient.connect(server.port);
      accepted = errorCode(await late.untilReady()) === null;
      await late.close();
      if (!accepted) await sleep(50);
    }
    assert.ok(accepted, 'a client was still refused after the others left');
  });
});
