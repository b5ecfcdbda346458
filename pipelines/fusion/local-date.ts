/**
 * Local calendar helpers for the fusion units: turnstile, canteen and staff records are reckoned per local
 * school day (a YYYY-MM-DD date in the school's IANA time zone), not per UTC day.
 */
import { localTime, type Weekday } from '../analytics/zones.js';

/** Intl formatters are costly to build: one per time zone. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function dateFormatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // Throws RangeError for an unknown zone, so a unit built with one fails at start-up.
    f = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, f);
  }
  return f;
}

export interface LocalInstant {
  /** Local calendar date, YYYY-MM-DD. */
  date: string;
  weekday: Weekday;
  /** Minute of the local day, 0..1439 (seconds dropped). */
  minute: number;
}

/** Local date, weekday and minute of an instant in the given IANA time zone. */
export function localInstant(timeMs: number, timeZone: string): LocalInstant {
  let year = '';
  let month = '';
  let day = '';
  for (const part of dateFormatter(timeZone).formatToParts(timeMs)) {
    if (part.type === 'year') year = part.value;
    else if (part.type === 'month') month = part.value;
    else if (part.type === 'day') day = part.value;
  }
  const { day: weekday, minute } = localTime(timeMs, timeZone);
  return { date: `${year}-${month}-${day}`, weekday, minute };
}

/** "HH:MM" → minute of the day. */
export function hhmmToMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

function dateToUtcMs(date: string): number {
  if (!DATE_RE.test(date)) throw new RangeError(`not a YYYY-MM-DD date: "${date}"`);
  const ms = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(ms)) throw new RangeError(`not a YYYY-MM-DD date: "${date}"`);
  return ms;
}

/** Calendar arithmetic on a YYYY-MM-DD date (no time zone involved). */
export function addDays(date: string, days: number): string {
  return new Date(dateToUtcMs(date) + days * 86_400_000).toISOString().slice(0, 10);
}

const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** Weekday of a calendar date. */
export function weekdayOf(date: string): Weekday {
  return WEEKDAYS[new Date(dateToUtcMs(date)).getUTCDay()];
}

/** Monday to Friday. */
export function isWorkingDay(date: string): boolean {
  const d = weekdayOf(date);
  return d !== 'sat' && d !== 'sun';
}
