import type { Sql } from 'postgres';
import { DetectionWriter } from '../../connectors/timescale/index.js';
import type { Logger } from '../../engine/log.js';
import type { FrameDetections } from '../../engine/types.js';

const CLASSES = ['person', 'backpack', 'bicycle', 'car'];
/** A school morning, so every row of a run lands in one one-day chunk of the hypertable. */
const BASE_TIME_MS = Date.UTC(2025, 0, 6, 7, 30);

/** `frames` frames of `perFrame` detections each, on camera `cameraId` (which tells runs apart when counting). */
export function makeFrames(cameraId: string, frames: number, perFrame: number): FrameDetections[] {
  return Array.from({ length: frames }, (_, seq) => ({
    schoolId: 'bench-school',
    cameraId,
    seq,
    captureTimeMs: BASE_TIME_MS + seq * 200,
    width: 1920,
    height: 1080,
    detections: Array.from({ length: perFrame }, (_, i) => {
      const x = (i * 97 + seq) % 1800;
      const y = (i * 53 + seq) % 1000;
      return {
        classId: i % CLASSES.length,
        className: CLASSES[i % CLASSES.length]!,
        score: 0.5 + ((i * 7 + seq) % 50) / 100,
        x1: x,
        y1: y,
        x2: x + 80,
        y2: y + 120,
        trackId: i % 3 === 0 ? null : seq * perFrame + i,
      };
    }),
  }));
}

export function rowCount(frames: readonly FrameDetections[]): number {
  return frames.reduce((n, f) => n + f.detections.length, 0);
}

async function storedRows(sql: Sql, cameraId: string): Promise<number> {
  const [r] = await sql<Array<{ n: string }>>`
    SELECT count(*) AS n FROM detections WHERE school_id = 'bench-school' AND camera_id = ${cameraId}`;
  return Number(r?.n ?? 0);
}

async function expectStored(sql: Sql, cameraId: string, expected: number, side: string): Promise<void> {
  const n = await storedRows(sql, cameraId);
  if (n !== expected) throw new Error(`${side}: ${n} rows stored for ${cameraId}, expected ${expected}`);
}

/** Empties detections so each side starts from the same table size (TRUNCATE works on hypertables too). */
export async function emptyTable(sql: Sql): Promise<void> {
  await sql`TRUNCATE detections`;
}

/**
 * Kuzet's sink: DetectionWriter with its default batch size, every frame enqueued at once; timed from the
 * first enqueue until flush() has confirmed the last batch. Returns rows/s.
 */
export async function kuzetRowsPerSec(
  sql: Sql,
  frames: readonly FrameDetections[],
  log: Logger,
): Promise<number> {
  const rows = rowCount(frames);
  const writer = new DetectionWriter(sql, {
    // Room for the whole run: the bench measures writing, not dropping.
    maxQueueRows: Math.max(100_000, rows),
    log,
  });
  writer.start();
  try {
    const t0 = performance.now();
    for (const frame of frames) writer.enqueue(frame);
    await writer.flush();
    const elapsed = performance.now() - t0;
    if (writer.pendingRows !== 0)
      throw new Error(`DetectionWriter left ${writer.pendingRows} rows unwritten (see its log)`);
    await expectStored(sql, frames[0]!.cameraId, rows, 'Kuzet');
    return (rows * 1000) / elapsed;
  } finally {
    await writer.stop();
  }
}

/** Baseline: one `INSERT … VALUES` per row through postgres.js, each awaited before the next. Returns rows/s. */
export async function baselineRowsPerSec(sql: Sql, frames: readonly FrameDetections[]): Promise<number> {
  const rows = rowCount(frames);
  const t0 = performance.now();
  for (const f of frames) {
    const time = new Date(f.captureTimeMs);
    for (const d of f.detections) {
      await sql`
        INSERT INTO detections (time, school_id, camera_id, class, score, box, track_id, frame_seq, frame_w, frame_h)
        VALUES (${time}, ${f.schoolId}, ${f.cameraId}, ${d.className}, ${d.score}, ${[d.x1, d.y1, d.x2, d.y2]},
                ${d.trackId}, ${f.seq}, ${f.width}, ${f.height})`;
    }
  }
  const elapsed = performance.now() - t0;
  await expectStored(sql, frames[0]!.cameraId, rows, 'baseline');
  return (rows * 1000) / elapsed;
}
