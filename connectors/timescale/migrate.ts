import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sql } from 'postgres';
import { KuzetError, errorMessage } from '../../engine/errors.js';
import { createLogger, type Logger } from '../../engine/log.js';
import { repoPath } from '../../engine/paths.js';

export interface MigrateOptions {
  /** Folder of NNN_name.sql files; the shipped migrations by default (read from the source tree, not dist/). */
  dir?: string;
}

export interface MigrateResult {
  /** Files applied by this call, in order. */
  applied: string[];
  /** Whether TimescaleDB is installed; without it detections is a plain table. */
  timescale: boolean;
}

interface MigrationFile {
  id: number;
  name: string;
  path: string;
}

/** Serialises concurrent migrators (two engines starting at once) on the database itself. */
const MIGRATION_LOCK_KEY = 0x6b757a6574; // "kuzet"

export function listMigrations(dir: string): MigrationFile[] {
  const files: MigrationFile[] = [];
  for (const name of readdirSync(dir)) {
    const m = /^(\d+)_[\w-]+\.sql$/.exec(name);
    if (!m) continue;
    files.push({ id: Number(m[1]), name, path: join(dir, name) });
  }
  files.sort((a, b) => a.id - b.id);
  for (let i = 1; i < files.length; i++) {
    if (files[i]!.id === files[i - 1]!.id) {
      throw new KuzetError(
        'KUZET_ERR_DB',
        `Migrations ${files[i - 1]!.name} and ${files[i]!.name} share number ${files[i]!.id} (${dir})`,
      );
    }
  }
  return files;
}

/**
 * Makes sure TimescaleDB is installed when the server offers it. A PostgreSQL without it (or without it in
 * shared_preload_libraries) still gets a working schema: the engine must run on any PostgreSQL.
 */
async function ensureTimescale(sql: Sql, log: Logger): Promise<boolean> {
  const installed = await sql`SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'`;
  if (installed.length > 0) return true;
  const available = await sql`SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'`;
  if (available.length === 0) {
    log.warn(
      'TimescaleDB is not available on this PostgreSQL; detections go into a plain table (no hypertable or compression)',
    );
    return false;
  }
  try {
    await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`;
    return true;
  } catch (err) {
    log.warn(
      'TimescaleDB could not be installed; detections go into a plain table (add timescaledb to shared_preload_libraries)',
      {
        error: errorMessage(err),
      },
    );
    return false;
  }
}

/** Applies each numbered migration once, each in its own transaction, recording it in kuzet_migrations. */
export async function migrate(
  sql: Sql,
  log: Logger = createLogger('timescale.migrate'),
  opts: MigrateOptions = {},
): Promise<MigrateResult> {
  const dir = opts.dir ?? repoPath('connectors', 'timescale', 'migrations');
  const files = listMigrations(dir);
  const timescale = await ensureTimescale(sql, log);
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
    await tx`CREATE TABLE IF NOT EXISTS kuzet_migrations (
      id int PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`;
  });
  const applied: string[] = [];
  for (const file of files) {
    const text = readFileSync(file.path, 'utf8');
    try {
      const ran = await sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
        const done = await tx`SELECT 1 FROM kuzet_migrations WHERE id = ${file.id}`;
        if (done.length > 0) return false;
        // Simple protocol: a migration file holds several statements.
        await tx.unsafe(text).simple();
        await tx`INSERT INTO kuzet_migrations (id, name) VALUES (${file.id}, ${file.name})`;
        return true;
      });
      if (ran) {
        applied.push(file.name);
        log.info('Applied migration', { migration: file.name, timescale });
      }
    } catch (err) {
      throw new KuzetError(
        'KUZET_ERR_DB',
        `Migration ${file.name} failed: ${errorMessage(err)} (${file.path})`,
        { cause: err },
      );
    }
  }
  return { applied, timescale };
}
