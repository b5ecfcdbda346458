/**
 * Zone geometry and schedules shared by the zone analytics (intrusion, crowding, loitering).
 * Polygons are in normalised image coordinates (0..1), so a zone survives a camera's resolution change.
 */
import type { z } from 'zod';
import type { scheduleSchema, zoneSchema } from '../../engine/config/schema.js';
import type { Box, Track } from './types.js';

export type Zone = z.infer<typeof zoneSchema>;
export type Schedule = z.infer<typeof scheduleSchema>;
export type Weekday = Extract<Schedule, { type: 'after-hours' }>['schoolDays'][number];
export type Polygon = readonly (readonly [number, number])[];

/** Schools of the first deployments are in Kazakhstan; a school elsewhere passes its own IANA zone. */
export const DEFAULT_TIME_ZONE = 'Asia/Almaty';

/** Even-odd ray casting; a point exactly on an edge may fall either way (irrelevant at pixel resolution). */
export function pointInPolygon(x: number, y: number, polygon: Polygon): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i];
    const [xj, yj] = polygon[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * Bottom-centre of a box, normalised: where the person stands. Zones are drawn on the floor, so a person
 * standing beside a zone whose upper body overlaps it in the image is correctly outside.
 */
export function footPoint(box: Box, width: number, height: number): { x: number; y: number } {
  return { x: (box.x1 + box.x2) / 2 / width, y: box.y2 / height };
}

/** True when the track's foot point lies inside the zone's polygon. */
export function trackInZone(track: Track, zone: Zone, width: number, height: number): boolean {
  const foot = footPoint(track.box, width, height);
  return pointInPolygon(foot.x, foot.y, zone.polygon);
}

const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** Intl formatters are costly to build and this runs per zone per frame: one per time zone. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // Throws RangeError for an unknown zone: analytics call this in their constructor to fail at start-up.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Local weekday and minute of the day (0..1439) at an instant, in the given IANA time zone. */
/** The school's time zone (default Asia/Almaty), checked now so an unknown one fails at start-up, not on the first frame. */
export function checkedTimeZone(timeZone: string | undefined): string {
  const tz = timeZone ?? DEFAULT_TIME_ZONE;
  localTime(0, tz);
  return tz;
}

/** The zones whose schedule is in force at `timeMs`. */
export function activeZones(zones: readonly Zone[], timeMs: number, timeZone: string): Zone[] {
  return zones.filter((z) => scheduleActive(z.schedule, timeMs, timeZone));
}

export function localTime(
  timeMs: number,
  timeZone: string = DEFAULT_TIME_ZONE,
): { day: Weekday; minute: number } {
  let day: Weekday = 'sun';
  let hour = 0;
  let minute = 0;
  for (const part of formatterFor(timeZone).formatToParts(timeMs)) {
    if (part.type === 'weekday') day = WEEKDAYS.find((d) => d === part.value.toLowerCase()) ?? day;
    else if (part.type === 'hour')
      hour = Number(part.value) % 24; // some ICU builds print midnight as 24
    else if (part.type === 'minute') minute = Number(part.value);
  }
  return { day, minute: hour * 60 + minute };
}

function toMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

function previousDay(day: Weekday): Weekday {
  return WEEKDAYS[(WEEKDAYS.indexOf(day) + 6) % 7];
}

/**
 * Is the zone's rule in force at this instant, in the school's local time?
 * - always: yes.
 * - after-hours: outside [open, close) on school days, all day on other days. open > close is read as
 *   hours crossing midnight on the same calendar day; open == close means no open hours (always in force).
 * - weekly: inside any window [from, to) on one of its days. from > to crosses midnight: the part after
 *   midnight belongs to the day the window started. from == to is a whole 24 h from `from` (so
 *   00:00-00:00 is "all day", since the config cannot say 24:00).
 */
export function scheduleActive(
  schedule: Schedule,
  timeMs: number,
  timeZone: string = DEFAULT_TIME_ZONE,
): boolean {
  if (schedule.type === 'always') return true;
  const { day, minute } = localTime(timeMs, timeZone);
  if (schedule.type === 'after-hours') {
    if (!schedule.schoolDays.includes(day)) return true;
    const open = toMinutes(schedule.open);
    const close = toMinutes(schedule.close);
    const schoolHours = open <= close ? minute >= open && minute < close : minute >= open || minute < close;
    return !schoolHours;
  }
  return schedule.windows.some((w) => {
    const from = toMinutes(w.from);
    const to = toMinutes(w.to);
    if (from < to) return w.days.includes(day) && minute >= from && minute < to;
    return (w.days.includes(day) && minute >= from) || (w.days.includes(previousDay(day)) && minute < to);
  });
}
