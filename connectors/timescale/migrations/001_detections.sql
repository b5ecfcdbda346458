-- Detections, one row per detected object per sampled frame.
-- Runs on PostgreSQL with or without TimescaleDB: migrate.ts creates the extension when it can, and the
-- hypertable conversion below only happens when the extension is installed.
CREATE TABLE IF NOT EXISTS detections (
  time       timestamptz NOT NULL,
  school_id  text        NOT NULL,
  camera_id  text        NOT NULL,
  class      text        NOT NULL,
  score      real        NOT NULL,
  box        real[]      NOT NULL, -- [x1, y1, x2, y2] in source-frame pixels
  track_id   bigint      NULL,
  frame_seq  bigint      NOT NULL,
  frame_w    int,
  frame_h    int
);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    -- One-day chunks: a school day of a few hundred cameras is a few million rows, a comfortable chunk.
    PERFORM create_hypertable('detections', by_range('time', INTERVAL '1 day'), if_not_exists => true);
  END IF;
END
$$;

-- Dashboards and alarms read one camera (or school) over a recent window.
CREATE INDEX IF NOT EXISTS detections_school_camera_time_idx ON detections (school_id, camera_id, time DESC);
