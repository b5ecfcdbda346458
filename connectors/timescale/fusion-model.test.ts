import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import postgres, { type Sql } from 'postgres';
import { recordingLogger } from '../../engine/test/helpers.js';
import { startEmbeddedTimescale, type EmbeddedTimescale } from './embedded/embedded.js';
import { migrate } from './migrate.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from './test/throwaway-postgres.js';

const SCHOOL = 'school-1';
const TZ = 'Asia/Almaty';

interface Day {
  /** The school's local today and yesterday, YYYY-MM-DD. */
  today: string;
  yesterday: string;
}

/** A timestamptz parameter for a local wall-clock time: `${day} ${hms}` in the school's zone. */
function local(sql: Sql, day: string, hms: string) {
  return sql`(${`${day} ${hms}`}::timestamp AT TIME ZONE ${TZ})`;
}

/**
 * One scripted school day (and a pupil seen yesterday): the timetable as the engine fills it from config,
 * turnstile passages, palm scans and canteen camera counts. Times are local, placed on the school's today so
 * that presence_now sees them.
 */
async function scriptDay(sql: Sql): Promise<Day> {
  const [d] = await sql`SELECT (now() AT TIME ZONE ${TZ})::date::text AS today,
    ((now() AT TIME ZONE ${TZ})::date - 1)::text AS yesterday`;
  const { today, yesterday } = d as Day;

  await sql`INSERT INTO school_time_zones ${sql({ school_id: SCHOOL, time_zone: TZ })}`;
  await sql`INSERT INTO school_shifts ${sql([
    { school_id: SCHOOL, shift_id: 'morning', start_time: '08:00', grace_minutes: 5 },
    { school_id: SCHOOL, shift_id: 'afternoon', start_time: '13:30', grace_minutes: 10 },
  ])}`;
  await sql`INSERT INTO class_shifts ${sql([
    { school_id: SCHOOL, class: '7A', shift_id: 'morning' },
    { school_id: SCHOOL, class: '7B', shift_id: 'morning' },
    { school_id: SCHOOL, class: '8A', shift_id: 'afternoon' },
  ])}`;
  await sql`INSERT INTO meal_windows ${sql([
    { school_id: SCHOOL, window_id: 'breakfast', from_time: '09:30', to_time: '09:50' },
    { school_id: SCHOOL, window_id: 'lunch', from_time: '12:00', to_time: '12:30' },
  ])}`;

  // [day, time, person, role, class, direction]
  const passages: Array<[string, string, string, string, string | null, string]> = [
    [today, '07:50:00', 'p1', 'pupil', '7A', 'in'], // on time, stays
    [today, '08:04:00', 'p2', 'pupil', '7A', 'in'], // within grace
    [today, '12:00:00', 'p2', 'pupil', '7A', 'out'], // left
    [today, '08:12:00', 'p3', 'pupil', '7A', 'in'], // late
    [today, '08:05:00', 'p4', 'pupil', '7B', 'in'], // exactly at the end of grace: not late
    [today, '08:30:00', 'p5', 'pupil', '7B', 'in'], // late, goes out and comes back
    [today, '10:00:00', 'p5', 'pupil', '7B', 'out'],
    [today, '10:20:00', 'p5', 'pupil', '7B', 'in'],
    [today, '13:45:00', 'p6', 'pupil', '8A', 'in'], // afternoon shift, late
    [today, '08:06:00', 'p7', 'pupil', '9C', 'in'], // class on no shift: the earliest one, late
    [today, '07:30:00', 's1', 'staff', null, 'in'],
    [today, '07:45:00', 's2', 'staff', null, 'in'],
    [today, '15:00:00', 's2', 'staff', null, 'out'],
    [yesterday, '08:00:00', 'p8', 'pupil', '7B', 'in'], // yesterday only: not present now
  ];
  for (const [day, hms, person, role, cls, direction] of passages) {
    await sql`INSERT INTO presence (time, school_id, person, role, class, direction, gate)
      VALUES (${local(sql, day, hms)}, ${SCHOOL}, ${person}, ${role}, ${cls}, ${direction}, 'main')`;
    await sql`INSERT INTO scanner_events (time, school_id, kind, event_id, person, role, class, direction, gate, payload)
      VALUES (${local(sql, day, hms)}, ${SCHOOL}, 'turnstile', ${`t-${day}-${person}-${hms}`}, ${person}, ${role},
        ${cls}, ${direction}, 'main', ${sql.json({ v: 1 })})`;
  }

  // Four breakfast meals, one palm event redelivered (dropped by the idempotency key).
  const palms: Array<[string, string]> = [
    ['09:31:00', 'p1'],
    ['09:33:00', 'p2'],
    ['09:36:00', 'p3'],
    ['09:40:00', 'p4'],
    ['09:40:00', 'p4'],
  ];
  for (const [hms, person] of palms) {
    await sql`INSERT INTO scanner_events (time, school_id, kind, event_id, person, class, meal_window, payload)
      VALUES (${local(sql, today, hms)}, ${SCHOOL}, 'palm', ${`palm-${person}`}, ${person}, '7A', 'breakfast',
        ${sql.json({ v: 1 })})
      ON CONFLICT DO NOTHING`;
  }
  // Cameras counted 3 entering for breakfast, and 5 for lunch where nobody scanned.
  const counts: Array<[string, string, string, number]> = [
    ['09:35:00', 'breakfast', 'cam-c1', 2],
    ['09:45:00', 'breakfast', 'cam-c1', 1],
    ['09:40:00', 'breakfast', 'cam-c2', 0],
    ['12:10:00', 'lunch', 'cam-c1', 5],
  ];
  for (const [hms, window, camera, entered] of counts) {
    await sql`INSERT INTO canteen_counts (time, school_id, window_id, camera_id, entered)
      VALUES (${local(sql, today, hms)}, ${SCHOOL}, ${window}, ${camera}, ${entered})`;
  }
  return { today, yesterday };
}

