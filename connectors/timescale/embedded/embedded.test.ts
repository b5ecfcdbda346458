import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import postgres from 'postgres';
import { createLogger, loggerFor } from '../../../engine/log.js';
import { startEmbeddedTimescale } from './embedded.js';

const log = createLogger('test', 'warn');

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('startEmbeddedTimescale', { timeout: 90_000 }, () => {
  it('serves TimescaleDB in memory on a free port: extension, hypertable, time_bucket', async () => {
    const db = await startEmbeddedTimescale({ port: 0, dataDir: 'memory', log });
    const sql = postgres(db.url, { max: 1, onnotice: () => undefined });
    try {
      assert.ok(db.port > 0);
      await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`;
      const [ext] = await sql`SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`;
      assert.match(String(ext!.extversion), /^2\.23/);
      await sql`CREATE TABLE m (time timestamptz NOT NULL, v real NOT NULL)`;
      await sql`SELECT create_hypertable('m', by_range('time', INTERVAL '1 day'))`;
      const [ht] =
        await sql`SELECT count(*)::int AS n FROM timescaledb_information.hypertables WHERE hypertable_name = 'm'`;
      assert.equal(ht!.n, 1);
      await sql`INSERT INTO m SELECT TIMESTAMPTZ '2026-01-01' + i * INTERVAL '1 minute', i FROM generate_series(0, 179) i`;
      const buckets = await sql`
        SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, count(*)::int AS n, avg(v)::float8 AS mean
        FROM m GROUP BY bucket ORDER BY bucket`;
      assert.deepEqual(
        buckets.map((r) => [new Date(r.bucket as Date).toISOString(), r.n, r.mean]),
        [
          ['2026-01-01T00:00:00.000Z', 60, 29.5],
          ['2026-01-01T01:00:00.000Z', 60, 89.5],
          ['2026-01-01T02:00:00.000Z', 60, 149.5],
        ],
      );
    } finally {
      await sql.end({ timeout: 1 });
      await db.stop();
    }
    assert.equal(await portAccepts(db.port), false);
  });

  it("passes the database process's log lines to the parent's logger, under its component", async () => {
    const lines: string[] = [];
    const recorder = loggerFor(
      'db',
      (level, component, msg) => void lines.push(`${level} ${component}: ${msg}`),
    );
    const db = await startEmbeddedTimescale({ port: 0, dataDir: 'memory', log: recorder });
    await db.stop();
    assert.ok(lines.includes('info db: Embedded TimescaleDB ready'), lines.join('\n'));
    assert.ok(lines.includes('info db.multiplexer: Listening for Postgres clients'), lines.join('\n'));
    // Sent just before the process exits: it must still arrive.
    assert.ok(lines.includes('info db: Stopping embedded TimescaleDB'), lines.join('\n'));
  });

  it('keeps rows in a file data directory across stop and start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kuzet-pgdata-'));
    const dataDir = join(dir, 'pgdata');
    try {
      const first = await startEmbeddedTimescale({ port: 0, dataDir, log });
      const s1 = postgres(first.url, { max: 1, onnotice: () => undefined });
      await s1`CREATE TABLE kept (time timestamptz NOT NULL, note text)`;
      await s1`SELECT create_hypertable('kept', by_range('time', INTERVAL '1 day'))`;
      await s1`INSERT INTO kept VALUES (now(), 'before restart'), (now() - INTERVAL '3 days', 'older')`;
      await s1.end({ timeout: 1 });
      // A second server on the same directory would corrupt it: refused while the first runs.
      await assert.rejects(startEmbeddedTimescale({ port: 0, dataDir, log }), /in use by process/);
      await first.stop();
      assert.equal(existsSync(`${dataDir}.lock`), false);

      const second = await startEmbeddedTimescale({ port: 0, dataDir, log });
      const s2 = postgres(second.url, { max: 1, onnotice: () => undefined });
      try {
        const rows = await s2`SELECT note FROM kept ORDER BY time`;
        assert.deepEqual(
          rows.map((r) => r.note),
          ['older', 'before restart'],
        );
        const [chunks] =
          await s2`SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'kept'`;
        assert.equal(chunks!.n, 2);
      } finally {
        await s2.end({ timeout: 1 });
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits when the process that started it dies', async () => {
    const entry = new URL('./embedded.js', import.meta.url).href;
    const script = `
      const { startEmbeddedTimescale } = await import(${JSON.stringify(entry)});
      const db = await startEmbeddedTimescale({ port: 0, dataDir: 'memory' });
      console.log(db.port);
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const [line] = (await once(createInterface({ input: parent.stdout }), 'line')) as [string];
    const port = Number(line);
    assert.equal(await portAccepts(port), true);
    parent.kill('SIGKILL');
    await once(parent, 'exit');
    const deadline = Date.now() + 15_000;
    while ((await portAccepts(port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await portAccepts(port), false, 'the database child outlived its parent');
  });
});
