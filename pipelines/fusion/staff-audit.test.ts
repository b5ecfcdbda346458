import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StaffAudit, parseStaffRegistry } from './staff-audit.js';
import { SCHOOL, TZ, at, turnstile } from './test-scans.js';

const CSV = [
  'pseudonym,school,role,contractedHours',
  's1,school-1,teacher,36',
  's2,school-1,teacher,18',
  's3,school-1,cook,40',
  '"s4",school-1,"guard, night",40',
  's5,school-2,teacher,36',
  '',
].join('\r\n');

const schools = [
  { id: SCHOOL, timeZone: TZ },
  { id: 'school-2', timeZone: TZ },
];
// Records start Monday 2026-01-05; audit through Friday 2026-01-16 (10 working days).
const SINCE = '2026-01-05';
const THROUGH = '2026-01-16';
const NOW = at('2026-01-17T00:10');

/** Each pseudonym enters at 07:45 on the given local dates. */
function audit(seen: Record<string, string[]>, minGroupSize: number): StaffAudit {
  const a = new StaffAudit(parseStaffRegistry(CSV), schools, {
    staffAbsentDays: 5,
    minGroupSize,
    since: SINCE,
  });
  for (const [p, dates] of Object.entries(seen))
    for (const d of dates)
      a.record(
        turnstile(p, 'staff', null, 'in', at(`${d}T07:45`), 'gate-main', p === 's5' ? 'school-2' : SCHOOL),
      );
  return a;
}

describe('parseStaffRegistry', () => {
  it('parses rows, quotes, CRLF and a BOM', () => {
    const rows = parseStaffRegistry('\uFEFF' + CSV);
    assert.equal(rows.length, 5);
    assert.deepEqual(rows[3], {
      pseudonym: 's4',
      school: 'school-1',
      role: 'guard, night',
      contractedHours: 40,
    });
    assert.deepEqual(parseStaffRegistry('role,contractedHours,school,pseudonym\nteacher,20,school-1,s9'), [
      { pseudonym: 's9', school: 'school-1', role: 'teacher', contractedHours: 20 },
    ]);
  });

  it('names the line of each error', () => {
    const head = 'pseudonym,school,role,contractedHours\n';
    assert.throws(() => parseStaffRegistry(''), /empty/);
    assert.throws(
      () => parseStaffRegistry('pseudonym,school,role\ns1,x,t'),
      /line 1: header lacks column\(s\) contractedHours/,
    );
    assert.throws(
      () => parseStaffRegistry(head + 's1,school-1,teacher'),
      /line 2: 3 fields, the header has 4/,
    );
    assert.throws(
      () => parseStaffRegistry(head + 's1,school-1,teacher,36\n\ns2,,teacher,36'),
      /line 4: school is empty/,
    );
    assert.throws(
      () => parseStaffRegistry(head + 's1,school-1,teacher,lots'),
      /line 2: contractedHours "lots"/,
    );
    assert.throws(() => parseStaffRegistry(head + 's1,school-1,teacher,200'), /line 2: .*0\.\.168/);
    assert.throws(
      () => parseStaffRegistry(head + 's1,school-1,t,1\ns1,school-1,t,2'),
      /line 3: pseudonym "s1" appears twice/,
    );
    assert.throws(() => parseStaffRegistry(head + '"s1,school-1,t,1'), /line 2: unterminated/);
  });
});

describe('StaffAudit', () => {
  it('lists each absent staff member when the group is large enough', () => {
    // s1 works every day; s2 last seen Friday 9th (5 working days absent after); s3 and s4 never seen.
    const all = ['05', '06', '07', '08', '09', '12', '13', '14', '15', '16'].map((d) => `2026-01-${d}`);
    const a = audit({ s1: all, s2: ['2026-01-05', '2026-01-09'], s5: all }, 3);
    assert.deepEqual(a.audit(SCHOOL, THROUGH, NOW), [
      {
        kind: 'staff-absent-from-records',
        schoolId: SCHOOL,
        subject: 's2',
        day: THROUGH,
        values: { daysAbsent: 5, role: 'teacher', contractedHours: 18, lastSeen: '2026-01-09' },
        time: NOW,
      },
      {
        kind: 'staff-absent-from-records',
        schoolId: SCHOOL,
        subject: 's3',
        day: THROUGH,
        values: { daysAbsent: 10, role: 'cook', contractedHours: 40, lastSeen: 'never' },
        time: NOW,
      },
      {
        kind: 'staff-absent-from-records',
        schoolId: SCHOOL,
        subject: 's4',
        day: THROUGH,
        values: { daysAbsent: 10, role: 'guard, night', contractedHours: 40, lastSeen: 'never' },
        time: NOW,
      },
    ]);
    assert.deepEqual(a.audit('school-2', THROUGH, NOW), []);
  });

  it('does not flag 4 working days, and weekends do not count', () => {
    // s2 seen Monday 12th: Tue-Fri = 4 working days; the weekend before is not counted.
    const a = audit({ s1: [THROUGH], s2: ['2026-01-12'], s3: [THROUGH], s4: [THROUGH] }, 1);
    assert.deepEqual(a.audit(SCHOOL, THROUGH, NOW), []);
    // Through Monday 19th, s2 reaches 5.
    assert.equal(a.audit(SCHOOL, '2026-01-19', NOW).find((f) => f.subject === 's2')?.values.daysAbsent, 5);
  });

  it('reports fewer than minGroupSize flagged staff as one count-only finding', () => {
    const all = ['05', '06', '07', '08', '09', '12', '13', '14', '15', '16'].map((d) => `2026-01-${d}`);
    const a = audit({ s1: all, s2: all, s3: ['2026-01-09'] }, 3); // s3 and s4 flagged: 2 < 3
    const findings = a.audit(SCHOOL, THROUGH, NOW);
    assert.deepEqual(findings, [
      {
        kind: 'staff-absent-from-records',
        schoolId: SCHOOL,
        subject: 'staff',
        day: THROUGH,
        values: { count: 2 },
        time: NOW,
      },
    ]);
    assert.doesNotMatch(JSON.stringify(findings), /s3|s4/);
  });

  it('honours holidays and the start of records', () => {
    const a = new StaffAudit(parseStaffRegistry(CSV), schools, {
      staffAbsentDays: 5,
      minGroupSize: 1,
      since: '2026-01-12',
      holidays: ['2026-01-16'],
    });
    // Never seen, but only Mon 12th – Thu 15th are counted working days: 4.
    assert.deepEqual(a.audit('school-2', THROUGH, NOW), []);
  });
});
