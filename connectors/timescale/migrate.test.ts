import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import postgres, { type Sql } from 'postgres';
import type { LogFields, Logger } from '../../engine/log.js';
import { startEmbeddedTimescale, type EmbeddedTimescale } from './embedded/embedded.js';
import { migrate } from './migrate.js';

/** Keeps log lines for assertions instead of printing them. */
function recordingLogger(lines: Array<{ level: string; msg: string; fields?: LogFields }>): Logger {
  const at =
    (level: string) =>
    (msg: string, fields?: LogFields): void => {
      lines.push({ level, msg, fields });
    };
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

const LOCAL_PG = 'postgres://postgres@127.0.0.1:5432/test';

describe('migrate', { timeout: 60_000 }, () => {
  describe('on the embedded TimescaleDB', () => {
    let db: EmbeddedTimescale;
    let sql: Sql;
    before(async () => {
      db = await startEmbeddedTimescale({ port: 0, dataDir: 'memory', log: recordingLogger([]) });
      sql = postgres(db.url, { max: 2, onnotice: () => undefined });
    });
    after(async () => {
      await sql?.end({ timeout: 1 });
      await db?.stop();
    });

    it('creates the detections hypertable once, however often it runs', async () => {
      const lines: Array<{ level: string; msg: string }> = [];
      const first = await migrate(sql, recordingLogger(lines));
      assert.deepEqual(first, { applied: ['001_detections.sql'], timescale: true });
      const second = await migrate(sql, recordingLogger(lines));
      assert.deepEqual(second, { applied: [], timescale: true });
      assert.equal(lines.filter((l) => l.level === 'warn').length, 0);

      const [ht] = await sql`SELECT count(*)::int AS n FROM timescaledb_information.hypertables WHERE hypertable_name = 'detections'`;
      assert.equal(ht!.n, 1);
      const [dim] = await sql`SELECT time_interval = INTERVAL '1 day' AS one_day FROM timescaledb_information.dimensions WHERE hypertable_name = 'detections'`;
      assert.equal(dim!.one_day, true);
      const tracked = await sql`SELECT id, name FROM kuzet_migrations`;
      assert.deepEqual([...tracked], [{ id: 1, name: '001_detections.sql' }]);
      const [idx] = await sql`SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'detections_school_camera_time_idx'`;
      assert.equal(idx!.n, 1);
    });
  });

  describe('on a PostgreSQL without TimescaleDB', () => {
    const schema = `kuzet_migrate_test_${process.pid}`;
    let admin: Sql | null = null;
    let sql: Sql;

    before(async () => {
      const probe = postgres(LOCAL_PG, { max: 1, connect_timeout: 2, onnotice: () => undefined });
      try {
        const [ext] = await probe`SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'timescaledb'`;
        if (ext!.n > 0) throw new Error('this PostgreSQL has TimescaleDB');
        await probe.unsafe(`CREATE SCHEMA ${schema}`);
        admin = probe;
      } catch {
        await probe.end({ timeout: 1 });
        return;
      }
      // Our own schema keeps the test off whatever else lives in the shared `test` database.
      sql = postgres(LOCAL_PG, { max: 2, onnotice: () => undefined, connection: { search_path: schema } });
    });
    after(async () => {
      if (!admin) return;
      await sql.end({ timeout: 1 });
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end({ timeout: 1 });
    });

    it('falls back to a plain table with one warning, and stays idempotent', async (t) => {
      if (!admin) {
        t.skip('no PostgreSQL without TimescaleDB at 127.0.0.1:5432/test');
        return;
      }
      const lines: Array<{ level: string; msg: string }> = [];
      assert.deepEqual(await migrate(sql, recordingLogger(lines)), { applied: ['001_detections.sql'], timescale: false });
      const warnings = lines.filter((l) => l.level === 'warn');
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!.msg, /TimescaleDB is not available.*plain table/);
      assert.deepEqual(await migrate(sql, recordingLogger([])), { applied: [], timescale: false });

      await sql`INSERT INTO detections (time, school_id, camera_id, class, score, box, frame_seq) VALUES (now(), 's', 'c', 'person', 0.9, '{1,2,3,4}', 1)`;
      const [row] = await sql`SELECT box, track_id FROM detections`;
      assert.deepEqual(row, { box: [1, 2, 3, 4], track_id: null });
      const [where] = await sql`SELECT table_schema FROM information_schema.tables WHERE table_name = 'detections' AND table_schema = ${schema}`;
      assert.equal(where!.table_schema, schema);
    });
  });
});
