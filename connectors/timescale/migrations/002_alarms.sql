-- Alarms, append-only: one row per state change (open, confirmed, escalated, acknowledged, resolved), so the
-- whole history of an alarm stays for audit. alarms_current gives the latest state of each one.
-- Like 001, runs on PostgreSQL with or without TimescaleDB.
CREATE TABLE IF NOT EXISTS alarms (
  time            timestamptz NOT NULL, -- when the state changed
  alarm_id        uuid        NOT NULL,
  state           text        NOT NULL,
  kind            text        NOT NULL,
  severity        text        NOT NULL,
  school_id       text        NOT NULL,
  camera_id       text        NOT NULL,
  zone_id         text        NULL,
  track_ids       int[]       NOT NULL DEFAULT '{}',
  score           real        NOT NULL,
  frames          int         NOT NULL,
  cues            jsonb       NOT NULL DEFAULT '{}',
  evidence_seq    bigint      NOT NULL, -- evidence frame: <school_id>/<camera_id>/<evidence_seq>
  evidence_box    real[]      NULL,     -- [x1, y1, x2, y2] in source-frame pixels
  acknowledged_by text        NULL,
  -- Idempotency for at-least-once writes (the writer inserts ON CONFLICT DO NOTHING). TimescaleDB requires
  -- the partitioning column in every unique key, hence time here although (alarm_id, state) alone is unique.
  PRIMARY KEY (alarm_id, state, time)
);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    -- Alarms are sparse (a few per school per day): week-long chunks keep the chunk count small.
    PERFORM create_hypertable('alarms', by_range('time', INTERVAL '7 days'), if_not_exists => true);
  END IF;
END
$$;

-- Dashboards read one school's alarms over a recent window.
CREATE INDEX IF NOT EXISTS alarms_school_time_idx ON alarms (school_id, time DESC);

-- Latest state per alarm. Two changes at the same instant (e.g. opened and confirmed by one frame) are
-- ordered by the lifecycle.
CREATE OR REPLACE VIEW alarms_current AS
SELECT DISTINCT ON (alarm_id) *
FROM alarms
ORDER BY alarm_id, time DESC,
  array_position(ARRAY['open', 'confirmed', 'escalated', 'acknowledged', 'resolved'], state) DESC;