/** The administrators' views over the scripted day: identical on TimescaleDB and plain PostgreSQL. */
async function assertViews(sql: Sql, { today, yesterday }: Day): Promise<void> {
  const presence = await sql`SELECT school_id, role, class, present FROM presence_now ORDER BY role, class`;
  assert.deepEqual(
    presence.map((r) => ({ ...r })),
    [
      { school_id: SCHOOL, role: 'pupil', class: '7A', present: 2 },
      { school_id: SCHOOL, role: 'pupil', class: '7B', present: 2 },
      { school_id: SCHOOL, role: 'pupil', class: '8A', present: 1 },
      { school_id: SCHOOL, role: 'pupil', class: '9C', present: 1 },
      { school_id: SCHOOL, role: 'staff', class: null, present: 1 },
    ],
  );

  const lateness = await sql`SELECT school_id, day::text AS day, shift_id, class, person,
      to_char(first_in AT TIME ZONE ${TZ}, 'HH24:MI') AS first_in,
      to_char(shift_start AT TIME ZONE ${TZ}, 'HH24:MI') AS shift_start,
      grace_minutes, minutes_late, late
    FROM lateness_daily ORDER BY day, person`;
  const row = (
    day: string,
    shift: string,
    cls: string,
    person: string,
    firstIn: string,
    start: string,
    grace: number,
    minutesLate: number,
    late: boolean,
  ) => ({
    school_id: SCHOOL,
    day,
    shift_id: shift,
    class: cls,
    person,
    first_in: firstIn,
    shift_start: start,
    grace_minutes: grace,
    minutes_late: minutesLate,
    late,
  });
  assert.deepEqual(
    lateness.map((r) => ({ ...r })),
    [
      row(yesterday, 'morning', '7B', 'p8', '08:00', '08:00', 5, 0, false),
      row(today, 'morning', '7A', 'p1', '07:50', '08:00', 5, 0, false),
      row(today, 'morning', '7A', 'p2', '08:04', '08:00', 5, 4, false),
      row(today, 'morning', '7A', 'p3', '08:12', '08:00', 5, 12, true),
      row(today, 'morning', '7B', 'p4', '08:05', '08:00', 5, 5, false),
      row(today, 'morning', '7B', 'p5', '08:30', '08:00', 5, 30, true),
      row(today, 'afternoon', '8A', 'p6', '13:45', '13:30', 10, 15, true),
      row(today, 'morning', '9C', 'p7', '08:06', '08:00', 5, 6, true),
    ],
  );

  const byClass = await sql`SELECT school_id, day::text AS day, shift_id, class, pupils, late, late_share
    FROM lateness_by_class ORDER BY day, class`;
  assert.deepEqual(
    byClass.map((r) => ({ ...r })),
    [
      {
        school_id: SCHOOL,
        day: yesterday,
        shift_id: 'morning',
        class: '7B',
        pupils: 1,
        late: 0,
        late_share: 0,
      },
      {
        school_id: SCHOOL,
        day: today,
        shift_id: 'morning',
        class: '7A',
        pupils: 3,
        late: 1,
        late_share: 1 / 3,
      },
      {
        school_id: SCHOOL,
        day: today,
        shift_id: 'morning',
        class: '7B',
        pupils: 2,
        late: 1,
        late_share: 0.5,
      },
      {
        school_id: SCHOOL,
        day: today,
        shift_id: 'afternoon',
        class: '8A',
        pupils: 1,
        late: 1,
        late_share: 1,
      },
      { school_id: SCHOOL, day: today, shift_id: 'morning', class: '9C', pupils: 1, late: 1, late_share: 1 },
    ],
  );

  const canteen = await sql`SELECT school_id, day::text AS day, window_id, from_time, to_time,
      scanned, counted, gap, gap_share
    FROM canteen_reconciliation ORDER BY day, window_id`;
  assert.deepEqual(
    canteen.map((r) => ({ ...r })),
    [
      {
        school_id: SCHOOL,
        day: today,
        window_id: 'breakfast',
        from_time: '09:30:00',
        to_time: '09:50:00',
        scanned: 4,
        counted: 3,
        gap: 1,
        gap_share: 0.25,
      },
      {
        school_id: SCHOOL,
        day: today,
        window_id: 'lunch',
        from_time: '12:00:00',
        to_time: '12:30:00',
        scanned: 0,
        counted: 5,
        gap: -5,
        gap_share: null,
      },
    ],
  );
}

