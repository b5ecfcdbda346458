/**
 * "Dead souls" audit of staff: people on the staff registry whom no turnstile has seen entering for
 * staffAbsentDays consecutive working days. Pure: the CSV is passed in as a string, the clock as dates.
 */
import type { Finding, TurnstileEvent } from './types.js';
import { addDays, isWorkingDay, localInstant } from './local-date.js';

export interface StaffRecord {
  pseudonym: string;
  school: string;
  role: string;
  contractedHours: number;
}

const COLUMNS = ['pseudonym', 'school', 'role', 'contractedHours'] as const;

/** Splits one CSV line (RFC 4180 quoting: "a,b" and "" inside quotes); throws on an unterminated quote. */
function splitCsvLine(line: string, lineNo: number): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (ch === ',') {
      fields.push(field.trim());
      field = '';
    } else field += ch;
  }
  if (quoted) throw new Error(`staff registry line ${lineNo}: unterminated quoted field`);
  fields.push(field.trim());
  return fields;
}

/**
 * Parses the staff registry CSV: a header naming the columns pseudonym, school, role, contractedHours (any
 * order, extra columns ignored), then one row per staff member. Blank lines are skipped; a UTF-8 BOM and
 * CRLF line ends are accepted. Errors name the 1-based line: missing columns, wrong field count, empty
 * values, contractedHours not a number in 0..168, the same pseudonym twice in one school.
 */
export function parseStaffRegistry(csvText: string): StaffRecord[] {
  const lines = csvText.replace(/^\uFEFF/, '').split(/\r?\n/);
  const headerIdx = lines.findIndex((l) => l.trim() !== '');
  if (headerIdx < 0) throw new Error('staff registry: empty, expected a header line: ' + COLUMNS.join(','));
  const header = splitCsvLine(lines[headerIdx], headerIdx + 1);
  const index = COLUMNS.map((c) => header.indexOf(c));
  const missing = COLUMNS.filter((_, i) => index[i] < 0);
  if (missing.length > 0)
    throw new Error(
      `staff registry line ${headerIdx + 1}: header lacks column(s) ${missing.join(', ')} (expected ${COLUMNS.join(',')})`,
    );
  const out: StaffRecord[] = [];
  const seen = new Set<string>();
  for (let i = headerIdx + 1; i < lines.length; i++) {
    const lineNo = i + 1;
    if (lines[i].trim() === '') continue;
    const f = splitCsvLine(lines[i], lineNo);
    if (f.length !== header.length)
      throw new Error(`staff registry line ${lineNo}: ${f.length} fields, the header has ${header.length}`);
    const [pseudonym, school, role, hours] = index.map((j) => f[j]);
    for (const [name, v] of [
      ['pseudonym', pseudonym],
      ['school', school],
      ['role', role],
      ['contractedHours', hours],
    ] as const)
      if (v === '') throw new Error(`staff registry line ${lineNo}: ${name} is empty`);
    const contractedHours = Number(hours);
    if (!Number.isFinite(contractedHours) || contractedHours < 0 || contractedHours > 168)
      throw new Error(
        `staff registry line ${lineNo}: contractedHours "${hours}" is not a number of hours 0..168`,
      );
    const k = `${school}\u0000${pseudonym}`;
    if (seen.has(k))
      throw new Error(
        `staff registry line ${lineNo}: pseudonym "${pseudonym}" appears twice for school "${school}"`,
      );
    seen.add(k);
    out.push({ pseudonym, school, role, contractedHours });
  }
  return out;
}

export interface StaffAuditOptions {
  /** engine.fusion.staffAbsentDays: consecutive working days without an entry that make a finding. */
  staffAbsentDays: number;
  /** engine.fusion.minGroupSize: fewer flagged staff than this per school are reported as a count only. */
  minGroupSize: number;
  /** First local date (YYYY-MM-DD) the turnstile records cover: days before it are not counted as absent. */
  since: string;
  /** Local dates that are not working days although Mon–Fri (public and school holidays). */
  holidays?: readonly string[];
  /** Calendar days of entry dates kept per person (default 400). */
  retainDays?: number;
}

/** Longest streak looked back over (calendar days), a guard when `since` is far back. */
const MAX_LOOKBACK_DAYS = 3660;

