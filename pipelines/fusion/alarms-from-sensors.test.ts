import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AlarmCandidate } from '../analytics/types.js';
import {
  afterHoursIntrusionSeverity,
  airAlarm,
  camerasByRoom,
  fireAlarm,
  panicAlarm,
  sensorAlarm,
} from './alarms-from-sensors.js';
import { PresenceBook } from './presence.js';
import { MONDAY, SCHOOL, TZ, at, turnstile } from './test-scans.js';
import type { AirEvent, FireEvent, PanicEvent } from './types.js';

const rooms = camerasByRoom([
  { id: 'cam-204-b', room: '204' },
  { id: 'cam-204-a', room: '204' },
  { id: 'cam-lib', room: 'library' },
  { id: 'cam-yard' },
]);
const T = at(`${MONDAY}T10:00`);
const base = { v: 1 as const, schoolId: SCHOOL, eventId: 'e1', time: T };
const THRESHOLDS = { co2Ppm: 1500, pm25: 35, maxTemperatureC: 30 };
const air = (co2Ppm: number, pm25 = 10, temperatureC = 22): AirEvent => ({
  ...base,
  kind: 'air',
  sensor: 'air-lib',
  room: 'library',
  co2Ppm,
  pm25,
  temperatureC,
  humidityPct: 40,
});

describe('sensor alarms', () => {
  it('maps rooms to sorted camera ids', () => {
    assert.deepEqual(
      [...rooms],
      [
        ['204', ['cam-204-a', 'cam-204-b']],
        ['library', ['cam-lib']],
      ],
    );
  });

  it('panic → critical candidate for the room with its cameras to boost', () => {
    const ev: PanicEvent = { ...base, kind: 'panic', button: 'btn-7', room: '204' };
    assert.deepEqual(panicAlarm(ev, rooms), {
      candidate: {
        kind: 'panic',
        severity: 'critical',
        schoolId: SCHOOL,
        cameraId: 'cam-204-a',
        zoneId: null,
        trackIds: [],
        score: 1,
        cues: { button: 'btn-7', room: '204' },
        timeMs: T,
        evidenceSeq: -1,
      },
      cameras: ['cam-204-a', 'cam-204-b'],
      boost: true,
    });
    const noCam = panicAlarm({ ...ev, room: 'attic' }, rooms);
    assert.equal(noCam.candidate.cameraId, 'panic-btn-7');
    assert.deepEqual(noCam.cameras, []);
  });

  it('air: nothing at the thresholds, medium above, high above twice the CO2 threshold', () => {
    assert.equal(airAlarm(air(1500, 35, 30), THRESHOLDS, rooms), null);
    const pm = airAlarm(air(800, 36), THRESHOLDS, rooms);
    assert.equal(pm?.candidate.severity, 'medium');
    assert.equal(pm?.candidate.cues.over, 'pm25');
    const co2 = airAlarm(air(3000), THRESHOLDS, rooms);
    assert.equal(co2?.candidate.severity, 'medium'); // 2x exactly is not above 2x
    const high = airAlarm(air(3001, 50, 31), THRESHOLDS, rooms);
    assert.equal(high?.candidate.kind, 'air-quality');
    assert.equal(high?.candidate.severity, 'high');
    assert.equal(high?.boost, false);
    assert.deepEqual(high?.candidate.cues, {
      sensor: 'air-lib',
      room: 'library',
      co2Ppm: 3001,
      pm25: 50,
      temperatureC: 31,
      humidityPct: 40,
      over: 'co2Ppm,pm25,temperatureC',
    });
  });

  it('fire alarm → critical; clear and fault → nothing', () => {
    const ev: FireEvent = { ...base, kind: 'fire', sensor: 'smoke-3', room: 'library', state: 'alarm' };
    const fire = fireAlarm(ev, rooms);
    assert.deepEqual(
      [fire?.candidate.kind, fire?.candidate.severity, fire?.candidate.cameraId, fire?.boost],
      ['fire', 'critical', 'cam-lib', true],
    );
    assert.equal(fireAlarm({ ...ev, state: 'clear' }, rooms), null);
    assert.equal(fireAlarm({ ...ev, state: 'fault' }, rooms), null);
    assert.equal(sensorAlarm({ ...ev }, THRESHOLDS, rooms)?.candidate.kind, 'fire');
    assert.equal(sensorAlarm(turnstile('p1', 'pupil', '7B', 'in', T), THRESHOLDS, rooms), null);
  });
});

describe('afterHoursIntrusionSeverity', () => {
  const zone = {
    schedule: { type: 'after-hours' as const, open: '07:00', close: '19:00', schoolDays: ['mon' as const] },
  };
  const night = at(`${MONDAY}T21:00`);
  const intrusion = (timeMs: number): AlarmCandidate => ({
    kind: 'intrusion',
    severity: 'high',
    schoolId: SCHOOL,
    cameraId: 'cam-attic',
    zoneId: 'attic',
    trackIds: [3],
    score: 0.9,
    cues: { dwellS: 2 },
    timeMs,
    evidenceSeq: 12,
  });

  it('raises to critical after hours when no staff is in', () => {
    const presence = new PresenceBook({ timeZoneOf: () => TZ });
    presence.record(turnstile('s1', 'staff', null, 'in', at(`${MONDAY}T07:30`)));
    presence.record(turnstile('s1', 'staff', null, 'out', at(`${MONDAY}T18:00`)));
    presence.record(turnstile('p1', 'pupil', '7B', 'in', at(`${MONDAY}T20:00`))); // a pupil is no staff
    const raised = afterHoursIntrusionSeverity(intrusion(night), presence, zone, TZ);
    assert.equal(raised.severity, 'critical');
    assert.deepEqual(raised.cues, { dwellS: 2, afterHours: true, staffIn: 0 });
  });

  it('leaves it when staff is in, in school hours, or for other zones and kinds', () => {
    const presence = new PresenceBook({ timeZoneOf: () => TZ });
    presence.record(turnstile('s1', 'staff', null, 'in', at(`${MONDAY}T20:30`))); // night guard
    const c = intrusion(night);
    assert.equal(afterHoursIntrusionSeverity(c, presence, zone, TZ), c);
    const empty = new PresenceBook({ timeZoneOf: () => TZ });
    const day = intrusion(at(`${MONDAY}T12:00`));
    assert.equal(afterHoursIntrusionSeverity(day, empty, zone, TZ), day);
    assert.equal(afterHoursIntrusionSeverity(c, empty, { schedule: { type: 'always' } }, TZ), c);
    assert.equal(afterHoursIntrusionSeverity(c, empty, undefined, TZ), c);
    const loiter = { ...c, kind: 'loitering' as const };
    assert.equal(afterHoursIntrusionSeverity(loiter, empty, zone, TZ), loiter);
  });
});
