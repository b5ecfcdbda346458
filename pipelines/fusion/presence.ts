/**
 * Who is in the building now, from Face-ID turnstile passages: per school, the latest direction of each
 * person within the current local day. A new local day starts everyone "out" (nobody carries a missing
 * 'out' over midnight). Pure and deterministic: the caller passes the clock.
 */
import type { Finding, PersonRole, TurnstileEvent } from './types.js';
import { localInstant } from './local-date.js';

export interface PresenceBookOptions {
  /** IANA time zone of a school (its config `timeZone`). */
  timeZoneOf: (schoolId: string) => string;
  /** A person with no passage for this long is forgotten (default 2 days). */
  forgetAfterMs?: number;
}

export const PRESENCE_DEFAULTS = { forgetAfterMs: 2 * 86_400_000 } as const;

export interface PresenceCount {
  role: PersonRole;
  /** Class of pupils; null for staff. */
  class: string | null;
  /** People of this role and class whose latest passage today is 'in'. */
  present: number;
}

interface Passage {
  date: string;
  time: number;
  direction: 'in' | 'out';
  gate: string;
}

interface PersonState {
  schoolId: string;
  role: PersonRole;
  class: string | null;
  /** Latest passage (by event time) of the person's latest local day. */
  last: Passage;
  /** Latest passage of the local day before `last.date`'s, kept so a late endOfDay still reconciles it. */
  previous: Passage | null;
}

const key = (schoolId: string, person: string): string => `${schoolId}\u0000${person}`;

/**
 * Latest passage wins by event time (a redelivered or late older passage does not overwrite a newer one;
 * equal times: the one recorded last wins). Memory is bounded: persons with no passage for forgetAfterMs
 * are dropped, checked at most once per simulated hour of event time.
 */
export class PresenceBook {
  private readonly persons = new Map<string, PersonState>();
  private readonly forgetAfterMs: number;
  private lastPruneMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: PresenceBookOptions) {
    this.forgetAfterMs = opts.forgetAfterMs ?? PRESENCE_DEFAULTS.forgetAfterMs;
  }

  /** Number of persons held (for metrics and the memory bound). */
  get size(): number {
    return this.persons.size;
  }

  record(ev: TurnstileEvent): void {
    const date = localInstant(ev.time, this.opts.timeZoneOf(ev.schoolId)).date;
    const passage: Passage = { date, time: ev.time, direction: ev.direction, gate: ev.gate };
    const k = key(ev.schoolId, ev.person);
    const state = this.persons.get(k);
    if (!state) {
      this.persons.set(k, {
        schoolId: ev.schoolId,
        role: ev.role,
        class: ev.class,
        last: passage,
        previous: null,
      });
    } else if (ev.time >= state.last.time) {
      if (date !== state.last.date) state.previous = state.last;
      state.last = passage;
      state.role = ev.role;
      state.class = ev.class;
    } else if (date === state.last.date) {
      // Older passage of the current day: already superseded.
    } else if (state.previous === null || ev.time >= state.previous.time) {
      // Late passage of an earlier day: it may still close that day.
      state.previous = passage;
    }
    if (ev.time - this.lastPruneMs >= 3_600_000) this.prune(ev.time);
  }

  /** Drops persons with no passage since nowMs - forgetAfterMs. */
  prune(nowMs: number): void {
    this.lastPruneMs = nowMs;
    for (const [k, s] of this.persons) if (nowMs - s.last.time > this.forgetAfterMs) this.persons.delete(k);
  }

  /** Is the person in the building at nowMs (latest passage today is 'in')? */
  isIn(schoolId: string, person: string, nowMs: number): boolean {
    const s = this.persons.get(key(schoolId, person));
    if (!s) return false;
    const today = localInstant(nowMs, this.opts.timeZoneOf(schoolId)).date;
    return s.last.date === today && s.last.direction === 'in';
  }

  /**
   * Presence per role and class at nowMs, sorted (pupils by class, then staff). Lists every role/class
   * seen today, with 0 when all of them have left, so a dashboard shows the class rather than dropping it.
   */
  counts(schoolId: string, nowMs: number): PresenceCount[] {
    const today = localInstant(nowMs, this.opts.timeZoneOf(schoolId)).date;
    const groups = new Map<string, PresenceCount>();
    for (const s of this.persons.values()) {
      if (s.schoolId !== schoolId || s.last.date !== today) continue;
      const cls = s.role === 'staff' ? null : s.class;
      const g = `${s.role}\u0000${cls ?? ''}`;
      let c = groups.get(g);
      if (!c) {
        c = { role: s.role, class: cls, present: 0 };
        groups.set(g, c);
      }
      if (s.last.direction === 'in') c.present++;
    }
    const roleOrder = (r: PersonRole) => (r === 'pupil' ? 0 : 1);
    return [...groups.values()].sort(
      (a, b) => roleOrder(a.role) - roleOrder(b.role) || (a.class ?? '').localeCompare(b.class ?? ''),
    );
  }

  /** Staff of the school in the building at nowMs. */
  staffIn(schoolId: string, nowMs: number): number {
    return this.counts(schoolId, nowMs)
      .filter((c) => c.role === 'staff')
      .reduce((n, c) => n + c.present, 0);
  }

  /**
   * Reconciliation of a closed local day (YYYY-MM-DD): people whose last passage that day was 'in' (no
   * matching 'out'). One `presence-mismatch` Finding per gate of that last 'in', with counts only
   * ({ missingOut, pupils, staff }), never pseudonyms: a gate that piles up missing 'out's points at a
   * turnstile that misses exits (or a door used to bypass it), which is what facilities can act on; who
   * stayed is attendance data for those entitled, not a finding. Call it after the day has ended (e.g. at
   * 00:05 local time); it works as long as the people are not forgotten (within forgetAfterMs) and at most
   * one newer day has started for them.
   */
  endOfDay(schoolId: string, day: string, nowMs: number): Finding[] {
    const byGate = new Map<string, { pupils: number; staff: number }>();
    for (const s of this.persons.values()) {
      if (s.schoolId !== schoolId) continue;
      const p = s.last.date === day ? s.last : s.previous?.date === day ? s.previous : null;
      if (!p || p.direction !== 'in') continue;
      let g = byGate.get(p.gate);
      if (!g) {
        g = { pupils: 0, staff: 0 };
        byGate.set(p.gate, g);
      }
      if (s.role === 'staff') g.staff++;
      else g.pupils++;
    }
    return [...byGate.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([gate, g]) => ({
        kind: 'presence-mismatch' as const,
        schoolId,
        subject: gate,
        day,
        values: { missingOut: g.pupils + g.staff, pupils: g.pupils, staff: g.staff },
        time: nowMs,
      }));
  }
}