describe('fusion model (migration 003)', { timeout: 120_000 }, () => {
  describe('on the embedded TimescaleDB', () => {
    let db: EmbeddedTimescale;
    let sql: Sql;
    let day: Day;
    before(async () => {
      db = await startEmbeddedTimescale({ port: 0, dataDir: 'memory', log: recordingLogger([]) });
      sql = postgres(db.url, { max: 2, onnotice: () => undefined });
      const lines: Array<{ level: string; msg: string }> = [];
      assert.deepEqual(await migrate(sql, recordingLogger(lines)), {
        applied: [
          '001_detections.sql',
          '002_alarms.sql',
          '003_fusion.sql',
          '004_detection_keys.sql',
          '005_alarm_actions.sql',
        ],
        timescale: true,
      });
      assert.equal(lines.filter((l) => l.level === 'warn').length, 0);
      day = await scriptDay(sql);
    });
    after(async () => {
      await sql?.end({ timeout: 1 });
      await db?.stop();
    });

    it('makes hypertables of the event tables', async () => {
      const rows = await sql`SELECT hypertable_name FROM timescaledb_information.hypertables
        WHERE hypertable_name IN ('scanner_events', 'presence', 'camera_health', 'findings', 'canteen_counts')
        ORDER BY hypertable_name`;
      assert.deepEqual(
        rows.map((r) => r.hypertable_name),
        ['camera_health', 'canteen_counts', 'findings', 'presence', 'scanner_events'],
      );
    });

    it('gives exact presence, lateness and canteen reconciliation for a scripted day', async () => {
      await assertViews(sql, day);
    });

    it('creates the continuous aggregates, which refresh and read back', async () => {
      const caggs =
        await sql`SELECT view_name, materialization_hypertable_schema AS s, materialization_hypertable_name AS t
        FROM timescaledb_information.continuous_aggregates ORDER BY view_name`;
      assert.deepEqual(
        caggs.map((r) => r.view_name),
        ['attendance_daily', 'meals_daily', 'occupancy_per_minute'],
      );

      // One camera minute an hour ago: 4 frames, 6 persons (a backpack is no person, a frame of it still a frame).
      const [m] = await sql`SELECT date_trunc('minute', now()) - INTERVAL '1 hour' AS minute`;
      const minute = m!.minute as Date;
      const frames: Array<[number, string[]]> = [
        [1, ['person', 'person', 'person']],
        [2, ['person', 'person', 'backpack']],
        [3, ['person']],
        [4, ['backpack']],
      ];
      for (const [seq, classes] of frames) {
        for (const [idx, cls] of classes.entries()) {
          await sql`INSERT INTO detections (time, school_id, camera_id, class, score, box, frame_seq, det_idx)
            VALUES (${new Date(minute.getTime() + seq * 1000)}, ${SCHOOL}, 'cam-1', ${cls}, 0.9, '{1,2,3,4}', ${seq}, ${idx})`;
        }
      }
      const end = new Date(minute.getTime() + 60_000);
      // A refresh cannot run inside a transaction: postgres.js sends it on its own (autocommit).
      await sql`CALL refresh_continuous_aggregate('occupancy_per_minute', ${minute}, ${end})`;
      const occ = caggs.find((r) => r.view_name === 'occupancy_per_minute')!;
      const [materialized] =
        await sql`SELECT count(*)::int AS n FROM ${sql(occ.s as string)}.${sql(occ.t as string)}`;
      assert.equal(materialized!.n, 1, 'the refresh materialized the minute');
      const occupancy =
        await sql`SELECT minute, school_id, camera_id, persons::int AS persons, frames::int AS frames, mean_persons
        FROM occupancy_per_minute`;
      assert.deepEqual(
        occupancy.map((r) => ({ ...r })),
        [{ minute, school_id: SCHOOL, camera_id: 'cam-1', persons: 6, frames: 4, mean_persons: 1.5 }],
      );

      await sql`CALL refresh_continuous_aggregate('attendance_daily', NULL, NULL)`;
      const attendance =
        await sql`SELECT (day AT TIME ZONE ${TZ})::date::text AS day, class, pupils::int AS pupils
        FROM attendance_daily ORDER BY day, class`;
      assert.deepEqual(
        attendance.map((r) => ({ ...r })),
        [
          { day: day.yesterday, class: '7B', pupils: 1 },
          { day: day.today, class: '7A', pupils: 3 },
          { day: day.today, class: '7B', pupils: 2 },
          { day: day.today, class: '8A', pupils: 1 },
          { day: day.today, class: '9C', pupils: 1 },
        ],
      );

      await sql`CALL refresh_continuous_aggregate('meals_daily', NULL, NULL)`;
      const meals =
        await sql`SELECT (day AT TIME ZONE ${TZ})::date::text AS day, meal_window, meals::int AS meals
        FROM meals_daily`;
      assert.deepEqual(
        meals.map((r) => ({ ...r })),
        [{ day: day.today, meal_window: 'breakfast', meals: 4 }],
      );
    });

    it('installs named compression and retention policies that can be altered', async () => {
      const jobs = async () =>
        (
          await sql`SELECT hypertable_name AS t, proc_name AS p, coalesce(config->>'compress_after', config->>'drop_after') AS after
            FROM timescaledb_information.jobs WHERE proc_name IN ('policy_compression', 'policy_retention')
            ORDER BY hypertable_name, proc_name`
        ).map((r) => ({ ...r }));
      assert.deepEqual(await jobs(), [
        { t: 'detections', p: 'policy_compression', after: '7 days' },
        { t: 'detections', p: 'policy_retention', after: '90 days' },
        { t: 'scanner_events', p: 'policy_retention', after: '400 days' },
      ]);
      await sql`UPDATE kuzet_storage_policies SET after = INTERVAL '30 days' WHERE name = 'detections_retain'`;
      const [applied] = await sql`SELECT kuzet_apply_storage_policies() AS n`;
      assert.equal(applied!.n, 3);
      assert.deepEqual(await jobs(), [
        { t: 'detections', p: 'policy_compression', after: '7 days' },
        { t: 'detections', p: 'policy_retention', after: '30 days' },
        { t: 'scanner_events', p: 'policy_retention', after: '400 days' },
      ]);
    });
  });

  describe('on a PostgreSQL without TimescaleDB', () => {
    const schema = `kuzet_fusion_test_${process.pid}`;
    let server: ThrowawayPostgres;
    let admin: Sql;
    let sql: Sql;

    before(async () => {
      server = await startThrowawayPostgres();
      admin = postgres(server.url, { max: 1, onnotice: () => undefined });
      await admin.unsafe(`CREATE SCHEMA ${schema}`);
      sql = postgres(server.url, { max: 2, onnotice: () => undefined, connection: { search_path: schema } });
    });
    after(async () => {
      await sql?.end({ timeout: 1 });
      await admin?.end({ timeout: 1 });
      await server?.stop();
    });

    it('migrates to plain tables whose views give the same rows', async () => {
      assert.deepEqual(await migrate(sql, recordingLogger([])), {
        applied: [
          '001_detections.sql',
          '002_alarms.sql',
          '003_fusion.sql',
          '004_detection_keys.sql',
          '005_alarm_actions.sql',
        ],
        timescale: false,
      });
      const day = await scriptDay(sql);
      await assertViews(sql, day);
      const [policies] = await sql`SELECT kuzet_apply_storage_policies() AS n`;
      assert.equal(policies!.n, 0, 'policies are recorded but not installed without TimescaleDB');
      const [caggs] =
        await sql`SELECT count(*)::int AS n FROM pg_matviews WHERE matviewname IN ('occupancy_per_minute', 'attendance_daily', 'meals_daily')`;
      assert.equal(caggs!.n, 0);
    });
  });
});
