-- Fusion model: scanner and sensor events, presence, camera health, findings, the timetable the views need,
-- and the administrators' views (presence now, lateness by class and shift, canteen reconciliation).
-- Like 001 and 002, runs on PostgreSQL with or without TimescaleDB: hypertables, continuous aggregates and
-- compression/retention policies only happen when the extension is installed; the plain views work on both.
-- Local days and times are in each school's time zone (school_time_zones; Asia/Almaty, the config default,
-- for a school missing there).

-- Every validated scanner event (pipelines/fusion/types.ts), as received. (school_id, kind, event_id) is the
-- producer's idempotency key; TimescaleDB wants the partitioning column in every unique key, hence time.
CREATE TABLE IF NOT EXISTS scanner_events (
  time        timestamptz NOT NULL,
  school_id   text        NOT NULL,
  kind        text        NOT NULL, -- turnstile | palm | panic | air | fire
  event_id    text        NOT NULL,
  person      text        NULL,     -- pseudonym (turnstile, palm)
  role        text        NULL,     -- pupil | staff (turnstile)
  class       text        NULL,
  direction   text        NULL,     -- in | out (turnstile)
  gate        text        NULL,
  room        text        NULL,     -- panic, air, fire
  meal_window text        NULL,     -- palm: meal window id from the school's config
  payload     jsonb       NOT NULL DEFAULT '{}',
  PRIMARY KEY (school_id, kind, event_id, time)
);

-- One row per turnstile passage.
CREATE TABLE IF NOT EXISTS presence (
  time      timestamptz NOT NULL,
  school_id text        NOT NULL,
  person    text        NOT NULL,
  role      text        NOT NULL,
  class     text        NULL,
  direction text        NOT NULL, -- in | out
  gate      text        NOT NULL,
  PRIMARY KEY (school_id, person, time)
);

-- Camera health samples (online, degraded, offline…) with the stream's vital signs.
CREATE TABLE IF NOT EXISTS camera_health (
  time         timestamptz NOT NULL,
  school_id    text        NOT NULL,
  camera_id    text        NOT NULL,
  state        text        NOT NULL,
  fps          real        NULL,
  loss_ratio   real        NULL,
  bitrate_kbps real        NULL,
  PRIMARY KEY (school_id, camera_id, time)
);

-- Fusion findings (pipelines/fusion/types.ts Finding) for administrators to review.
CREATE TABLE IF NOT EXISTS findings (
  time      timestamptz NOT NULL,
  school_id text        NOT NULL,
  kind      text        NOT NULL,
  subject   text        NOT NULL,
  day       date        NOT NULL,
  "values"  jsonb       NOT NULL DEFAULT '{}',
  PRIMARY KEY (school_id, kind, subject, day, time)
);

-- People counted entering the canteen by its cameras, per meal window (filled by the engine).
CREATE TABLE IF NOT EXISTS canteen_counts (
  time      timestamptz NOT NULL,
  school_id text        NOT NULL,
  window_id text        NOT NULL,
  camera_id text        NOT NULL,
  entered   int         NOT NULL,
  PRIMARY KEY (school_id, window_id, camera_id, time)
);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    -- A large city's turnstiles and palm scanners make about a million events a day.
    PERFORM create_hypertable('scanner_events', by_range('time', INTERVAL '1 day'), if_not_exists => true);
    PERFORM create_hypertable('presence', by_range('time', INTERVAL '7 days'), if_not_exists => true);
    PERFORM create_hypertable('camera_health', by_range('time', INTERVAL '1 day'), if_not_exists => true);
    -- Findings are a handful per school per day.
    PERFORM create_hypertable('findings', by_range('time', INTERVAL '30 days'), if_not_exists => true);
    PERFORM create_hypertable('canteen_counts', by_range('time', INTERVAL '7 days'), if_not_exists => true);
  END IF;
END
$$;

CREATE INDEX IF NOT EXISTS scanner_events_school_kind_time_idx ON scanner_events (school_id, kind, time DESC);
CREATE INDEX IF NOT EXISTS presence_school_time_idx ON presence (school_id, time DESC);
CREATE INDEX IF NOT EXISTS findings_school_day_idx ON findings (school_id, day DESC);

-- The timetable, filled by the engine from config (schools[].timeZone, shifts, mealWindows) at start.
CREATE TABLE IF NOT EXISTS school_time_zones (
  school_id text PRIMARY KEY,
  time_zone text NOT NULL
);

CREATE TABLE IF NOT EXISTS school_shifts (
  school_id     text NOT NULL,
  shift_id      text NOT NULL,
  start_time    time NOT NULL, -- local
  grace_minutes int  NOT NULL DEFAULT 5,
  PRIMARY KEY (school_id, shift_id)
);

-- Classes listed under a shift; an unlisted class belongs to the school's earliest shift.
CREATE TABLE IF NOT EXISTS class_shifts (
  school_id text NOT NULL,
  class     text NOT NULL,
  shift_id  text NOT NULL,
  PRIMARY KEY (school_id, class)
);

