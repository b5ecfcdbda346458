/**
 * Scanner and sensor events fused with what the cameras see: presence, lateness, canteen reconciliation,
 * panic / fire / air-quality alarms, the after-hours intrusion rule and the staff audit. The engine feeds it
 * validated events (from JetStream) and per-camera tracks; it keeps the books in memory, writes every event
 * to TimescaleDB and hands alarm candidates and findings back to the engine.
 */
import { readFileSync } from 'node:fs';
import type { Sql } from 'postgres';
import type {
  CanteenCountWriter,
  FindingWriter,
  PresenceWriter,
  ScannerEventWriter,
} from '../connectors/timescale/fusion-writers.js';
import type { AlarmCandidate, Track } from '../pipelines/analytics/types.js';
import { DEFAULT_TIME_ZONE } from '../pipelines/analytics/zones.js';
import {
  afterHoursIntrusionSeverity,
  camerasByRoom,
  sensorAlarm,
} from '../pipelines/fusion/alarms-from-sensors.js';
import { CanteenReconciler } from '../pipelines/fusion/canteen.js';
import { EntryCounter } from '../pipelines/fusion/entry-counter.js';
import { LatenessBook } from '../pipelines/fusion/lateness.js';
import { addDays, hhmmToMinutes, localInstant } from '../pipelines/fusion/local-date.js';
import { PresenceBook } from '../pipelines/fusion/presence.js';
import { parseStaffRegistry, StaffAudit } from '../pipelines/fusion/staff-audit.js';
import type { Finding, ScanEvent } from '../pipelines/fusion/types.js';
import type { KuzetConfig } from './config/schema.js';
import { KuzetError, errorMessage } from './errors.js';
import type { Logger } from './log.js';

export interface FusionWriters {
  scanner: ScannerEventWriter | null;
  presence: PresenceWriter | null;
  findings: FindingWriter | null;
  canteen: CanteenCountWriter | null;
}

export interface FusionHooks {
  /** An alarm candidate for the state machine (panic, fire, air quality). */
  alarm(c: AlarmCandidate): void;
  /** Sample these cameras faster for a while (the room of a panic button or a fire). */
  boost(schoolId: string, cameraIds: readonly string[]): void;
  finding(f: Finding): void;
  writers(): FusionWriters;
  /** An event that could not be stored (no database configured or it failed to start): counted, not silent. */
  unstored(): void;
}

export class FusionService {
  readonly presence: PresenceBook;
  readonly lateness: LatenessBook;
  readonly canteen: CanteenReconciler;
  private readonly staff: StaffAudit | null;
  private readonly rooms = new Map<string, Map<string, string[]>>();
  private readonly timeZones = new Map<string, string>();
  /** `school/camera` → counter of people entering its canteen/entrance zones, with the windows it serves. */
  private readonly entryCounters = new Map<string, EntryCounter>();
  /** `school/camera` → counter of people entering its entrance zones (the turnstiles' cross-check). */
  private readonly entranceCounters = new Map<string, EntryCounter>();
  private readonly schoolsWithEntrances = new Set<string>();
  /** Per `school/day`: distinct people the turnstiles let in, and people the entrance cameras saw entering. */
  private readonly daily = new Map<string, { turnstileIn: Set<string>; cameraEntered: number }>();
  /** Meal windows and days already closed, and local days already ended, so each is reported once. */
  private readonly closed = new Set<string>();
  private readonly lastDay = new Map<string, string>();

  constructor(
    private readonly cfg: KuzetConfig,
    private readonly hooks: FusionHooks,
    private readonly log: Logger,
  ) {
    const f = cfg.engine.fusion;
    for (const s of cfg.schools) {
      this.timeZones.set(s.id, s.timeZone);
      this.rooms.set(s.id, camerasByRoom(s.cameras));
      for (const w of s.mealWindows)
        for (const camId of w.cameras) {
          const cam = s.cameras.find((c) => c.id === camId);
          const zones = cam?.zones.filter((z) => z.kind === 'canteen' || z.kind === 'entrance') ?? [];
          if (!cam || zones.length === 0) {
            this.log.warn('Meal window camera has no canteen or entrance zone: it counts nobody', {
              school: s.id,
              window: w.id,
              camera: camId,
            });
            continue;
          }
          this.entryCounters.set(`${s.id}/${camId}`, new EntryCounter(zones));
        }
    }
    for (const s of cfg.schools)
      for (const cam of s.cameras) {
        const doors = cam.zones.filter((z) => z.kind === 'entrance');
        if (doors.length === 0) continue;
        this.entranceCounters.set(`${s.id}/${cam.id}`, new EntryCounter(doors));
        this.schoolsWithEntrances.add(s.id);
      }
    this.presence = new PresenceBook({ timeZoneOf: (id) => this.timeZoneOf(id) });
    this.lateness = new LatenessBook(cfg.schools);
    this.canteen = new CanteenReconciler(cfg.schools, {
      canteenGapRatio: f.canteenGapRatio,
      canteenMinGap: f.canteenMinGap,
    });
    this.staff = f.staffRegistry ? this.loadStaffAudit(f.staffRegistry) : null;
  }