/**
 * Feed it staff turnstile passages (record); audit(school, throughDay) counts, for each registry entry of
 * the school, the consecutive working days (Mon–Fri in the school's time zone, minus holidays, not before
 * `since`) up to and including throughDay without an 'in' passage. Those with >= staffAbsentDays become
 * `staff-absent-from-records` findings.
 *
 * Small counts: when fewer than minGroupSize staff of a school are flagged, the audit returns ONE finding
 * for the school, subject 'staff', values { count }, with no pseudonyms, so that a finding about one or two
 * people cannot single them out to everyone who reads findings; those entitled (HR, the auditor) re-run
 * the audit against the registry themselves. At or above minGroupSize, one finding per person (subject:
 * pseudonym; values daysAbsent, role, contractedHours, lastSeen: a date or 'never').
 */
export class StaffAudit {
  private readonly bySchool = new Map<string, StaffRecord[]>();
  private readonly timeZones = new Map<string, string>();
  /** school\0pseudonym → local dates with an 'in' passage. */
  private readonly entries = new Map<string, Set<string>>();
  private readonly holidays: Set<string>;
  private readonly retainDays: number;

  constructor(
    registry: readonly StaffRecord[],
    schools: readonly { id: string; timeZone: string }[],
    private readonly opts: StaffAuditOptions,
  ) {
    for (const s of schools) {
      localInstant(0, s.timeZone); // unknown time zone: fail at start-up
      this.timeZones.set(s.id, s.timeZone);
    }
    for (const r of registry) {
      const list = this.bySchool.get(r.school) ?? [];
      list.push(r);
      this.bySchool.set(r.school, list);
    }
    addDays(opts.since, 0); // validates the date
    this.holidays = new Set(opts.holidays ?? []);
    this.retainDays = opts.retainDays ?? 400;
  }

  /** Feeds one passage; only staff 'in' passages of known schools count. */
  record(ev: TurnstileEvent): void {
    if (ev.role !== 'staff' || ev.direction !== 'in') return;
    const tz = this.timeZones.get(ev.schoolId);
    if (tz === undefined) return;
    const date = localInstant(ev.time, tz).date;
    const k = `${ev.schoolId}\u0000${ev.person}`;
    let dates = this.entries.get(k);
    if (!dates) {
      dates = new Set();
      this.entries.set(k, dates);
    }
    dates.add(date);
    const oldest = addDays(date, -this.retainDays);
    for (const d of dates) if (d < oldest) dates.delete(d);
  }

  /** Findings for a school through a local day (YYYY-MM-DD), sorted by pseudonym. */
  audit(schoolId: string, throughDay: string, nowMs: number): Finding[] {
    const flagged: { r: StaffRecord; daysAbsent: number; lastSeen: string }[] = [];
    for (const r of this.bySchool.get(schoolId) ?? []) {
      const dates = this.entries.get(`${schoolId}\u0000${r.pseudonym}`);
      let daysAbsent = 0;
      let lastSeen = 'never';
      for (
        let i = 0, d = throughDay;
        d >= this.opts.since && i < MAX_LOOKBACK_DAYS;
        i++, d = addDays(d, -1)
      ) {
        if (dates?.has(d)) {
          lastSeen = d;
          break;
        }
        if (isWorkingDay(d) && !this.holidays.has(d)) daysAbsent++;
      }
      if (daysAbsent >= this.opts.staffAbsentDays) flagged.push({ r, daysAbsent, lastSeen });
    }
    if (flagged.length === 0) return [];
    if (flagged.length < this.opts.minGroupSize)
      return [
        {
          kind: 'staff-absent-from-records',
          schoolId,
          subject: 'staff',
          day: throughDay,
          values: { count: flagged.length },
          time: nowMs,
        },
      ];
    return flagged
      .sort((a, b) => a.r.pseudonym.localeCompare(b.r.pseudonym))
      .map(({ r, daysAbsent, lastSeen }) => ({
        kind: 'staff-absent-from-records' as const,
        schoolId,
        subject: r.pseudonym,
        day: throughDay,
        values: { daysAbsent, role: r.role, contractedHours: r.contractedHours, lastSeen },
        time: nowMs,
      }));
  }
}
