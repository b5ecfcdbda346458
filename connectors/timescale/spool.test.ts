import assert from 'node:assert/strict';
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Spool, type SpoolBatch } from './spool.js';

interface R {
  time: Date;
  n: number;
  tag: string;
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kuzet-spool-'));
  dirs.push(d);
  return d;
}

function rows(from: number, count: number): R[] {
  return Array.from({ length: count }, (_, i) => ({
    time: new Date(Date.UTC(2026, 0, 1) + (from + i) * 10),
    n: from + i,
    tag: `row-${from + i}`,
  }));
}

async function drain(spool: Spool<R>, maxRows?: number, commit = true): Promise<Array<SpoolBatch<R>>> {
  const out: Array<SpoolBatch<R>> = [];
  for await (const b of spool.replay(maxRows)) {
    out.push(b);
    if (commit) spool.commit(b.position);
  }
  return out;
}

const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.seg'));

describe('Spool', () => {
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('replays appended rows in order, in batches of at most maxRows, then deletes them', async () => {
    const dir = tempDir();
    const spool = new Spool<R>(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 50; i++) assert.equal(spool.append(rows(i * 20, 20)), 0);
    assert.equal(spool.pendingRows, 1000);
    assert.ok(segments(dir).length > 2, 'rolls over to new segments');
    const batches = await drain(spool, 100);
    assert.ok(batches.every((b) => b.rows.length <= 100));
    const all = batches.flatMap((b) => b.rows);
    assert.deepEqual(
      all.map((r) => r.n),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    assert.ok(all[7]!.time instanceof Date);
    assert.deepEqual(all[7], rows(7, 1)[0]);
    assert.equal(spool.pendingRows, 0);
    assert.deepEqual(segments(dir), [], 'fully replayed segments are deleted');
    // Appends after a full replay start a new segment and are replayed on their own.
    spool.append(rows(1000, 3));
    assert.deepEqual(
      (await drain(spool)).flatMap((b) => b.rows.map((r) => r.n)),
      [1000, 1001, 1002],
    );
    spool.close();
  });

  it('survives a restart: uncommitted rows are replayed first, committed ones never again', async () => {
    const dir = tempDir();
    const first = new Spool<R>(dir, { segmentBytes: 2048 });
    for (let i = 0; i < 20; i++) first.append(rows(i * 10, 10));
    let seen = 0;
    for await (const b of first.replay(30)) {
      seen += b.rows.length;
      first.commit(b.position);
      if (seen >= 60) break;
    }
    // No close(): as if the process had been killed.
    const second = new Spool<R>(dir, { segmentBytes: 2048 });
    assert.equal(second.pendingRows, 140);
    second.append(rows(200, 5));
    const replayed = (await drain(second)).flatMap((b) => b.rows.map((r) => r.n));
    assert.deepEqual(
      replayed,
      Array.from({ length: 145 }, (_, i) => i + 60),
    );
    second.close();
    first.close();
  });

  it('drops the oldest segment past maxBytes and counts its rows', async () => {
    const dir = tempDir();
    const spool = new Spool<R>(dir, { maxBytes: 8192, segmentBytes: 2048 });
    let dropped = 0;
    for (let i = 0; i < 100; i++) dropped += spool.append(rows(i * 10, 10));
    assert.ok(dropped > 0);
    assert.equal(spool.droppedRows, dropped);
    const total = segments(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    assert.ok(total <= 8192, `${total} bytes on disk`);
    const replayed = (await drain(spool)).flatMap((b) => b.rows.map((r) => r.n));
    assert.equal(replayed.length + dropped, 1000);
    // What is left is the newest rows, in order.
    assert.deepEqual(
      replayed,
      Array.from({ length: replayed.length }, (_, i) => 1000 - replayed.length + i),
    );
    spool.close();
  });

  it('skips and counts a record cut short by a crash mid-write', async () => {
    const dir = tempDir();
    const spool = new Spool<R>(dir);
    spool.append(rows(0, 10));
    spool.append(rows(10, 10));
    spool.close();
    const [seg] = segments(dir);
    const file = join(dir, seg!);
    truncateSync(file, statSync(file).size - 7);
    const reopened = new Spool<R>(dir);
    assert.equal(reopened.truncatedRecords, 1);
    assert.equal(reopened.pendingRows, 10);
    reopened.append(rows(20, 2));
    assert.deepEqual(
      (await drain(reopened)).flatMap((b) => b.rows.map((r) => r.n)),
      [...Array.from({ length: 10 }, (_, i) => i), 20, 21],
    );
    reopened.close();

    // A header torn in two, too.
    const dir2 = tempDir();
    const s2 = new Spool<R>(dir2);
    s2.append(rows(0, 4));
    s2.close();
    appendFileSync(join(dir2, segments(dir2)[0]!), Buffer.from([1, 2, 3]));
    const r2 = new Spool<R>(dir2);
    assert.equal(r2.truncatedRecords, 1);
    assert.deepEqual(
      (await drain(r2)).flatMap((b) => b.rows.map((r) => r.n)),
      [0, 1, 2, 3],
    );
    r2.close();
  });

  it('skips the rest of a segment after a record whose checksum fails', async () => {
    const dir = tempDir();
    const spool = new Spool<R>(dir);
    spool.append(rows(0, 5));
    spool.append(rows(5, 5));
    spool.append(rows(10, 5));
    spool.close();
    const file = join(dir, segments(dir)[0]!);
    const bytes = readFileSync(file);
    const firstLen = bytes.readUInt32LE(0);
    bytes[12 + firstLen + 12 + 3]! ^= 0xff; // inside the second record's payload
    writeFileSync(file, bytes);
    const reopened = new Spool<R>(dir);
    assert.deepEqual(
      (await drain(reopened)).flatMap((b) => b.rows.map((r) => r.n)),
      [0, 1, 2, 3, 4],
    );
    assert.equal(reopened.corruptRecords, 1);
    assert.equal(reopened.pendingRows, 0);
    reopened.close();
  });

  it('yields a batch again until it is committed', async () => {
    const dir = tempDir();
    const spool = new Spool<R>(dir);
    spool.append(rows(0, 3));
    const a = await drain(spool, undefined, false);
    const b = await drain(spool, undefined, false);
    assert.deepEqual(a, b);
    assert.equal(spool.holds(a[0]!.position), true);
    spool.commit(a[0]!.position);
    assert.equal(spool.holds(a[0]!.position), false);
    spool.commit(a[0]!.position);
    assert.equal(spool.pendingRows, 0);
    spool.close();
  });
});