  /** One validated event (JetStream acks after this resolves). */
  async handle(e: ScanEvent): Promise<void> {
    const w = this.hooks.writers();
    if (w.scanner) w.scanner.enqueue(e);
    else this.hooks.unstored();
    switch (e.kind) {
      case 'turnstile':
        this.presence.record(e);
        this.lateness.record(e);
        if (e.direction === 'in') this.dayOf(e.schoolId, e.time).turnstileIn.add(e.person);
        this.staff?.record(e);
        w.presence?.enqueue(e);
        break;
      case 'palm':
        this.canteen.addPalm(e);
        break;
      default: {
        const a = sensorAlarm(e, this.cfg.engine.fusion.air, this.rooms.get(e.schoolId) ?? new Map());
        if (a) {
          this.hooks.alarm(a.candidate);
          if (a.boost && a.cameras.length) this.hooks.boost(e.schoolId, a.cameras);
        }
      }
    }
  }

  /** A camera's tracks after a frame: people entering the canteen count toward the open meal window. */
  onTracks(
    schoolId: string,
    cameraId: string,
    tracks: readonly Track[],
    w: number,
    h: number,
    timeMs: number,
  ): void {
    const door = this.entranceCounters.get(`${schoolId}/${cameraId}`);
    if (door) this.dayOf(schoolId, timeMs).cameraEntered += door.update(tracks, w, h, timeMs);
    const counter = this.entryCounters.get(`${schoolId}/${cameraId}`);
    if (!counter) return;
    const entered = counter.update(tracks, w, h, timeMs);
    if (entered === 0) return;
    const school = this.cfg.schools.find((s) => s.id === schoolId);
    for (const win of school?.mealWindows ?? []) {
      // The reconciler decides whether the count belongs to this window (its camera, its local hours).
      if (this.canteen.addCameraCount(schoolId, win.id, cameraId, entered, timeMs) !== 'counted') continue;
      this.hooks.writers().canteen?.enqueue({
        school_id: schoolId,
        window_id: win.id,
        camera_id: cameraId,
        entered,
        timeMs,
      });
    }
  }

  /** The after-hours rule: an intrusion with no staff member in the building becomes critical. */
  adjust(c: AlarmCandidate): AlarmCandidate {
    if (c.kind !== 'intrusion' || !c.zoneId) return c;
    const school = this.cfg.schools.find((s) => s.id === c.schoolId);
    const zone = school?.cameras.find((cam) => cam.id === c.cameraId)?.zones.find((z) => z.id === c.zoneId);
    return afterHoursIntrusionSeverity(c, this.presence, zone, school?.timeZone);
  }

  /** Time passes: close meal windows that ended, end the day after local midnight, audit staff once a day. */
  tick(nowMs: number): void {
    for (const s of this.cfg.schools) {
      const { date: day, minute } = localInstant(nowMs, s.timeZone);
      for (const win of s.mealWindows) {
        const key = `meal/${s.id}/${win.id}/${day}`;
        if (minute < hhmmToMinutes(win.to) || this.closed.has(key)) continue;
        this.closed.add(key);
        const { finding } = this.canteen.close(s.id, win.id, day, nowMs);
        if (finding) this.emit(finding);
      }
      const previous = this.lastDay.get(s.id);
      this.lastDay.set(s.id, day);
      if (previous !== undefined && previous !== day) {
        for (const f of this.presence.endOfDay(s.id, previous, nowMs)) this.emit(f);
        const crossCheck = this.entranceCrossCheck(s.id, previous, nowMs);
        if (crossCheck) this.emit(crossCheck);
        for (const f of this.staff?.audit(s.id, previous, nowMs) ?? []) this.emit(f);
        this.canteen.prune(previous);
        for (const k of this.closed) if (k.endsWith(`/${previous}`)) this.closed.delete(k);
      }
    }
    this.presence.prune(nowMs);
  }

