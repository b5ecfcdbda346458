/**
 * An append-only on-disk journal of rows, for the writers to spool to while the database is down.
 *
 * Layout: a folder of segment files `<id>.seg` (id zero-padded, increasing) and `cursor.json`, the position up
 * to which rows have been committed (written to the database). A segment is a run of records:
 *
 *   u32 LE payload bytes | u32 LE row count | u32 LE CRC-32 of the payload | payload (msgpack array of rows)
 *
 * Durability: append() hands each record to the kernel with one write(2), so a process crash (SIGKILL, OOM)
 * loses nothing. Segments are fdatasync'ed every `syncIntervalMs` (1 s by default), on roll-over and on
 * close(), not per append (that costs a disk flush per batch). A power cut or kernel crash can therefore lose
 * at most the records appended in the last sync interval; a record cut short by it (or by a full disk) is
 * found when the spool is reopened, counted in `truncatedRecords` and skipped, never thrown.
 *
 * Delivery: replay() yields from the committed cursor; a consumer that dies between writing a batch and
 * commit() gets that batch again after a restart, so targets must be idempotent (ON CONFLICT DO NOTHING).
 *
 * Bounds: past `maxBytes` on disk the oldest segment is deleted and its unreplayed rows counted (append()
 * returns them; `droppedRows` totals them). One Spool per folder: two processes on one folder would
 * interleave segments and cursors.
 */
import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { Packr } from 'msgpackr';

export interface SpoolOptions {
  /** Disk budget for all segments; past it the oldest segment is dropped (1 GiB by default). */
  maxBytes?: number;
  /** A segment is closed and a new one started past this size (16 MiB by default; at most maxBytes / 2). */
  segmentBytes?: number;
  /** How often appended records are fdatasync'ed (1000 ms by default); 0 syncs every append. */
  syncIntervalMs?: number;
}

/** The end of a replayed batch: commit() it once its rows are safely stored. */
export interface SpoolPosition {
  readonly segment: number;
  /** Byte offset just past the batch's last record. */
  readonly offset: number;
  /** Rows of the segment up to that offset. */
  readonly rows: number;
}

export interface SpoolBatch<Row> {
  rows: Row[];
  position: SpoolPosition;
}

interface Segment {
  id: number;
  /** Bytes of valid records (a truncated tail left by a crash is not counted). */
  bytes: number;
  rows: number;
}

