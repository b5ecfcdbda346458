import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PresenceBook } from './presence.js';
import { MONDAY, SCHOOL, TZ, at, turnstile } from './test-scans.js';

const book = () => new PresenceBook({ timeZoneOf: () => TZ });
const mon = (hhmm: string) => at(`${MONDAY}T${hhmm}`);

describe('PresenceBook', () => {
  it('counts who is in per role and class after arrivals and departures', () => {
    const b = book();
    b.record(turnstile('p1', 'pupil', '7B', 'in', mon('07:50')));
    b.record(turnstile('p2', 'pupil', '7B', 'in', mon('07:55')));
    b.record(turnstile('p3', 'pupil', '5A', 'in', mon('07:58')));
    b.record(turnstile('s1', 'staff', null, 'in', mon('07:30')));
    b.record(turnstile('s2', 'staff', null, 'in', mon('07:40')));
    b.record(turnstile('x1', 'pupil', '5A', 'in', mon('08:00'), 'gate-main', 'school-2'));
    assert.deepEqual(b.counts(SCHOOL, mon('09:00')), [
      { role: 'pupil', class: '5A', present: 1 },
      { role: 'pupil', class: '7B', present: 2 },
      { role: 'staff', class: null, present: 2 },
    ]);
    // p2 leaves at noon, p3 leaves and comes back, s2 leaves.
    b.record(turnstile('p2', 'pupil', '7B', 'out', mon('12:00')));
    b.record(turnstile('p3', 'pupil', '5A', 'out', mon('12:10')));
    b.record(turnstile('p3', 'pupil', '5A', 'in', mon('12:40')));
    b.record(turnstile('s2', 'staff', null, 'out', mon('13:00')));
    assert.deepEqual(b.counts(SCHOOL, mon('13:30')), [
      { role: 'pupil', class: '5A', present: 1 },
      { role: 'pupil', class: '7B', present: 1 },
      { role: 'staff', class: null, present: 1 },
    ]);
    assert.equal(b.staffIn(SCHOOL, mon('13:30')), 1);
    assert.equal(b.isIn(SCHOOL, 'p2', mon('13:30')), false);
    assert.equal(b.isIn(SCHOOL, 'p3', mon('13:30')), true);
    assert.deepEqual(b.counts('school-2', mon('13:30')), [{ role: 'pupil', class: '5A', present: 1 }]);
  });

  it('keeps the latest passage by event time when an older one arrives late', () => {
    const b = book();
    b.record(turnstile('p1', 'pupil', '7B', 'out', mon('15:00')));
    b.record(turnstile('p1', 'pupil', '7B', 'in', mon('08:00'))); // redelivered morning entry
    assert.equal(b.isIn(SCHOOL, 'p1', mon('15:30')), false);
  });

  it('resets at the new local day and reconciles missing outs per gate', () => {
    const b = book();
    b.record(turnstile('p1', 'pupil', '7B', 'in', mon('07:50'), 'gate-north'));
    b.record(turnstile('p2', 'pupil', '7B', 'in', mon('07:55'), 'gate-north'));
    b.record(turnstile('p2', 'pupil', '7B', 'out', mon('14:00'), 'gate-north'));
    b.record(turnstile('p3', 'pupil', '5A', 'in', mon('08:00'), 'gate-south'));
    b.record(turnstile('s1', 'staff', null, 'in', mon('07:30'), 'gate-north'));
    // Tuesday 00:01: nobody carried over.
    const tue = at('2026-01-06T00:01');
    assert.deepEqual(
      b.counts(SCHOOL, tue).map((c) => c.present),
      [],
    );
    assert.equal(b.staffIn(SCHOOL, tue), 0);
    // p1 is back on Tuesday before the reconciliation runs: Monday still reconciles.
    b.record(turnstile('p1', 'pupil', '7B', 'in', at('2026-01-06T07:45'), 'gate-south'));
    assert.deepEqual(b.endOfDay(SCHOOL, MONDAY, tue), [
      {
        kind: 'presence-mismatch',
        schoolId: SCHOOL,
        subject: 'gate-north',
        day: MONDAY,
        values: { missingOut: 2, pupils: 1, staff: 1 },
        time: tue,
      },
      {
        kind: 'presence-mismatch',
        schoolId: SCHOOL,
        subject: 'gate-south',
        day: MONDAY,
        values: { missingOut: 1, pupils: 1, staff: 0 },
        time: tue,
      },
    ]);
    assert.equal(b.endOfDay(SCHOOL, '2026-01-06', at('2026-01-07T00:05')).length, 1);
  });

  it('forgets persons not seen for two days', () => {
    const b = book();
    b.record(turnstile('p1', 'pupil', '7B', 'in', mon('08:00')));
    b.record(turnstile('p2', 'pupil', '7B', 'in', at('2026-01-07T07:59')));
    assert.equal(b.size, 2);
    b.record(turnstile('p2', 'pupil', '7B', 'out', at('2026-01-07T09:00')));
    assert.equal(b.size, 1);
  });
});
