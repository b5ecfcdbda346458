import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import postgres, { type Sql } from 'postgres';
import { Metrics } from '../../engine/metrics.js';
import { recordingLogger, type LogLine } from '../../engine/test/helpers.js';
import type { FrameDetections } from '../../engine/types.js';
import { connectTimescale } from './connect.js';
import { startEmbeddedTimescale, type EmbeddedTimescale } from './embedded/embedded.js';
import { migrate } from './migrate.js';
import { DetectionWriter } from './writer.js';

/** One detection per frame, so frame_seq identifies a row and duplicates show. */
function frame(cameraId: string, seq: number): FrameDetections {
  return {
    schoolId: 'school-1',
    cameraId,
    seq,
    captureTimeMs: Date.UTC(2026, 0, 1) + seq * 100,
    width: 1920,
    height: 1080,
    detections: [
      {
        classId: 0,
        className: 'person',
        score: 0.75,
        x1: 10,
        y1: 20,
        x2: 110.5,
        y2: 220.25,
        trackId: seq % 7 === 0 ? null : seq,
      },
    ],
  };
}

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function counterValue(
  metrics: Metrics,
  name: 'dropped' | 'rowsWritten' | 'errors',
  labels: Record<string, string>,
): Promise<number> {
  const { values } = await metrics[name].get();
  return values
    .filter((v) =>
      Object.entries(labels).every(
        ([k, x]) => (v.labels as Record<string, string | number | undefined>)[k] === x,
      ),
    )
    .reduce((n, v) => n + v.value, 0);
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('DetectionWriter', { timeout: 60_000 }, () => {
  let db: EmbeddedTimescale | null = null;
  let reader: Sql | null = null;
  const clients: Sql[] = [];
  const client = (url: string) => {
    const sql = connectTimescale(url, recordingLogger([]), { connectTimeoutS: 2 });
    clients.push(sql);
    return sql;
  };

  after(async () => {
    await Promise.all(clients.map((c) => c.end({ timeout: 1 })));
    await reader?.end({ timeout: 1 });
    await db?.stop();
  });

  it('keeps rows while the database is absent and delivers them once, when it appears', async () => {
    const port = await freePort();
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const metrics = new Metrics(false);
    const lines: LogLine[] = [];
    const writer = new DetectionWriter(client(url), {
      flushIntervalMs: 100,
      retryMinMs: 100,
      retryMaxMs: 500,
      metrics,
      log: recordingLogger(lines),
    });
    writer.start();
    for (let i = 0; i < 1200; i++) writer.enqueue(frame('cam-late', i));
    await until(async () => (await counterValue(metrics, 'errors', {})) >= 3, 10_000, 'failed attempts');
    assert.equal(writer.pendingRows, 1200);
    assert.equal(writer.databaseDown, true);

    db = await startEmbeddedTimescale({ port, dataDir: 'memory', log: recordingLogger([]) });
    reader = postgres(db.url, { max: 1, onnotice: () => undefined });
    await migrate(reader, recordingLogger([]));
    await until(() => writer.pendingRows === 0, 20_000, 'the queue to drain');

    const [r] =
      await reader`SELECT count(*)::int AS n, count(DISTINCT frame_seq)::int AS distinct_seq FROM detections WHERE camera_id = 'cam-late'`;
    assert.deepEqual({ ...r }, { n: 1200, distinct_seq: 1200 });
    assert.equal(await counterValue(metrics, 'rowsWritten', { table: 'detections' }), 1200);
    // One line when it went down, one when it came back; not one per retry.
    assert.deepEqual(
      lines.filter((l) => l.level !== 'debug').map((l) => [l.level, l.msg]),
      [
        ['warn', 'Database write failed; buffering detections and retrying'],
        ['info', 'Database writes recovered'],
      ],
    );
    await writer.stop();
  });

  it('writes 2,500 rows in at least three statements, every field intact', async () => {
    assert.ok(db && reader, 'needs the server of the previous test');
    const metrics = new Metrics(false);
    const writer = new DetectionWriter(client(db.url), { metrics, log: recordingLogger([]) });
    writer.start();
    for (let i = 0; i < 2500; i++) writer.enqueue(frame('cam-bulk', i));
    await writer.flush();
    assert.equal(writer.pendingRows, 0);
    const { values } = await metrics.stageSeconds.get();
    const statements =
      values.find((v) => v.metricName === 'kuzet_stage_seconds_count' && v.labels.stage === 'store')?.value ??
      0;
    assert.ok(statements >= 3, `only ${statements} statements`);
    assert.equal(await counterValue(metrics, 'rowsWritten', { table: 'detections' }), 2500);

    const [r] =
      await reader`SELECT count(*)::int AS n, count(DISTINCT frame_seq)::int AS distinct_seq FROM detections WHERE camera_id = 'cam-bulk'`;
    assert.deepEqual({ ...r }, { n: 2500, distinct_seq: 2500 });
    const [row] = await reader`SELECT * FROM detections WHERE camera_id = 'cam-bulk' AND frame_seq = 8`;
    assert.deepEqual(
      { ...row },
      {
        time: new Date(Date.UTC(2026, 0, 1) + 800),
        school_id: 'school-1',
        camera_id: 'cam-bulk',
        class: 'person',
        score: 0.75,
        box: [10, 20, 110.5, 220.25],
        track_id: '8',
        frame_seq: '8',
        frame_w: 1920,
        frame_h: 1080,
        det_idx: 0,
      },
    );
    const [nullTrack] =
      await reader`SELECT track_id FROM detections WHERE camera_id = 'cam-bulk' AND frame_seq = 7`;
    assert.equal(nullTrack!.track_id, null);
    await writer.stop();
  });

  it('drops the oldest rows when the queue is full, and counts them', async () => {
    assert.ok(db && reader, 'needs the server of the first test');
    const metrics = new Metrics(false);
    const writer = new DetectionWriter(client(db.url), {
      maxQueueRows: 1000,
      maxBatchRows: 250,
      metrics,
      log: recordingLogger([]),
    });
    // Not started: the queue only fills, as it does while the database is down.
    for (let i = 0; i < 1500; i++) writer.enqueue(frame('cam-full', i));
    assert.equal(writer.pendingRows, 1000);
    assert.equal(await counterValue(metrics, 'dropped', { stage: 'store', reason: 'queue_full' }), 500);
    await writer.flush();
    const [r] =
      await reader`SELECT count(*)::int AS n, min(frame_seq)::int AS first, max(frame_seq)::int AS last FROM detections WHERE camera_id = 'cam-full'`;
    assert.deepEqual({ ...r }, { n: 1000, first: 500, last: 1499 });
    await writer.stop();
  });

  it('never throws while the database is dead, and gives up at the stop deadline', async () => {
    const metrics = new Metrics(false);
    const writer = new DetectionWriter(client(`postgres://postgres@127.0.0.1:${await freePort()}/postgres`), {
      flushIntervalMs: 50,
      retryMinMs: 50,
      metrics,
      log: recordingLogger([]),
    });
    writer.start();
    for (let i = 0; i < 10; i++) writer.enqueue(frame('cam-dead', i));
    await writer.flush();
    assert.equal(writer.pendingRows, 10);
    const t0 = performance.now();
    await writer.stop(300);
    assert.ok(performance.now() - t0 < 2000);
    assert.equal(await counterValue(metrics, 'dropped', { stage: 'store', reason: 'shutdown' }), 10);
    writer.enqueue(frame('cam-dead', 11));
    assert.equal(writer.pendingRows, 0);
  });
});
