/** Scripted scanner events for the fusion tests (school in Etc/GMT-5, UTC+5 all year: deterministic). */
import type { PalmEvent, PersonRole, TurnstileEvent } from './types.js';

export const TZ = 'Etc/GMT-5';
export const SCHOOL = 'school-1';
/** Monday 2026-01-05 in the school's time zone. */
export const MONDAY = '2026-01-05';

/** Instant of a local date-time, e.g. at('2026-01-05T08:00'). */
export const at = (local: string): number => Date.parse(`${local}+05:00`);

let seq = 0;

export function turnstile(
  person: string,
  role: PersonRole,
  cls: string | null,
  direction: 'in' | 'out',
  time: number,
  gate = 'gate-main',
  schoolId = SCHOOL,
): TurnstileEvent {
  return {
    v: 1,
    kind: 'turnstile',
    schoolId,
    eventId: `t-${++seq}`,
    time,
    person,
    role,
    class: cls,
    direction,
    gate,
  };
}

export function palm(person: string, mealWindow: string, time: number, schoolId = SCHOOL): PalmEvent {
  return { v: 1, kind: 'palm', schoolId, eventId: `p-${++seq}`, time, person, class: '7B', mealWindow };
}