  /** Fills the timetable tables the views join with (school_time_zones, school_shifts, class_shifts, meal_windows). */
  async writeTimetable(sql: Sql): Promise<void> {
    for (const s of this.cfg.schools) {
      await sql`insert into school_time_zones (school_id, time_zone) values (${s.id}, ${s.timeZone})
        on conflict (school_id) do update set time_zone = excluded.time_zone`;
      for (const sh of s.shifts) {
        await sql`insert into school_shifts (school_id, shift_id, start_time, grace_minutes)
          values (${s.id}, ${sh.id}, ${sh.start}, ${sh.graceMinutes})
          on conflict (school_id, shift_id) do update set start_time = excluded.start_time, grace_minutes = excluded.grace_minutes`;
        for (const cls of sh.classes)
          await sql`insert into class_shifts (school_id, class, shift_id) values (${s.id}, ${cls}, ${sh.id})
            on conflict (school_id, class) do update set shift_id = excluded.shift_id`;
      }
      for (const w of s.mealWindows)
        await sql`insert into meal_windows (school_id, window_id, from_time, to_time) values (${s.id}, ${w.id}, ${w.from}, ${w.to})
          on conflict (school_id, window_id) do update set from_time = excluded.from_time, to_time = excluded.to_time`;
    }
  }

  /**
   * Turnstile entries vs people the entrance cameras saw entering, for one local day: a gap above the
   * canteen thresholds (the same share and minimum) is a `presence-mismatch` finding (subject `entrances`).
   * More seen than let in: people bypass the turnstiles; fewer: cameras miss a door, or badges are lent.
   */
  entranceCrossCheck(schoolId: string, day: string, nowMs: number): Finding | null {
    const key = `${schoolId}/${day}`;
    const d = this.daily.get(key);
    this.daily.delete(key);
    if (!d || !this.schoolsWithEntrances.has(schoolId)) return null;
    const turnstileIn = d.turnstileIn.size;
    const gap = d.cameraEntered - turnstileIn;
    const share = Math.abs(gap) / Math.max(1, turnstileIn, d.cameraEntered);
    const f = this.cfg.engine.fusion;
    if (Math.abs(gap) <= f.canteenMinGap || share <= f.canteenGapRatio) return null;
    return {
      kind: 'presence-mismatch',
      schoolId,
      subject: 'entrances',
      day,
      values: { turnstileIn, cameraEntered: d.cameraEntered, gap, gapShare: Number(share.toFixed(3)) },
      time: nowMs,
    };
  }

  private timeZoneOf(schoolId: string): string {
    return this.timeZones.get(schoolId) ?? DEFAULT_TIME_ZONE;
  }

  private dayOf(schoolId: string, timeMs: number): { turnstileIn: Set<string>; cameraEntered: number } {
    const day = localInstant(timeMs, this.timeZoneOf(schoolId)).date;
    const key = `${schoolId}/${day}`;
    let d = this.daily.get(key);
    if (!d) {
      d = { turnstileIn: new Set(), cameraEntered: 0 };
      this.daily.set(key, d);
      // Bounded: days that were never closed (engine restarted across midnight) are dropped after two more.
      for (const k of this.daily.keys())
        if (k.startsWith(`${schoolId}/`) && k < `${schoolId}/${addDays(day, -2)}`) this.daily.delete(k);
    }
    return d;
  }

  private emit(f: Finding): void {
    this.hooks.writers().findings?.enqueue(f);
    this.hooks.finding(f);
  }

  private loadStaffAudit(path: string): StaffAudit {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new KuzetError(
        'KUZET_ERR_CONFIG',
        `engine.fusion.staffRegistry: cannot read ${path}: ${errorMessage(err)}`,
      );
    }
    const registry = parseStaffRegistry(text);
    const since = localInstant(Date.now(), this.cfg.schools[0]?.timeZone ?? DEFAULT_TIME_ZONE).date;
    return new StaffAudit(registry, this.cfg.schools, {
      staffAbsentDays: this.cfg.engine.fusion.staffAbsentDays,
      minGroupSize: this.cfg.engine.fusion.minGroupSize,
      // Records start when this engine starts: nobody is absent for days the engine did not watch.
      since,
    });
  }
}
