/**
 * Alarm candidates from scanner and sensor events (panic buttons, air quality, fire), shaped like the video
 * analytics' candidates so the alarm state machine handles them the same way, and the after-hours
 * intrusion rule that fuses turnstile presence with what the cameras see. Pure functions.
 */
import type { CameraConfig } from '../../engine/config/schema.js';
import type { AlarmCandidate, AlarmKind } from '../analytics/types.js';
import { DEFAULT_TIME_ZONE, scheduleActive, type Schedule } from '../analytics/zones.js';
import type { PresenceBook } from './presence.js';
import type { AirEvent, FireEvent, PanicEvent, ScanEvent } from './types.js';

export type FusionAlarmKind = Extract<AlarmKind, 'panic' | 'air-quality' | 'fire'>;
export type FusionAlarmCandidate = AlarmCandidate & { kind: FusionAlarmKind };

export interface SensorAlarm {
  candidate: FusionAlarmCandidate;
  /** Cameras in the event's room (sorted): evidence comes from them. */
  cameras: string[];
  /** Whether the engine should boost sampling on `cameras` (panic and fire: yes; air quality: no). */
  boost: boolean;
}

export interface AirThresholds {
  co2Ppm: number;
  pm25: number;
  maxTemperatureC: number;
}

/** Room → camera ids (sorted), from a school's cameras; cameras without a room are left out. */
export function camerasByRoom(cameras: readonly Pick<CameraConfig, 'id' | 'room'>[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const c of cameras) {
    if (c.room === undefined) continue;
    const list = out.get(c.room) ?? [];
    list.push(c.id);
    out.set(c.room, list);
  }
  for (const list of out.values()) list.sort();
  return out;
}

/**
 * The candidate's cameraId is the room's first camera (so the alarm's evidence id `<school>/<camera>/<seq>`
 * points at a real camera), or `<kind>-<device>` when the room has none. evidenceSeq is -1: no frame yet;
 * the engine attaches one from the (boosted) room cameras. zoneId is null (a room is not a camera zone);
 * the room is in the cues. trackIds is [], score 1 (a device signal, not an inference).
 */
function candidate(
  kind: FusionAlarmKind,
  severity: AlarmCandidate['severity'],
  ev: PanicEvent | AirEvent | FireEvent,
  device: string,
  cameras: string[],
  cues: AlarmCandidate['cues'],
): FusionAlarmCandidate {
  return {
    kind,
    severity,
    schoolId: ev.schoolId,
    cameraId: cameras[0] ?? `${kind}-${device}`,
    zoneId: null,
    trackIds: [],
    score: 1,
    cues,
    timeMs: ev.time,
    evidenceSeq: -1,
  };
}

/** Panic button: always a critical 'panic' candidate for its room; the room's cameras are boosted. */
export function panicAlarm(ev: PanicEvent, rooms: ReadonlyMap<string, readonly string[]>): SensorAlarm {
  const cameras = [...(rooms.get(ev.room) ?? [])];
  return {
    candidate: candidate('panic', 'critical', ev, ev.button, cameras, { button: ev.button, room: ev.room }),
    cameras,
    boost: true,
  };
}

/**
 * Air reading: an 'air-quality' candidate when any of CO2, PM2.5 or temperature is above its threshold
 * (strictly); severity medium, high when CO2 is above twice its threshold. Cues carry all the readings
 * and `over` (the names of the readings above threshold, comma-separated). null when all are fine.
 */
export function airAlarm(
  ev: AirEvent,
  thresholds: AirThresholds,
  rooms: ReadonlyMap<string, readonly string[]>,
): SensorAlarm | null {
  const over: string[] = [];
  if (ev.co2Ppm > thresholds.co2Ppm) over.push('co2Ppm');
  if (ev.pm25 > thresholds.pm25) over.push('pm25');
  if (ev.temperatureC > thresholds.maxTemperatureC) over.push('temperatureC');
  if (over.length === 0) return null;
  const cameras = [...(rooms.get(ev.room) ?? [])];
  const severity = ev.co2Ppm > 2 * thresholds.co2Ppm ? 'high' : 'medium';
  return {
    candidate: candidate('air-quality', severity, ev, ev.sensor, cameras, {
      sensor: ev.sensor,
      room: ev.room,
      co2Ppm: ev.co2Ppm,
      pm25: ev.pm25,
      temperatureC: ev.temperatureC,
      humidityPct: ev.humidityPct,
      over: over.join(','),
    }),
    cameras,
    boost: false,
  };
}

/**
 * Fire detector: 'alarm' → a critical 'fire' candidate (room cameras boosted). 'clear' → null: the alarm
 * state machine resolves the alarm when no new candidate comes within its resolveAfterMs. 'fault' → null
 * here: a failed detector is a device-health matter, not a fire.
 */
export function fireAlarm(ev: FireEvent, rooms: ReadonlyMap<string, readonly string[]>): SensorAlarm | null {
  if (ev.state !== 'alarm') return null;
  const cameras = [...(rooms.get(ev.room) ?? [])];
  return {
    candidate: candidate('fire', 'critical', ev, ev.sensor, cameras, { sensor: ev.sensor, room: ev.room }),
    cameras,
    boost: true,
  };
}

/** Dispatches any scan event; turnstile and palm events raise no alarm (null). */
export function sensorAlarm(
  ev: ScanEvent,
  thresholds: AirThresholds,
  rooms: ReadonlyMap<string, readonly string[]>,
): SensorAlarm | null {
  switch (ev.kind) {
    case 'panic':
      return panicAlarm(ev, rooms);
    case 'air':
      return airAlarm(ev, thresholds, rooms);
    case 'fire':
      return fireAlarm(ev, rooms);
    default:
      return null;
  }
}

/**
 * "A person in a restricted zone after hours with no staff turnstile entry": raises an intrusion
 * candidate to critical when its zone has an after-hours schedule in force at the candidate's time and no
 * staff member of the school is 'in' per the PresenceBook. Returns a new candidate with cues
 * `afterHours: true, staffIn: 0` added; otherwise the candidate unchanged (the same object). Zones with
 * 'always' or 'weekly' schedules have no notion of hours, so they are never raised by this rule.
 */
export function afterHoursIntrusionSeverity(
  c: AlarmCandidate,
  presence: Pick<PresenceBook, 'staffIn'>,
  zone: { schedule: Schedule } | undefined,
  timeZone: string = DEFAULT_TIME_ZONE,
): AlarmCandidate {
  if (c.kind !== 'intrusion' || c.severity === 'critical' || zone?.schedule.type !== 'after-hours') return c;
  if (!scheduleActive(zone.schedule, c.timeMs, timeZone)) return c;
  if (presence.staffIn(c.schoolId, c.timeMs) > 0) return c;
  return { ...c, severity: 'critical', cues: { ...c.cues, afterHours: true, staffIn: 0 } };
}
