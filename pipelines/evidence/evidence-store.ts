import { mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../../engine/errors.js';
import { createLogger, type Logger } from '../../engine/log.js';
import type { Sample } from '../../engine/types.js';
import type { Alarm, Severity } from '../analytics/types.js';
import { renderEvidenceJpeg } from './render.js';
import { SampleRing } from './sample-ring.js';

export type EvidenceDropReason = 'sample_gone' | 'render_failed';

export interface EvidenceStoreOptions {
  /** Root folder; files are `<dir>/<schoolId>/<cameraId>/<alarmId>.jpg`. */
  dir: string;
  /** Samples kept per camera (default 4): a ring of reused buffers. */
  keepPerCamera?: number;
  /** Evidence files older than this are deleted by the sweep (default 30). */
  retentionDays?: number;
  /** How often the retention sweep runs (default 1 h); 0 runs none (call `sweep()` yourself). */
  sweepIntervalMs?: number;
  /** JPEG quality 1..100 (default 85). */
  jpegQuality?: number;
  log?: Logger;
  /** Each alarm whose evidence could not be written, for kuzet_dropped_total{stage="evidence",reason}. */
  onDrop?: (reason: EvidenceDropReason) => void;
}

/** The fields of an alarm that evidence needs; a full `Alarm` fits. */
export type EvidenceAlarm = Pick<
  Alarm,
  'id' | 'kind' | 'severity' | 'schoolId' | 'cameraId' | 'score' | 'evidence'
>;

/** Alarm, school and camera ids become path segments: this keeps them to one segment, no traversal. */
const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;
export function isEvidenceId(s: string): boolean {
  return SAFE_ID.test(s) && s !== '.' && s !== '..';
}

const SEVERITY_COLOR: Record<Severity, string> = {
  critical: '#ff2020',
  high: '#ff8c00',
  medium: '#ffd400',
  low: '#00c8ff',
};

/** Alarms remembered after their render (what they show, to skip repeats); older ones just render again. */
const MAX_ALARMS = 4096;
/** A temporary file this old was left by a crash mid-write. */
const STALE_TMP_MS = 3_600_000;
const DAY_MS = 86_400_000;

interface AlarmRecord {
  schoolId: string;
  cameraId: string;
  /** What the file on disk shows (seq + box), or null before the first successful render. */
  shown: string | null;
  pending: Promise<boolean> | null;
  pendingKey: string | null;
  /** Evidence already counted as sample_gone: later state changes of the alarm repeat it, one drop is enough. */
  goneKey: string | null;
}

/**
 * Evidence JPEGs for alarms: keeps each camera's last few samples (copied before the engine transfers them),
 * renders an alarm's evidence frame with its box when the alarm appears or its evidence frame changes, writes
 * it atomically, serves it back, and deletes files past retention.
 */
export class EvidenceStore {
  private readonly dir: string;
  private readonly keep: number;
  private readonly retentionMs: number;
  private readonly quality: number;
  private readonly log: Logger;
  private readonly onDrop: (reason: EvidenceDropReason) => void;
  private readonly rings = new Map<string, SampleRing>();
  private readonly alarms = new Map<string, AlarmRecord>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private sweeping: Promise<number> | null = null;
  private tmpCounter = 0;
  private closed = false;

  constructor(opts: EvidenceStoreOptions) {
    const keep = opts.keepPerCamera ?? 4;
    const days = opts.retentionDays ?? 30;
    const every = opts.sweepIntervalMs ?? 3_600_000;
    const quality = opts.jpegQuality ?? 85;
    if (!opts.dir) throw new RangeError('EvidenceStore: options.dir must be a folder path');
    if (!(Number.isInteger(keep) && keep >= 1))
      throw new RangeError(`EvidenceStore: options.keepPerCamera must be an integer >= 1, got ${keep}`);
    if (!(days > 0)) throw new RangeError(`EvidenceStore: options.retentionDays must be > 0, got ${days}`);
    if (!(every >= 0))
      throw new RangeError(`EvidenceStore: options.sweepIntervalMs must be >= 0, got ${every}`);
    if (!(Number.isInteger(quality) && quality >= 1 && quality <= 100))
      throw new RangeError(`EvidenceStore: options.jpegQuality must be an integer 1..100, got ${quality}`);
    this.dir = opts.dir;
    this.keep = keep;
    this.retentionMs = days * DAY_MS;
    this.quality = quality;
    this.log = opts.log ?? createLogger('evidence');
    this.onDrop = opts.onDrop ?? (() => {});
    if (every > 0) {
      const run = () => void this.sweep().catch(() => {});
      // The first sweep waits a little so start-up is not competing with a walk of 30 days of files.
      this.timers.push(setTimeout(run, Math.min(every, 10_000)).unref(), setInterval(run, every).unref());
    }
  }

  /** Copies the sample into its camera's ring. Call for every sample, before its bytes are transferred. */
  remember(sample: Sample): void {
    if (this.closed || sample.data.byteLength === 0) return;
    const key = cameraKey(sample.schoolId, sample.cameraId);
    let ring = this.rings.get(key);
    if (!ring) {
      ring = new SampleRing(this.keep);
      this.rings.set(key, ring);
    }
    ring.put(sample);
  }

  /**
   * Renders the alarm's evidence frame when the alarm has none yet or its evidence (seq or box) changed.
   * Resolves true when the file shows that evidence, false when it cannot (the sample has left the ring, or
   * the render failed: counted through onDrop, a gone sample once per alarm and evidence; an earlier file of
   * the alarm is kept). Never rejects.
   * Calls for the same alarm and evidence share one render; a call with new evidence renders after the one
   * in progress, so the file ends with the latest.
   */
  render(alarm: EvidenceAlarm): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    const { id, schoolId, cameraId } = alarm;
    if (!isEvidenceId(id) || !isEvidenceId(schoolId) || !isEvidenceId(cameraId)) {
      this.log.warn('Alarm ids cannot name an evidence file; evidence not rendered', {
        alarmId: id,
        schoolId,
        cameraId,
      });
      this.onDrop('render_failed');
      return Promise.resolve(false);
    }
    const { seq, box } = alarm.evidence;
    const key = box ? `${seq}:${box.x1},${box.y1},${box.x2},${box.y2}` : `${seq}`;
    let rec = this.alarms.get(id);
    if (rec?.pending && rec.pendingKey === key) return rec.pending;
    if (rec && !rec.pending && rec.shown === key) return Promise.resolve(true);
    if (rec?.goneKey === key) return Promise.resolve(false);
    if (!rec) {
      rec = { schoolId, cameraId, shown: null, pending: null, pendingKey: null, goneKey: null };
      this.alarms.set(id, rec);
      this.trimAlarms();
    }
    // Copied now, not when a render before it finishes: by then the ring may have moved on.
    const held = this.rings.get(cameraKey(schoolId, cameraId))?.get(seq);
    if (!held) {
      this.log.debug('Evidence sample no longer held', { alarmId: id, schoolId, cameraId, seq });
      rec.goneKey = key;
      this.onDrop('sample_gone');
      return Promise.resolve(false);
    }
    const data = held.data.slice();
    const codec = held.codec;
    // Everything the job needs is read now: the alarm object may be updated in place while it waits.
    const label = `${alarm.kind} ${alarm.score.toFixed(2)}`;
    const color = SEVERITY_COLOR[alarm.severity] ?? SEVERITY_COLOR.critical;
    const boxes = box ? [{ box: { ...box }, label, color }] : [];
    const r = rec;
    const before = r.pending;
    const job = (async () => {
      if (before) await before;
      try {
        const { jpeg } = await renderEvidenceJpeg({
          codec,
          data,
          boxes,
          caption: box ? undefined : label,
          quality: this.quality,
        });
        await this.writeAtomic(schoolId, cameraId, id, jpeg);
        r.shown = key;
        return true;
      } catch (err) {
        this.log.warn('Evidence render failed', {
          alarmId: id,
          schoolId,
          cameraId,
          seq,
          codec,
          error: errorMessage(err),
        });
        this.onDrop('render_failed');
        return false;
      }
    })();
    r.pending = job;
    r.pendingKey = key;
    this.inflight.add(job);
    void job.then(() => {
      this.inflight.delete(job);
      if (r.pending === job) {
        r.pending = null;
        r.pendingKey = null;
      }
    });
    return job;
  }

  /**
   * The alarm's evidence JPEG, after any render of it in progress; null when there is none. Rejects (RangeError)
   * when an id is not `[A-Za-z0-9._-]+`, so an HTTP route can answer 400 (or check `isEvidenceId` first).
   */
  async read(schoolId: string, cameraId: string, alarmId: string): Promise<Buffer | null> {
    const path = this.path(schoolId, cameraId, alarmId);
    const rec = this.alarms.get(alarmId);
    if (rec?.pending && rec.schoolId === schoolId && rec.cameraId === cameraId) await rec.pending;
    try {
      return await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** Where an alarm's evidence file lives. Throws RangeError for ids that are not one safe path segment. */
  path(schoolId: string, cameraId: string, alarmId: string): string {
    for (const [name, v] of [
      ['schoolId', schoolId],
      ['cameraId', cameraId],
      ['alarmId', alarmId],
    ] as const) {
      if (!isEvidenceId(v))
        throw new RangeError(
          `Evidence ${name} must be 1-128 characters of [A-Za-z0-9._-], got ${JSON.stringify(v)}`,
        );
    }
    return join(this.dir, schoolId, cameraId, `${alarmId}.jpg`);
  }

  /** Drops a camera's held samples (camera removed or gone for good); its files stay until retention. */
  forgetCamera(schoolId: string, cameraId: string): void {
    this.rings.delete(cameraKey(schoolId, cameraId));
  }

  /** Drops what the store remembers about an alarm (call when it is resolved); its file stays until retention. */
  forgetAlarm(alarmId: string): void {
    const rec = this.alarms.get(alarmId);
    if (rec && !rec.pending) this.alarms.delete(alarmId);
  }

  /** Bytes of sample copies held across all cameras (for a gauge; about keepPerCamera × keyframe size each). */
  get heldBytes(): number {
    let n = 0;
    for (const ring of this.rings.values()) n += ring.bytes;
    return n;
  }

  /**
   * Deletes evidence files last written before `now - retentionDays`, and temporary files a crash left behind.
   * Only names this store writes are touched. Resolves the number of files deleted; one sweep at a time.
   */
  sweep(now = Date.now()): Promise<number> {
    this.sweeping ??= this.sweepOnce(now).finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  /** Stops the sweep timer and waits for renders and a sweep in progress. Later renders resolve false. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.length = 0;
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
    await this.sweeping?.catch(() => {});
    this.rings.clear();
  }

  private async writeAtomic(
    schoolId: string,
    cameraId: string,
    alarmId: string,
    jpeg: Buffer,
  ): Promise<void> {
    const final = this.path(schoolId, cameraId, alarmId);
    const folder = join(this.dir, schoolId, cameraId);
    // Same folder as the final file, so the rename is atomic; a reader sees the old JPEG or the new one.
    const tmp = join(folder, `.${alarmId}.${process.pid}.${++this.tmpCounter}.tmp`);
    await mkdir(folder, { recursive: true });
    try {
      await writeFile(tmp, jpeg);
      await rename(tmp, final);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  private async sweepOnce(now: number): Promise<number> {
    const cutoff = now - this.retentionMs;
    let deleted = 0;
    for (const school of await subfolders(this.dir)) {
      for (const camera of await subfolders(join(this.dir, school))) {
        const folder = join(this.dir, school, camera);
        let names: string[];
        try {
          names = await readdir(folder);
        } catch {
          continue;
        }
        for (const name of names) {
          const isJpeg = name.endsWith('.jpg') && isEvidenceId(name.slice(0, -4));
          const isTmp = name.startsWith('.') && name.endsWith('.tmp');
          if (!isJpeg && !isTmp) continue;
          const file = join(folder, name);
          try {
            const st = await stat(file);
            if (!st.isFile()) continue;
            const limit = isTmp ? Math.max(cutoff, now - STALE_TMP_MS) : cutoff;
            if (st.mtimeMs >= limit) continue;
            await unlink(file);
            deleted++;
          } catch (err) {
            // Gone already (a re-render renamed over it, or another sweeper): nothing to delete.
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
              this.log.warn('Evidence sweep could not delete a file', { file, error: errorMessage(err) });
          }
        }
      }
    }
    if (deleted > 0) this.log.info('Evidence files past retention deleted', { deleted, dir: this.dir });
    return deleted;
  }

  private trimAlarms(): void {
    if (this.alarms.size <= MAX_ALARMS) return;
    for (const [id, rec] of this.alarms) {
      if (this.alarms.size <= MAX_ALARMS) break;
      if (!rec.pending) this.alarms.delete(id);
    }
  }
}

function cameraKey(schoolId: string, cameraId: string): string {
  return `${schoolId}\u0000${cameraId}`;
}

/** Child folders whose names are ids this store could have written; none when the folder does not exist. */
async function subfolders(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && isEvidenceId(e.name)).map((e) => e.name);
  } catch {
    return [];
  }
}
