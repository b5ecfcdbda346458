/**
 * Fault test of the writer's spool: the database stops under load (60 s by default; KUZET_FAULT_SECONDS
 * shortens it) and comes back, and a writer is killed with rows spooled: every row arrives exactly once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { Sql } from 'postgres';
import { Metrics } from '../../engine/metrics.js';
import { recordingLogger, type LogLine } from '../../engine/test/helpers.js';
import type { FrameDetections } from '../../engine/types.js';
import { connectTimescale } from './connect.js';
import { startEmbeddedTimescale, type EmbeddedTimescale } from './embedded/embedded.js';
import { migrate } from './migrate.js';
import { Spool } from './spool.js';
import { DetectionWriter, type DetectionRow } from './writer.js';

const FAULT_S = Number(process.env.KUZET_FAULT_SECONDS ?? 60);
const BEFORE_S = 10;
const AFTER_S = 10;
const FRAMES_PER_S = 200;
const CAMERAS = 4;
const DETS_PER_FRAME = 3;
const T0 = Date.UTC(2026, 0, 1, 8);

function frame(cameraId: string, seq: number, dets: number): FrameDetections {
  return {
    schoolId: 'school-1',
    cameraId,
    seq,
    captureTimeMs: T0 + seq * 20,
    width: 1280,
    height: 720,
    detections: Array.from({ length: dets }, (_, i) => ({
      classId: 0,
      className: 'person',
      score: 0.5 + i / 10,
      x1: i,
      y1: i,
      x2: 100 + i,
      y2: 200 + i,
      trackId: i,
    })),
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

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function droppedTotal(metrics: Metrics): Promise<number> {
  const { values } = await metrics.dropped.get();
  return values.reduce((n, v) => n + v.value, 0);
}

async function counts(sql: Sql, cameraPrefix: string): Promise<{ n: number; distinct: number }> {
  const [r] = await sql`
    SELECT count(*)::int AS n,
           count(DISTINCT (school_id, camera_id, frame_seq, det_idx, time))::int AS distinct
    FROM detections WHERE camera_id LIKE ${cameraPrefix + '%'}`;
  return { n: r!.n as number, distinct: r!.distinct as number };
}

describe('writer spool under faults', { timeout: (FAULT_S + BEFORE_S + AFTER_S + 150) * 1000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kuzet-spool-fault-'));
  const dataDir = join(tmp, 'pgdata');
  let port = 0;
  let db: EmbeddedTimescale | null = null;
  let reader: Sql | null = null;
  const clients: Sql[] = [];
  const client = (url: string) => {
    const sql = connectTimescale(url, recordingLogger([]), { connectTimeoutS: 2 });
    clients.push(sql);
    return sql;
  };

  before(async () => {
    port = await freePort();
    db = await startEmbeddedTimescale({ port, dataDir, log: recordingLogger([]) });
    reader = client(db.url);
    await migrate(reader, recordingLogger([]));
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.end({ timeout: 1 })));
    await db?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it(`loses and duplicates nothing when the database stops for ${FAULT_S} s under load`, async () => {
    assert.ok(db && reader);
    const metrics = new Metrics(false);
    const lines: LogLine[] = [];
    const writer = new DetectionWriter(client(db.url), {
      spoolDir: join(tmp, 'spool-fault'),
      // Smaller than an outage's worth of rows (60 s x 600 rows/s): without the spool they would be dropped.
      maxQueueRows: 20_000,
      retryMaxMs: 1000,
      metrics,
      log: recordingLogger(lines),
    });
    writer.start();

    let enqueued = 0;
    let frames = 0;
    const started = performance.now();
    // 200 frames/s over 4 cameras, caught up every 20 ms.
    const producer = setInterval(() => {
      const due = Math.floor(((performance.now() - started) / 1000) * FRAMES_PER_S);
      for (; frames < due; frames++) {
        const dets = 1 + (frames % DETS_PER_FRAME);
        writer.enqueue(frame(`fault-cam-${frames % CAMERAS}`, Math.floor(frames / CAMERAS), dets));
        enqueued += dets;
      }
    }, 20);

    try {
      await sleep(BEFORE_S * 1000);
      const tStop = performance.now();
      await db.stop();
      db = null;
      const stopMs = performance.now() - tStop;
      let maxSpooled = 0;
      const outageEnd = performance.now() + FAULT_S * 1000;
      while (performance.now() < outageEnd) {
        maxSpooled = Math.max(maxSpooled, writer.spooledRows);
        await sleep(200);
      }
      const enqueuedInOutage = enqueued;
      const tStart = performance.now();
      db = await startEmbeddedTimescale({ port, dataDir, log: recordingLogger([]) });
      const restartMs = performance.now() - tStart;
      const tBack = performance.now();
      await until(() => writer.spooledRows === 0, 60_000, 'the spool to replay');
      const replayMs = performance.now() - tBack;
      await sleep(AFTER_S * 1000);
      clearInterval(producer);
      await until(
        async () => {
          await writer.flush();
          return writer.pendingRows === 0;
        },
        30_000,
        'the writer to drain',
      );

      const got = await counts(reader, 'fault-cam-');
      console.log(
        JSON.stringify({
          faultSeconds: FAULT_S,
          frames,
          rowsEnqueued: enqueued,
          rowsStored: got.n,
          distinctKeys: got.distinct,
          rowsByOutageEnd: enqueuedInOutage,
          maxSpooledRows: maxSpooled,
          dbStopMs: Math.round(stopMs),
          dbRestartMs: Math.round(restartMs),
          spoolReplayMs: Math.round(replayMs),
        }),
      );
      assert.equal(got.n, enqueued, 'every row stored');
      assert.equal(got.distinct, got.n, 'no duplicates');
      assert.equal(await droppedTotal(metrics), 0, 'nothing dropped');
      if (FAULT_S * 1000 > 5000 + 1000) assert.ok(maxSpooled > 0, 'rows went to the spool');
      assert.ok(lines.some((l) => l.msg === 'Database writes recovered'));
    } finally {
      clearInterval(producer);
      await writer.stop();
    }
  });

  it('replays the spool of a killed writer exactly once, even after a crash between insert and commit', async () => {
    assert.ok(db && reader);
    const spoolDir = join(tmp, 'spool-crash');
    const deadUrl = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    const FRAMES = 3000;
    // A writer in its own process, spooling because its database is unreachable; killed with SIGKILL.
    const script = `
      import { DetectionWriter } from ${JSON.stringify(new URL('./writer.js', import.meta.url).href)};
      import { connectTimescale } from ${JSON.stringify(new URL('./connect.js', import.meta.url).href)};
      const quiet = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };
      const w = new DetectionWriter(connectTimescale(${JSON.stringify(deadUrl)}, quiet, { connectTimeoutS: 1 }), {
        spoolDir: ${JSON.stringify(spoolDir)}, spoolAfterMs: 0, flushIntervalMs: 50, retryMinMs: 50, log: quiet,
      });
      w.start();
      for (let seq = 0; seq < ${FRAMES}; seq++)
        w.enqueue({ schoolId: 'school-1', cameraId: 'crash-cam', seq, captureTimeMs: ${T0} + seq * 40,
          width: 640, height: 480, detections: [0, 1].map((i) => ({ classId: 0, className: 'person',
          score: 0.9, x1: i, y1: i, x2: 10 + i, y2: 10 + i, trackId: null })) });
      const t = setInterval(() => { if (w.spooledRows === ${FRAMES * 2}) { clearInterval(t); console.log('SPOOLED'); } }, 20);
      setTimeout(() => process.exit(2), 60000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    const spooled = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (l) => l === 'SPOOLED' && resolve());
      void exited.then(() => reject(new Error('the writer process exited before spooling')));
    });
    await spooled;
    child.kill('SIGKILL');
    await exited;

    // A crash between INSERT and commit: the first spooled batch is in the table, the cursor does not know.
    const peek = new Spool<DetectionRow>(spoolDir);
    assert.equal(peek.pendingRows, FRAMES * 2);
    const first = await peek.replay(1000).next();
    assert.ok(!first.done);
    const pre = first.value.rows;
    await reader`INSERT INTO detections ${reader(pre as unknown as Array<Record<string, unknown>>, 'time', 'school_id', 'camera_id', 'class', 'score', 'box', 'track_id', 'frame_seq', 'frame_w', 'frame_h', 'det_idx')}`;
    peek.close();

    const metrics = new Metrics(false);
    const t0 = performance.now();
    const writer = new DetectionWriter(client(db.url), { spoolDir, metrics, log: recordingLogger([]) });
    assert.equal(writer.spooledRows, FRAMES * 2);
    writer.start();
    await until(() => writer.pendingRows === 0, 60_000, 'the spool to replay');
    const replayMs = performance.now() - t0;
    await writer.stop();

    const got = await counts(reader, 'crash-cam');
    console.log(
      JSON.stringify({
        crashCase: true,
        rowsSpooled: FRAMES * 2,
        preInserted: pre.length,
        ...got,
        replayMs: Math.round(replayMs),
      }),
    );
    assert.deepEqual(got, { n: FRAMES * 2, distinct: FRAMES * 2 });
    assert.equal(await droppedTotal(metrics), 0);
    const { values } = await metrics.rowsWritten.get();
    assert.equal(values.find((v) => v.labels.table === 'detections')?.value, FRAMES * 2 - pre.length);
  });
});
