-- Operators' audit trail: who acknowledged an alarm (with their comment), who looked at its evidence, who
-- watched a camera live and for how long. Append-only, one row per action. Like 001, runs on PostgreSQL with
-- or without TimescaleDB.
CREATE TABLE IF NOT EXISTS alarm_actions (
  time      timestamptz NOT NULL,
  action_id uuid        NOT NULL, -- idempotency for at-least-once writes (ON CONFLICT DO NOTHING)
  alarm_id  uuid        NULL,     -- null for a live view opened without an alarm
  school_id text        NOT NULL,
  camera_id text        NOT NULL,
  action    text        NOT NULL, -- acknowledge | view-evidence | live-start | live-stop
  actor     text        NOT NULL, -- the token's name (a desk, an operator)
  role      text        NOT NULL, -- police | school-admin | city-operator
  comment   text        NULL,
  PRIMARY KEY (action_id, time)
);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    PERFORM create_hypertable('alarm_actions', by_range('time', INTERVAL '7 days'), if_not_exists => true);
  END IF;
END
$$;

-- An alarm's history (the console, an inquiry) and one school's actions over a window.
CREATE INDEX IF NOT EXISTS alarm_actions_alarm_idx ON alarm_actions (alarm_id, time);
CREATE INDEX IF NOT EXISTS alarm_actions_school_time_idx ON alarm_actions (school_id, time DESC);