const HEADER_BYTES = 12;
const DEFAULT_MAX_BYTES = 1024 ** 3;
const DEFAULT_SEGMENT_BYTES = 16 * 1024 ** 2;
const SEGMENT_RE = /^(\d{16})\.seg$/;
const CURSOR_FILE = 'cursor.json';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE); node:zlib's crc32 only arrived in Node 20.15. */
export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export class Spool<Row = unknown> {
  readonly dir: string;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly syncIntervalMs: number;
  private readonly packr = new Packr({ useRecords: false, variableMapSize: true });
  /** Ascending by id. */
  private segments: Segment[] = [];
  private cursor: SpoolPosition = { segment: 0, offset: 0, rows: 0 };
  /** Segment appended to by this process; segments found at open are never appended to. */
  private active: { seg: Segment; fd: number } | null = null;
  private nextId = 1;
  private dirty = false;
  private syncTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private _droppedRows = 0;
  private _truncatedRecords = 0;
  private _corruptRecords = 0;

  constructor(dir: string, opts: SpoolOptions = {}) {
    this.dir = dir;
    this.maxBytes = Math.max(2 * HEADER_BYTES, opts.maxBytes ?? DEFAULT_MAX_BYTES);
    this.segmentBytes = Math.max(
      HEADER_BYTES,
      Math.min(opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES, Math.floor(this.maxBytes / 2)),
    );
    this.syncIntervalMs = opts.syncIntervalMs ?? 1000;
    mkdirSync(dir, { recursive: true });
    this.open();
    if (this.syncIntervalMs > 0) {
      this.syncTimer = setInterval(() => this.sync(), this.syncIntervalMs);
      this.syncTimer.unref();
    }
  }

  /** Rows appended and not yet committed. */
  get pendingRows(): number {
    let n = 0;
    for (const s of this.segments) {
      if (s.id > this.cursor.segment) n += s.rows;
      else if (s.id === this.cursor.segment) n += s.rows - this.cursor.rows;
    }
    return n;
  }

  /** Bytes of all segments on disk (committed parts of the oldest one included). */
  get bytes(): number {
    return this.segments.reduce((n, s) => n + s.bytes, 0);
  }

  /** Rows lost to the maxBytes bound since this Spool was opened. */
  get droppedRows(): number {
    return this._droppedRows;
  }

  /** Records found cut short at the end of a segment when the spool was opened (a crash mid-write). */
  get truncatedRecords(): number {
    return this._truncatedRecords;
  }

  /** Records whose checksum failed during replay; the rest of their segment is skipped. */
  get corruptRecords(): number {
    return this._corruptRecords;
  }

  /**
   * Appends rows as one record. Returns how many older, unreplayed rows were dropped to stay within maxBytes.
   * Throws on an I/O error (disk full): the record is then not in the spool.
   */
  append(rows: Row[]): number {
    if (this.closed || rows.length === 0) return 0;
    const payload = this.packr.pack(rows);
    const record = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
    record.writeUInt32LE(payload.length, 0);
    record.writeUInt32LE(rows.length, 4);
    record.writeUInt32LE(crc32(payload), 8);
    payload.copy(record, HEADER_BYTES);

    if (this.active && this.active.seg.bytes > 0 && this.active.seg.bytes + record.length > this.segmentBytes)
      this.seal();
    const dropped = this.makeRoom(record.length);
    const active = this.active ?? this.openSegment();
    try {
      let done = 0;
      while (done < record.length) done += writeSync(active.fd, record, done, record.length - done);
    } catch (err) {
      // A partial write (ENOSPC) would leave garbage that hides every later record: cut it off again.
      try {
        ftruncateSync(active.fd, active.seg.bytes);
      } catch {
        // Reopen will find and count the truncated record instead.
      }
      throw err;
    }
    active.seg.bytes += record.length;
    active.seg.rows += rows.length;
    this.dirty = true;
    if (this.syncIntervalMs === 0) this.sync();
    return dropped;
  }

  /**
   * Batches from the committed cursor, in append order, each at most maxRows rows (records are never split,
   * and a batch never spans segments). Ends when it reaches the end of what has been appended. Commit each
   * batch before asking for the next; an uncommitted batch is yielded again by the next replay().
   */
  async *replay(maxRows = Number.POSITIVE_INFINITY): AsyncGenerator<SpoolBatch<Row>> {
    let pos: SpoolPosition = this.cursor;
    let readerId = -1;
    let readerFd = -1;
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    try {
      for (;;) {
        if (this.closed) return;
        // The cursor moves on by itself when the oldest segments are dropped.
        if (pos.segment < this.cursor.segment) pos = this.cursor;
        const seg = this.segments.find((s) => s.id >= pos.segment);
        if (!seg) return;
        if (seg.id !== pos.segment) pos = { segment: seg.id, offset: 0, rows: 0 };
        if (pos.offset >= seg.bytes) {
          if (this.active?.seg === seg) return;
          pos = { segment: seg.id + 1, offset: 0, rows: 0 };
          continue;
        }
        if (readerId !== seg.id) {
          if (readerFd >= 0) closeSync(readerFd);
          readerFd = -1;
          readerFd = openSync(this.segmentPath(seg.id), 'r');
          readerId = seg.id;
        }
        const rows: Row[] = [];
        let { offset, rows: segRows } = pos;
        let corrupt = false;
        while (offset < seg.bytes) {
          readExactly(readerFd, header, offset);
          const len = header.readUInt32LE(0);
          const count = header.readUInt32LE(4);
          if (rows.length > 0 && rows.length + count > maxRows) break;
          const payload = Buffer.allocUnsafe(len);
          readExactly(readerFd, payload, offset + HEADER_BYTES);
          let decoded: unknown;
          if (crc32(payload) === header.readUInt32LE(8)) {
            try {
              decoded = this.packr.unpack(payload);
            } catch {
              decoded = undefined;
            }
          }
          if (!Array.isArray(decoded) || decoded.length !== count) {
            corrupt = true;
            break;
          }
          for (const r of decoded as Row[]) rows.push(r);
          offset += HEADER_BYTES + len;
          segRows += count;
        }
        if (corrupt) {
          this._corruptRecords++;
          // Everything from here to the end of the segment is unreadable: shrink the segment to what was read.
          // If this generator's position is also the committed one, commit past the segment now, else the
          // consumer's commit of the batch below does it.
          seg.bytes = offset;
          seg.rows = segRows;
          if (rows.length === 0) {
            if (pos.segment === this.cursor.segment && pos.offset === this.cursor.offset)
              this.commit({ segment: seg.id, offset, rows: segRows });
            pos = { segment: seg.id + 1, offset: 0, rows: 0 };
            continue;
          }
        }
        pos = { segment: seg.id, offset, rows: segRows };
        yield { rows, position: pos };
      }
    } finally {
      if (readerFd >= 0) closeSync(readerFd);
    }
  }

  /** Marks everything up to `upTo` as stored: fully replayed segments are deleted. Idempotent. */
  commit(upTo: SpoolPosition): void {
    if (this.closed) return;
    const c = this.cursor;
    if (upTo.segment < c.segment || (upTo.segment === c.segment && upTo.offset <= c.offset)) return;
    this.cursor = upTo;
    // Whole segments behind the cursor, and the cursor's own once it is read to the end.
    while (this.segments.length > 0) {
      const first = this.segments[0]!;
      const done =
        first.id < this.cursor.segment ||
        (first.id === this.cursor.segment && this.cursor.offset >= first.bytes);
      if (!done) break;
      this.deleteSegment(first);
      if (first.id === this.cursor.segment) this.cursor = { segment: first.id + 1, offset: 0, rows: 0 };
    }
    this.saveCursor();
  }

  /** Whether a batch ending at `position` is still unreplayed (false once committed or dropped for space). */
  holds(position: SpoolPosition): boolean {
    const c = this.cursor;
    return position.segment > c.segment || (position.segment === c.segment && position.offset > c.offset);
  }

  /** fdatasyncs the segment being appended to, if anything was appended since the last sync. */
  sync(): void {
    if (!this.dirty || !this.active) return;
    fdatasyncSync(this.active.fd);
    this.dirty = false;
  }

  /** Syncs and closes; the spool can be reopened with a new Spool on the same folder. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = null;
    if (this.active) {
      this.sync();
      closeSync(this.active.fd);
      this.active = null;
    }
    this.saveCursor();
    this.closed = true;
  }

  private open(): void {
    const ids: number[] = [];
    for (const name of readdirSync(this.dir)) {
      const m = SEGMENT_RE.exec(name);
      if (m) ids.push(Number(m[1]));
    }
    ids.sort((a, b) => a - b);
    this.cursor = this.loadCursor();
    for (const id of ids) {
      if (id < this.cursor.segment) {
        // Replayed and committed, but the process died before deleting it.
        rmSync(this.segmentPath(id), { force: true });
        continue;
      }
      this.segments.push(this.scan(id));
    }
    this.nextId = Math.max(this.cursor.segment, (ids[ids.length - 1] ?? 0) + 1, 1);
    const first = this.segments[0];
    if (!first || first.id > this.cursor.segment || this.cursor.offset > first.bytes)
      this.cursor = { segment: first?.id ?? this.nextId, offset: 0, rows: 0 };
  }

  /** Walks a segment's record headers; a record that runs past the end of the file is a crash's leftover. */
  private scan(id: number): Segment {
    const fd = openSync(this.segmentPath(id), 'r');
    try {
      const size = fstatSync(fd).size;
      const header = Buffer.allocUnsafe(HEADER_BYTES);
      let offset = 0;
      let rows = 0;
      while (offset < size) {
        const got = readSync(fd, header, 0, HEADER_BYTES, offset);
        const len = got === HEADER_BYTES ? header.readUInt32LE(0) : 0;
        const count = got === HEADER_BYTES ? header.readUInt32LE(4) : 0;
        if (len === 0 || count === 0 || offset + HEADER_BYTES + len > size) {
          this._truncatedRecords++;
          break;
        }
        offset += HEADER_BYTES + len;
        rows += count;
      }
      return { id, bytes: offset, rows };
    } finally {
      closeSync(fd);
    }
  }

  private loadCursor(): SpoolPosition {
    try {
      const c = JSON.parse(readFileSync(join(this.dir, CURSOR_FILE), 'utf8')) as Partial<SpoolPosition>;
      const ok = [c.segment, c.offset, c.rows].every((v) => Number.isSafeInteger(v) && (v as number) >= 0);
      if (ok) return { segment: c.segment!, offset: c.offset!, rows: c.rows! };
    } catch {
      // Missing or torn: replay from the oldest segment (duplicates are harmless, loss is not).
    }
    return { segment: 0, offset: 0, rows: 0 };
  }

  private saveCursor(): void {
    const file = join(this.dir, CURSOR_FILE);
    writeFileSync(`${file}.tmp`, JSON.stringify(this.cursor));
    renameSync(`${file}.tmp`, file);
  }

  private openSegment(): { seg: Segment; fd: number } {
    const seg: Segment = { id: this.nextId++, bytes: 0, rows: 0 };
    const fd = openSync(this.segmentPath(seg.id), 'a');
    this.segments.push(seg);
    this.active = { seg, fd };
    // The new file's directory entry must survive a power cut too.
    try {
      const dirFd = openSync(this.dir, 'r');
      try {
        fdatasyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch {
      // Not every file system lets a directory be synced.
    }
    return this.active;
  }

  private seal(): void {
    if (!this.active) return;
    this.dirty = true;
    this.sync();
    closeSync(this.active.fd);
    this.active = null;
  }

  /** Deletes the oldest segments until `incoming` more bytes fit; returns the unreplayed rows they held. */
  private makeRoom(incoming: number): number {
    let dropped = 0;
    let total = this.bytes;
    while (total + incoming > this.maxBytes) {
      const oldest = this.segments[0];
      if (!oldest || oldest === this.active?.seg) break;
      const committed = oldest.id === this.cursor.segment ? this.cursor.rows : 0;
      if (oldest.id >= this.cursor.segment) dropped += oldest.rows - committed;
      total -= oldest.bytes;
      this.deleteSegment(oldest);
      if (oldest.id >= this.cursor.segment) this.cursor = { segment: oldest.id + 1, offset: 0, rows: 0 };
    }
    if (dropped > 0) this.saveCursor();
    this._droppedRows += dropped;
    return dropped;
  }

  private deleteSegment(seg: Segment): void {
    if (this.active?.seg === seg) {
      closeSync(this.active.fd);
      this.active = null;
      this.dirty = false;
    }
    this.segments = this.segments.filter((s) => s !== seg);
    rmSync(this.segmentPath(seg.id), { force: true });
  }

  private segmentPath(id: number): string {
    return join(this.dir, `${String(id).padStart(16, '0')}.seg`);
  }
}

function readExactly(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new Error(`Spool segment ended early at byte ${position + done}`);
    done += n;
  }
}