CREATE TABLE IF NOT EXISTS meal_windows (
  school_id text NOT NULL,
  window_id text NOT NULL,
  from_time time NOT NULL, -- local
  to_time   time NOT NULL,
  PRIMARY KEY (school_id, window_id)
);

-- Per school, role and class: how many people are in the building now, i.e. whose latest passage of the
-- local day is 'in'. A group whose people have all left today shows present = 0.
CREATE OR REPLACE VIEW presence_now AS
WITH latest AS (
  SELECT DISTINCT ON (p.school_id, p.person) p.school_id, p.role, p.class, p.direction
  FROM presence p
  LEFT JOIN school_time_zones z ON z.school_id = p.school_id
  -- A local day is at most 25 hours long: the constant bound lets the planner skip old chunks.
  WHERE p.time > now() - INTERVAL '26 hours'
    AND p.time >= date_trunc('day', now() AT TIME ZONE coalesce(z.time_zone, 'Asia/Almaty'))
                  AT TIME ZONE coalesce(z.time_zone, 'Asia/Almaty')
  ORDER BY p.school_id, p.person, p.time DESC
)
SELECT school_id, role, class, (count(*) FILTER (WHERE direction = 'in'))::int AS present
FROM latest
GROUP BY school_id, role, class;

-- Per school, local day, shift, class and pupil: the first 'in' passage of the day against the shift's start.
-- minutes_late counts whole minutes past the start (0 when on time); late means after start + grace.
CREATE OR REPLACE VIEW lateness_daily AS
WITH first_in AS (
  SELECT DISTINCT ON (p.school_id, local.day, p.person)
    p.school_id, local.day, p.person, p.class, p.time AS first_in, local.tz
  FROM presence p
  LEFT JOIN school_time_zones z ON z.school_id = p.school_id
  CROSS JOIN LATERAL (
    SELECT coalesce(z.time_zone, 'Asia/Almaty') AS tz,
           (p.time AT TIME ZONE coalesce(z.time_zone, 'Asia/Almaty'))::date AS day
  ) local
  WHERE p.direction = 'in' AND p.role = 'pupil'
  ORDER BY p.school_id, local.day, p.person, p.time
),
timed AS (
  SELECT f.school_id, f.day, s.shift_id, f.class, f.person, f.first_in,
         (f.day + s.start_time) AT TIME ZONE f.tz AS shift_start, s.grace_minutes
  FROM first_in f
  LEFT JOIN class_shifts cs ON cs.school_id = f.school_id AND cs.class = f.class
  JOIN school_shifts s ON s.school_id = f.school_id
   AND s.shift_id = coalesce(cs.shift_id, (
         SELECT s2.shift_id FROM school_shifts s2
         WHERE s2.school_id = f.school_id
         ORDER BY s2.start_time, s2.shift_id
         LIMIT 1))
)
SELECT school_id, day, shift_id, class, person, first_in, shift_start, grace_minutes,
       greatest(0, floor(extract(epoch FROM first_in - shift_start) / 60))::int AS minutes_late,
       first_in > shift_start + make_interval(mins => grace_minutes) AS late
FROM timed;

-- Per school, local day, shift and class: pupils who arrived, how many of them late, and the share.
CREATE OR REPLACE VIEW lateness_by_class AS
SELECT school_id, day, shift_id, class,
       count(*)::int AS pupils,
       (count(*) FILTER (WHERE late))::int AS late,
       (count(*) FILTER (WHERE late))::float8 / count(*) AS late_share
FROM lateness_daily
GROUP BY school_id, day, shift_id, class;

-- Per school, local day and meal window: meals confirmed by palm scans against people the canteen cameras
-- counted entering. gap = scanned - counted (positive: more meals than eaters, "phantom portions");
-- gap_share = gap / scanned (NULL when nothing was scanned).
CREATE OR REPLACE VIEW canteen_reconciliation AS
WITH scanned AS (
  SELECT e.school_id, (e.time AT TIME ZONE coalesce(z.time_zone, 'Asia/Almaty'))::date AS day,
         e.meal_window AS window_id, count(*)::int AS scanned
  FROM scanner_events e
  LEFT JOIN school_time_zones z ON z.school_id = e.school_id
  WHERE e.kind = 'palm' AND e.meal_window IS NOT NULL
  GROUP BY 1, 2, 3
),
counted AS (
  SELECT c.school_id, (c.time AT TIME ZONE coalesce(z.time_zone, 'Asia/Almaty'))::date AS day,
         c.window_id, sum(c.entered)::int AS counted
  FROM canteen_counts c
  LEFT JOIN school_time_zones z ON z.school_id = c.school_id
  GROUP BY 1, 2, 3
),
days AS (
  SELECT school_id, day, window_id FROM scanned
  UNION
  SELECT school_id, day, window_id FROM counted
)
SELECT d.school_id, d.day, d.window_id, w.from_time, w.to_time,
       coalesce(s.scanned, 0) AS scanned,
       coalesce(c.counted, 0) AS counted,
       coalesce(s.scanned, 0) - coalesce(c.counted, 0) AS gap,
       (coalesce(s.scanned, 0) - coalesce(c.counted, 0))::float8 / nullif(coalesce(s.scanned, 0), 0) AS gap_share
