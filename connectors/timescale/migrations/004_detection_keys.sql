-- Idempotent detection rows: the writer inserts ON CONFLICT DO NOTHING on (school_id, camera_id, frame_seq,
-- det_idx, time), so a batch sent twice (a lost commit reply, a spool replayed after a crash) is stored once.
-- det_idx is the index of the detection within its frame. frame_seq alone restarts when a camera reconnects;
-- time tells those apart, and TimescaleDB wants the partitioning column in every unique index anyway.
-- Like 001, runs on PostgreSQL with or without TimescaleDB.
ALTER TABLE detections ADD COLUMN IF NOT EXISTS det_idx smallint NOT NULL DEFAULT 0;

-- Rows stored before this migration all have det_idx 0, so frames with several detections would collide:
-- number them within their frame first (only rows after the first of a frame change).
UPDATE detections d
SET det_idx = n.idx
FROM (
  SELECT tableoid AS tbl, ctid AS row_id,
         row_number() OVER (PARTITION BY school_id, camera_id, frame_seq, time ORDER BY tableoid, ctid) - 1 AS idx
  FROM detections
) n
WHERE n.idx > 0 AND d.tableoid = n.tbl AND d.ctid = n.row_id;

CREATE UNIQUE INDEX IF NOT EXISTS detections_key_idx
  ON detections (school_id, camera_id, frame_seq, det_idx, time);
