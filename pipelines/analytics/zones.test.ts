import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { footPoint, localTime, pointInPolygon, scheduleActive, type Schedule } from './zones.js';

/** A fixed UTC+5 zone keeps the tests independent of the tz database's Almaty offset history. */
const TZ = 'Etc/GMT-5';
/** Local wall-clock time in TZ; 2026-01-05 is a Monday, 2026-01-04 a Sunday. */
const at = (local: string): number => Date.parse(`${local}+05:00`);

const afterHours: Schedule = {
  type: 'after-hours',
  open: '07:30',
  close: '19:00',
  schoolDays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
};

describe('pointInPolygon', () => {
  const square: [number, number][] = [
    [0.2, 0.2],
    [0.6, 0.2],
    [0.6, 0.6],
    [0.2, 0.6],
  ];
  it('tells inside from outside', () => {
    assert.equal(pointInPolygon(0.4, 0.4, square), true);
    assert.equal(pointInPolygon(0.1, 0.4, square), false);
    assert.equal(pointInPolygon(0.4, 0.7, square), false);
  });
  it('handles a concave polygon', () => {
    // An L shape: the notch at the top right is outside.
    const l: [number, number][] = [
      [0, 0],
      [0.5, 0],
      [0.5, 0.5],
      [1, 0.5],
      [1, 1],
      [0, 1],
    ];
    assert.equal(pointInPolygon(0.75, 0.25, l), false);
    assert.equal(pointInPolygon(0.75, 0.75, l), true);
    assert.equal(pointInPolygon(0.25, 0.25, l), true);
  });
});

describe('footPoint', () => {
  it('is the bottom centre, normalised', () => {
    assert.deepEqual(footPoint({ x1: 100, y1: 200, x2: 300, y2: 540 }, 1000, 1080), { x: 0.2, y: 0.5 });
  });
});

describe('localTime', () => {
  it('gives weekday and minute of day in the time zone', () => {
    assert.deepEqual(localTime(at('2026-01-05T00:00:00'), TZ), { day: 'mon', minute: 0 });
    assert.deepEqual(localTime(at('2026-01-04T23:59:00'), TZ), { day: 'sun', minute: 23 * 60 + 59 });
  });
  it('defaults to Asia/Almaty and rejects an unknown zone', () => {
    const t = at('2026-01-05T12:00:00');
    assert.deepEqual(localTime(t), localTime(t, 'Asia/Almaty'));
    assert.throws(() => localTime(t, 'Mars/Olympus'), RangeError);
  });
});

describe('scheduleActive', () => {
  it('always is always in force', () => {
    assert.equal(scheduleActive({ type: 'always' }, at('2026-01-05T12:00:00'), TZ), true);
  });

  it('after-hours: off exactly at open, on one minute before open', () => {
    assert.equal(scheduleActive(afterHours, at('2026-01-05T07:30:00'), TZ), false);
    assert.equal(scheduleActive(afterHours, at('2026-01-05T07:29:00'), TZ), true);
    assert.equal(scheduleActive(afterHours, at('2026-01-05T07:29:59'), TZ), true);
  });

  it('after-hours: off one minute before close, on exactly at close', () => {
    assert.equal(scheduleActive(afterHours, at('2026-01-05T18:59:00'), TZ), false);
    assert.equal(scheduleActive(afterHours, at('2026-01-05T19:00:00'), TZ), true);
  });

  it('after-hours: in force all day on a non-school day (Sunday)', () => {
    assert.equal(scheduleActive(afterHours, at('2026-01-04T12:00:00'), TZ), true);
    assert.equal(scheduleActive(afterHours, at('2026-01-04T07:30:00'), TZ), true);
  });

  it('after-hours: judged in local time, not UTC', () => {
    // 08:00 local on Monday is 03:00 UTC: school hours locally, before open in UTC.
    assert.equal(scheduleActive(afterHours, at('2026-01-05T08:00:00'), TZ), false);
    assert.equal(scheduleActive(afterHours, at('2026-01-05T08:00:00'), 'UTC'), true);
  });

  it('weekly: inside a window on its days only, to exclusive', () => {
    const s: Schedule = { type: 'weekly', windows: [{ days: ['mon', 'wed'], from: '12:00', to: '13:00' }] };
    assert.equal(scheduleActive(s, at('2026-01-05T12:00:00'), TZ), true);
    assert.equal(scheduleActive(s, at('2026-01-05T12:59:00'), TZ), true);
    assert.equal(scheduleActive(s, at('2026-01-05T13:00:00'), TZ), false);
    assert.equal(scheduleActive(s, at('2026-01-05T11:59:00'), TZ), false);
    assert.equal(scheduleActive(s, at('2026-01-06T12:30:00'), TZ), false); // Tuesday
  });

  it('weekly: a window crossing midnight belongs to the day it starts', () => {
    const s: Schedule = { type: 'weekly', windows: [{ days: ['fri'], from: '22:00', to: '06:00' }] };
    assert.equal(scheduleActive(s, at('2026-01-09T21:59:00'), TZ), false); // Friday
    assert.equal(scheduleActive(s, at('2026-01-09T22:00:00'), TZ), true);
    assert.equal(scheduleActive(s, at('2026-01-10T00:00:00'), TZ), true); // Saturday, after midnight
    assert.equal(scheduleActive(s, at('2026-01-10T05:59:00'), TZ), true);
    assert.equal(scheduleActive(s, at('2026-01-10T06:00:00'), TZ), false);
    assert.equal(scheduleActive(s, at('2026-01-10T23:00:00'), TZ), false); // Saturday night: not a window
    assert.equal(scheduleActive(s, at('2026-01-09T03:00:00'), TZ), false); // Friday early: Thursday's night
  });

  it('weekly: from == to is a whole day', () => {
    const s: Schedule = { type: 'weekly', windows: [{ days: ['sun'], from: '00:00', to: '00:00' }] };
    assert.equal(scheduleActive(s, at('2026-01-04T00:00:00'), TZ), true);
    assert.equal(scheduleActive(s, at('2026-01-04T23:59:00'), TZ), true);
    assert.equal(scheduleActive(s, at('2026-01-05T00:00:00'), TZ), false);
  });

  it('weekly: any of several windows', () => {
    const s: Schedule = {
      type: 'weekly',
      windows: [
        { days: ['mon'], from: '08:00', to: '09:00' },
        { days: ['mon'], from: '14:00', to: '15:00' },
      ],
    };
    assert.equal(scheduleActive(s, at('2026-01-05T14:30:00'), TZ), true);
    assert.equal(scheduleActive(s, at('2026-01-05T10:00:00'), TZ), false);
  });
});
