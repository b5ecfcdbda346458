import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addDays, hhmmToMinutes, isWorkingDay, localInstant, weekdayOf } from './local-date.js';

describe('local-date', () => {
  it('gives the local date, weekday and minute in the school time zone', () => {
    // 2026-01-05 19:30 UTC is already Tuesday 00:30 in Etc/GMT-5 (UTC+5).
    assert.deepEqual(localInstant(Date.parse('2026-01-05T19:30:00Z'), 'Etc/GMT-5'), {
      date: '2026-01-06',
      weekday: 'tue',
      minute: 30,
    });
    assert.deepEqual(localInstant(Date.parse('2026-01-05T08:05:59+05:00'), 'Etc/GMT-5'), {
      date: '2026-01-05',
      weekday: 'mon',
      minute: 8 * 60 + 5,
    });
  });

  it('does calendar arithmetic and working days', () => {
    assert.equal(addDays('2026-01-05', 1), '2026-01-06');
    assert.equal(addDays('2026-03-01', -1), '2026-02-28');
    assert.equal(weekdayOf('2026-01-05'), 'mon');
    assert.equal(isWorkingDay('2026-01-09'), true);
    assert.equal(isWorkingDay('2026-01-10'), false);
    assert.equal(hhmmToMinutes('08:30'), 510);
    assert.throws(() => addDays('2026-1-5', 1), /YYYY-MM-DD/);
  });

  it('rejects an unknown time zone', () => {
    assert.throws(() => localInstant(0, 'Mars/Olympus'), RangeError);
  });
});
