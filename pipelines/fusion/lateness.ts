/**
 * Lateness from Face-ID turnstiles: a pupil's first 'in' of the local day against the start of their
 * class's shift (the shift listing the class, else the school's first shift). Pure: no clock of its own.
 */
import type { SchoolConfig } from '../../engine/config/schema.js';
import type { TurnstileEvent } from './types.js';
import { hhmmToMinutes, localInstant } from './local-date.js';

export type LatenessSchool = Pick<SchoolConfig, 'id' | 'timeZone' | 'shifts'>;

export interface LatenessOptions {
  /** Local days kept per school (default 7); older days are dropped when a newer one starts. */
  retainDays?: number;
}

export interface PupilArrival {
  schoolId: string;
  person: string;
  /** Class as the turnstile reported it; '' when it gave none. */
  class: string;
  shiftId: string;
  /** Local date, YYYY-MM-DD. */
  day: string;
  firstInMs: number;
  /** Whole minutes after the shift start (seconds dropped: 08:05:59 is 5); 0 when on time or early. */
  minutesLate: number;
  /** minutesLate > the shift's graceMinutes. */
  late: boolean;
}

export interface ClassLateness {
  class: string;
  shiftId: string;
  pupils: number;
  late: number;
  /** late / pupils (0 when no pupils). */
  lateShare: number;
}

interface SchoolState {
  school: LatenessSchool;
  /** day → person → arrival. */
  days: Map<string, Map<string, PupilArrival>>;
}

export class LatenessBook {
  private readonly schools = new Map<string, SchoolState>();
  private readonly retainDays: number;

  constructor(schools: readonly LatenessSchool[], opts: LatenessOptions = {}) {
    for (const s of schools) {
      localInstant(0, s.timeZone); // unknown time zone: fail at start-up
      this.schools.set(s.id, { school: s, days: new Map() });
    }
    this.retainDays = opts.retainDays ?? 7;
  }

  /**
   * Feeds one turnstile passage. Returns the pupil's arrival when this passage is (so far) their first
   * 'in' of the local day, else null (staff, 'out', later entries, unknown school, school without shifts).
   * A late-delivered earlier 'in' replaces the recorded one.
   */
  record(ev: TurnstileEvent): PupilArrival | null {
    if (ev.role !== 'pupil' || ev.direction !== 'in') return null;
    const state = this.schools.get(ev.schoolId);
    if (!state || state.school.shifts.length === 0) return null;
    const { date, minute } = localInstant(ev.time, state.school.timeZone);
    let day = state.days.get(date);
    if (!day) {
      day = new Map();
      state.days.set(date, day);
      this.prune(state);
    }
    const prev = day.get(ev.person);
    if (prev && prev.firstInMs <= ev.time) return null;
    const cls = ev.class ?? '';
    const shift = state.school.shifts.find((s) => s.classes.includes(cls)) ?? state.school.shifts[0];
    const minutesLate = Math.max(0, minute - hhmmToMinutes(shift.start));
    const arrival: PupilArrival = {
      schoolId: ev.schoolId,
      person: ev.person,
      class: cls,
      shiftId: shift.id,
      day: date,
      firstInMs: ev.time,
      minutesLate,
      late: minutesLate > shift.graceMinutes,
    };
    day.set(ev.person, arrival);
    return arrival;
  }

  /** Arrivals of a local day, by class then first entry. */
  arrivals(schoolId: string, day: string): PupilArrival[] {
    const d = this.schools.get(schoolId)?.days.get(day);
    if (!d) return [];
    return [...d.values()].sort((a, b) => a.class.localeCompare(b.class) || a.firstInMs - b.firstInMs);
  }

  /** Per-class summary of a local day, sorted by class. Only pupils who entered count (absence is not lateness). */
  summary(schoolId: string, day: string): ClassLateness[] {
    const byClass = new Map<string, ClassLateness>();
    for (const a of this.arrivals(schoolId, day)) {
      let c = byClass.get(a.class);
      if (!c) {
        c = { class: a.class, shiftId: a.shiftId, pupils: 0, late: 0, lateShare: 0 };
        byClass.set(a.class, c);
      }
      c.pupils++;
      if (a.late) c.late++;
    }
    for (const c of byClass.values()) c.lateShare = c.pupils === 0 ? 0 : c.late / c.pupils;
    return [...byClass.values()];
  }

  private prune(state: SchoolState): void {
    const days = [...state.days.keys()].sort();
    for (const d of days.slice(0, Math.max(0, days.length - this.retainDays))) state.days.delete(d);
  }
}