FROM days d
JOIN meal_windows w ON w.school_id = d.school_id AND w.window_id = d.window_id
LEFT JOIN scanned s ON s.school_id = d.school_id AND s.day = d.day AND s.window_id = d.window_id
LEFT JOIN counted c ON c.school_id = d.school_id AND c.day = d.day AND c.window_id = d.window_id;

-- Storage policies by name, so that config can alter them later: update a row, then
-- SELECT kuzet_apply_storage_policies(). Without TimescaleDB they are recorded and do nothing.
CREATE TABLE IF NOT EXISTS kuzet_storage_policies (
  name        text     PRIMARY KEY,
  hypertable  text     NOT NULL,
  policy      text     NOT NULL CHECK (policy IN ('compression', 'retention')),
  after       interval NOT NULL,
  UNIQUE (hypertable, policy)
);

INSERT INTO kuzet_storage_policies (name, hypertable, policy, after) VALUES
  ('detections_compress', 'detections', 'compression', INTERVAL '7 days'),
  ('detections_retain', 'detections', 'retention', INTERVAL '90 days'),
  ('scanner_events_retain', 'scanner_events', 'retention', INTERVAL '400 days')
ON CONFLICT (name) DO NOTHING;

-- (Re)installs every policy in kuzet_storage_policies; returns how many it installed.
CREATE OR REPLACE FUNCTION kuzet_apply_storage_policies() RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  p record;
  n int := 0;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    RETURN 0;
  END IF;
  FOR p IN SELECT * FROM kuzet_storage_policies ORDER BY name LOOP
    IF p.policy = 'compression' THEN
      PERFORM remove_compression_policy(p.hypertable::regclass, if_exists => true);
      PERFORM add_compression_policy(p.hypertable::regclass, p.after);
    ELSE
      PERFORM remove_retention_policy(p.hypertable::regclass, if_exists => true);
      PERFORM add_retention_policy(p.hypertable::regclass, p.after);
    END IF;
    n := n + 1;
  END LOOP;
  RETURN n;
END
$$;

-- Continuous aggregates, TimescaleDB only. Created WITH NO DATA, which TimescaleDB allows inside the
-- migration's transaction; refresh policies fill them. Days are bucketed in Asia/Almaty (all of Kazakhstan
-- is UTC+5): a continuous aggregate cannot take a per-school zone; the plain views above do.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    -- Mean persons per frame per camera per minute (frames with no person count as frames).
    EXECUTE $q$
      CREATE MATERIALIZED VIEW IF NOT EXISTS occupancy_per_minute
      WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket(INTERVAL '1 minute', time) AS minute, school_id, camera_id,
             count(*) FILTER (WHERE class = 'person') AS persons,
             count(DISTINCT frame_seq) AS frames,
             (count(*) FILTER (WHERE class = 'person'))::float8 / count(DISTINCT frame_seq) AS mean_persons
      FROM detections
      GROUP BY 1, 2, 3
      WITH NO DATA
    $q$;
    -- Pupils who came in, per class per day.
    EXECUTE $q$
      CREATE MATERIALIZED VIEW IF NOT EXISTS attendance_daily
      WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket(INTERVAL '1 day', time, 'Asia/Almaty') AS day, school_id, class,
             count(DISTINCT person) AS pupils
      FROM presence
      WHERE direction = 'in' AND role = 'pupil'
      GROUP BY 1, 2, 3
      WITH NO DATA
    $q$;
    -- Meals confirmed by palm scans, per meal window per day.
    EXECUTE $q$
      CREATE MATERIALIZED VIEW IF NOT EXISTS meals_daily
      WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket(INTERVAL '1 day', time, 'Asia/Almaty') AS day, school_id, meal_window,
             count(*) AS meals
      FROM scanner_events
      WHERE kind = 'palm'
      GROUP BY 1, 2, 3
      WITH NO DATA
    $q$;
    PERFORM add_continuous_aggregate_policy('occupancy_per_minute',
      start_offset => INTERVAL '1 hour', end_offset => INTERVAL '1 minute',
      schedule_interval => INTERVAL '1 minute', if_not_exists => true);
    PERFORM add_continuous_aggregate_policy('attendance_daily',
      start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
      schedule_interval => INTERVAL '15 minutes', if_not_exists => true);
    PERFORM add_continuous_aggregate_policy('meals_daily',
      start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
      schedule_interval => INTERVAL '15 minutes', if_not_exists => true);

    -- Compression needs settings before a policy: one school's camera per segment, newest first.
    ALTER TABLE detections SET (
      timescaledb.compress,
      timescaledb.compress_segmentby = 'school_id, camera_id',
      timescaledb.compress_orderby = 'time DESC'
    );
  END IF;
END
$$;

SELECT kuzet_apply_storage_policies();
