import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startThrowawayPostgres, type ThrowawayPostgres } from './test/throwaway-postgres.js';
import postgres, { type Sql } from 'postgres';
import { recordingLogger } from '../../engine/test/helpers.js';
import { startEmbeddedTimescale, type EmbeddedTimescale } from './embedded/embedded.js';
import { migrate } from './migrate.js';

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
      assert.deepEqual(first, {
        applied: [
          '001_detections.sql',
          '002_alarms.sql',
          '003_fusion.sql',
          '004_detection_keys.sql',
          '005_alarm_actions.sql',
        ],
        timescale: true,
      });
      const second = await migrate(sql, recordingLogger(lines));
      assert.deepEqual(second, { applied: [], timescale: true });
      assert.equal(lines.filter((l) => l.level === 'warn').length, 0);

      const [ht] =
        await sql`SELECT count(*)::int AS n FROM timescaledb_information.hypertables WHERE hypertable_name = 'detections'`;
      assert.equal(ht!.n, 1);
      const [dim] =
        await sql`SELECT time_interval = INTERVAL '1 day' AS one_day FROM timescaledb_information.dimensions WHERE hypertable_name = 'detections'`;
      assert.equal(dim!.one_day, true);
      const tracked = await sql`SELECT id, name FROM kuzet_migrations`;
      assert.deepEqual(
        [...tracked],
        [
          { id: 1, name: '001_detections.sql' },
          { id: 2, name: '002_alarms.sql' },
          { id: 3, name: '003_fusion.sql' },
          { id: 4, name: '004_detection_keys.sql' },
          { id: 5, name: '005_alarm_actions.sql' },
        ],
      );
      const [idx] =
        await sql`SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'detections_school_camera_time_idx'`;
      assert.equal(idx!.n, 1);
    });
  });

  describe('on a PostgreSQL without TimescaleDB', () => {
    const schema = `kuzet_migrate_test_${process.pid}`;
    let server: ThrowawayPostgres;
    let admin: Sql;
    let sql: Sql;

    before(async () => {
      // A private server from Debian's binaries: the machine's own one may be absent or out of reach.
      server = await startThrowawayPostgres();
      admin = postgres(server.url, { max: 1, onnotice: () => undefined });
      const [ext] =
        await admin`SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'timescaledb'`;
      assert.equal(ext!.n, 0, 'the throwaway PostgreSQL must lack TimescaleDB');
      await admin.unsafe(`CREATE SCHEMA ${schema}`);
      sql = postgres(server.url, { max: 2, onnotice: () => undefined, connection: { search_path: schema } });
    });
    after(async () => {
      await sql?.end({ timeout: 1 });
      await admin?.end({ timeout: 1 });
      await server?.stop();
    });

    it('falls back to a plain table with one warning, and stays idempotent', async () => {
      const lines: Array<{ level: string; msg: string }> = [];
      assert.deepEqual(await migrate(sql, recordingLogger(lines)), {
        applied: [
          '001_detections.sql',
          '002_alarms.sql',
          '003_fusion.sql',
          '004_detection_keys.sql',
          '005_alarm_actions.sql',
        ],
        timescale: false,
      });
      const warnings = lines.filter((l) => l.level === 'warn');
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!.msg, /TimescaleDB is not available.*plain table/);
      assert.deepEqual(await migrate(sql, recordingLogger([])), { applied: [], timescale: false });

      await sql`INSERT INTO detections (time, school_id, camera_id, class, score, box, frame_seq) VALUES (now(), 's', 'c', 'person', 0.9, '{1,2,3,4}', 1)`;
      const [row] = await sql`SELECT box, track_id FROM detections`;
      assert.deepEqual(row, { box: [1, 2, 3, 4], track_id: null });
      const [where] =
        await sql`SELECT table_schema FROM information_schema.tables WHERE table_name = 'detections' AND table_schema = ${schema}`;
      assert.equal(where!.table_schema, schema);
    });
  });
});
