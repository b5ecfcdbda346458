import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatenessBook, type LatenessSchool } from './lateness.js';
import { MONDAY, SCHOOL, TZ, at, turnstile } from './test-scans.js';

const school: LatenessSchool = {
  id: SCHOOL,
  timeZone: TZ,
  shifts: [
    { id: 'morning', start: '08:00', end: '13:00', graceMinutes: 5, classes: ['7B'] },
    { id: 'afternoon', start: '13:30', end: '18:30', graceMinutes: 10, classes: ['5A'] },
  ],
};
const mon = (hhmmss: string) => at(`${MONDAY}T${hhmmss}`);

describe('LatenessBook', () => {
  it('measures the first entry against the class shift at the grace boundary', () => {
    const b = new LatenessBook([school]);
    const a1 = b.record(turnstile('p1', 'pupil', '7B', 'in', mon('07:55:00')));
    const a2 = b.record(turnstile('p2', 'pupil', '7B', 'in', mon('08:05:59'))); // 5 min: within grace
    const a3 = b.record(turnstile('p3', 'pupil', '7B', 'in', mon('08:06:00'))); // 6 min: late
    const a4 = b.record(turnstile('p4', 'pupil', '5A', 'in', mon('13:40:00'))); // afternoon, 10 = grace
    const a5 = b.record(turnstile('p5', 'pupil', '5A', 'in', mon('13:41:00')));
    const a6 = b.record(turnstile('p6', 'pupil', '9C', 'in', mon('08:30:00'))); // unlisted: first shift
    assert.deepEqual(
      [a1, a2, a3, a4, a5, a6].map((a) => [a?.shiftId, a?.minutesLate, a?.late]),
      [
        ['morning', 0, false],
        ['morning', 5, false],
        ['morning', 6, true],
        ['afternoon', 10, false],
        ['afternoon', 11, true],
        ['morning', 30, true],
      ],
    );
    // Later passages the same day do not change the first entry; staff and 'out' are ignored.
    assert.equal(b.record(turnstile('p1', 'pupil', '7B', 'out', mon('10:00:00'))), null);
    assert.equal(b.record(turnstile('p1', 'pupil', '7B', 'in', mon('10:30:00'))), null);
    assert.equal(b.record(turnstile('s1', 'staff', null, 'in', mon('09:00:00'))), null);
    assert.deepEqual(b.summary(SCHOOL, MONDAY), [
      { class: '5A', shiftId: 'afternoon', pupils: 2, late: 1, lateShare: 0.5 },
      { class: '7B', shiftId: 'morning', pupils: 3, late: 1, lateShare: 1 / 3 },
      { class: '9C', shiftId: 'morning', pupils: 1, late: 1, lateShare: 1 },
    ]);
  });

  it('takes a late-delivered earlier entry as the first, and starts afresh each local day', () => {
    const b = new LatenessBook([school]);
    b.record(turnstile('p1', 'pupil', '7B', 'in', mon('08:20:00')));
    const earlier = b.record(turnstile('p1', 'pupil', '7B', 'in', mon('07:59:00')));
    assert.equal(earlier?.late, false);
    assert.equal(b.arrivals(SCHOOL, MONDAY).length, 1);
    const tue = b.record(turnstile('p1', 'pupil', '7B', 'in', at('2026-01-06T08:10')));
    assert.deepEqual([tue?.day, tue?.minutesLate, tue?.late], ['2026-01-06', 10, true]);
    assert.deepEqual(b.summary(SCHOOL, MONDAY), [
      { class: '7B', shiftId: 'morning', pupils: 1, late: 0, lateShare: 0 },
    ]);
  });

  it('keeps a bounded number of days', () => {
    const b = new LatenessBook([school], { retainDays: 2 });
    for (const d of ['05', '06', '07'])
      b.record(turnstile('p1', 'pupil', '7B', 'in', at(`2026-01-${d}T08:00`)));
    assert.equal(b.arrivals(SCHOOL, MONDAY).length, 0);
    assert.equal(b.arrivals(SCHOOL, '2026-01-07').length, 1);
  });
});
