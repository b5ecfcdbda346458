import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres, { type Sql } from 'postgres';
import { errorMessage } from '../../engine/errors.js';
import type { Logger } from '../../engine/log.js';
import { connectTimescale, migrate, startEmbeddedTimescale } from '../../connectors/timescale/index.js';
import { startThrowawayPostgres } from '../../connectors/timescale/test/throwaway-postgres.js';

/** A database the sink suite writes into, migrated and ready; close() undoes whatever open did. */
export interface SinkTarget {
  /** Row label, e.g. 'rows/s into embedded TimescaleDB'. */
  name: string;
  sql: Sql;
  /** Whether detections is a TimescaleDB hypertable (false: a plain table). */
  hypertable: boolean;
  /** Facts for the notes: where the server is, which schema, why a fallback was used. */
  notes: string[];
  close(): Promise<void>;
}

const CONNECT_TIMEOUT_S = 2;

/** The machine's own PostgreSQL, tried in order (trust auth on loopback). */
const MACHINE_URLS = ['postgres://postgres@127.0.0.1:5432/postgres', 'postgres://root@127.0.0.1:5432/test'];

async function isHypertable(sql: Sql): Promise<boolean> {
  const ext = await sql`SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'`;
  if (ext.length === 0) return false;
  const rows = await sql`
    SELECT 1 FROM timescaledb_information.hypertables
    WHERE hypertable_name = 'detections' AND hypertable_schema = current_schema()`;
  return rows.length > 0;
}

async function closeQuietly(sql: Sql): Promise<void> {
  await sql.end({ timeout: 5 }).catch(() => undefined);
}

/** TimescaleDB as the engine embeds it (PGlite child process), on a temporary data directory and a free port. */
export async function openEmbedded(log: Logger): Promise<SinkTarget> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kuzet-bench-sink-'));
  const db = await startEmbeddedTimescale({ port: 0, dataDir, log });
  const sql = connectTimescale(db.url, log);
  try {
    await migrate(sql, log);
    const hypertable = await isHypertable(sql);
    return {
      name: 'rows/s into embedded TimescaleDB',
      sql,
      hypertable,
      notes: ['embedded TimescaleDB (PGlite, temp data dir on disk)'],
      close: async () => {
        await closeQuietly(sql);
        await db.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await closeQuietly(sql);
    await db.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** First of MACHINE_URLS that answers, or why none did. */
async function reachMachineServer(): Promise<{ url: string } | { reason: string }> {
  const reasons: string[] = [];
  for (const url of MACHINE_URLS) {
    const probe = postgres(url, { max: 1, connect_timeout: CONNECT_TIMEOUT_S, onnotice: () => undefined });
    try {
      const [tsAvailable] = await probe`
        SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available,
               EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS installed`;
      // migrate() would CREATE EXTENSION in the machine's database: that is not ours to change.
      if (tsAvailable && tsAvailable.available === true && tsAvailable.installed !== true) {
        reasons.push(`${url}: timescaledb available but not installed (migrating would install it)`);
        continue;
      }
      return { url };
    } catch (err) {
      reasons.push(`${url}: ${errorMessage(err)}`);
    } finally {
      await closeQuietly(probe);
    }
  }
  return { reason: reasons.join('; ') };
}

/**
 * The PostgreSQL server on this machine (127.0.0.1:5432), in a schema of its own that is dropped afterwards;
 * when it cannot be reached, a throwaway PostgreSQL from Debian's binaries instead (said in the notes).
 */
export async function openMachineServer(log: Logger): Promise<SinkTarget> {
  const reached = await reachMachineServer();
  if ('reason' in reached) {
    const pg = await startThrowawayPostgres();
    const sql = connectTimescale(pg.url, log, { connectTimeoutS: CONNECT_TIMEOUT_S });
    try {
      await migrate(sql, log);
      const hypertable = await isHypertable(sql);
      return {
        name: 'rows/s into PostgreSQL server (throwaway)',
        sql,
        hypertable,
        notes: [`127.0.0.1:5432 unreachable (${reached.reason}); used a throwaway PostgreSQL (fsync=off)`],
        close: async () => {
          await closeQuietly(sql);
          await pg.stop();
        },
      };
    } catch (err) {
      await closeQuietly(sql);
      await pg.stop();
      throw err;
    }
  }

  const schema = `kuzet_bench_${process.pid}`;
  const admin = postgres(reached.url, {
    max: 1,
    connect_timeout: CONNECT_TIMEOUT_S,
    onnotice: () => undefined,
  });
  await admin`DROP SCHEMA IF EXISTS ${admin(schema)} CASCADE`;
  await admin`CREATE SCHEMA ${admin(schema)}`;
  const dropSchema = async () => {
    await admin`DROP SCHEMA IF EXISTS ${admin(schema)} CASCADE`.catch((err: unknown) =>
      log.error('Could not drop the bench schema', { schema, error: errorMessage(err) }),
    );
    await closeQuietly(admin);
  };
  // A startup parameter, so every pooled connection (writer, baseline, migrations) lands in the schema.
  const url = `${reached.url}?search_path=${schema}`;
  const sql = connectTimescale(url, log, { connectTimeoutS: CONNECT_TIMEOUT_S });
  try {
    await migrate(sql, log);
    const [where] = await sql<Array<{ schema: string; version: string }>>`
      SELECT current_schema() AS schema, current_setting('server_version') AS version`;
    if (where?.schema !== schema) throw new Error(`search_path not applied: current schema ${where?.schema}`);
    const hypertable = await isHypertable(sql);
    return {
      name: 'rows/s into PostgreSQL server (127.0.0.1:5432)',
      sql,
      hypertable,
      notes: [
        `machine's PostgreSQL ${where.version} at ${reached.url.replace(/^postgres:\/\/[^@]*@/, '')}, schema ${schema} (dropped after)`,
      ],
      close: async () => {
        await closeQuietly(sql);
        await dropSchema();
      },
    };
  } catch (err) {
    await closeQuietly(sql);
    await dropSchema();
    throw err;
  }
}
