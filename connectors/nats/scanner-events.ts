import { Packr } from 'msgpackr';
import { z } from 'zod';
import type { ScanEvent, ScanKind } from '../../pipelines/fusion/types.js';

/**
 * Validation of scanner and sensor events (contract v1, see pipelines/fusion/types.ts) as they arrive on
 * `kuzet.scan.<kind>.<schoolId>`. The subject is authoritative for kind and school; the payload may repeat
 * them but must then agree. Unknown payload keys are allowed and stripped: producers add fields over time
 * and must not be broken by that, while Kuzet only keeps (and stores) the fields it knows.
 */

export type ScanParseResult = { ok: true; event: ScanEvent } | { ok: false; reason: string };

export const scanKinds: readonly ScanKind[] = ['turnstile', 'palm', 'panic', 'air', 'fire'];

/** Same rule as school ids in the config: they are NATS subject tokens. */
const schoolIdPattern = /^[A-Za-z0-9_-]{1,64}$/;
const pseudonymPattern = /^[A-Za-z0-9_-]{1,128}$/;

// Bounds for `time`: a seconds-since-epoch value (a common producer bug) falls before 2000 and is rejected.
const minTimeMs = Date.UTC(2000, 0, 1);
const maxTimeMs = Date.UTC(2100, 0, 1);

// Same codec settings as bus.ts: plain maps, decoded as plain objects.
const packr = new Packr({ useRecords: false, variableMapSize: true });

const pseudonym = z
  .string()
  .regex(pseudonymPattern, 'must be 1-128 characters of letters, digits, "-" or "_"');
/** Free-form identifiers of things (gates, rooms, sensors): bounded, no control characters. */
const label = z
  .string()
  .min(1)
  .max(128)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

const time = z.unknown().transform((value, ctx): number => {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string' && z.iso.datetime({ offset: true }).safeParse(value).success) {
    ms = Date.parse(value);
  } else {
    ctx.addIssue({
      code: 'custom',
      message: value === undefined ? 'required' : 'must be ms since epoch or an ISO-8601 date-time',
    });
    return z.NEVER;
  }
  if (!Number.isFinite(ms) || ms < minTimeMs || ms > maxTimeMs) {
    ctx.addIssue({ code: 'custom', message: 'must be ms since epoch between 2000 and 2100' });
    return z.NEVER;
  }
  return ms;
});

const base = {
  v: z.literal(1),
  schoolId: z.string(),
  eventId: z.string().min(1).max(128),
  time,
};

const reading = (min: number, max: number) => z.number().min(min).max(max);

const schemas = {
  turnstile: z
    .object({
      ...base,
      kind: z.literal('turnstile'),
      person: pseudonym,
      role: z.enum(['pupil', 'staff']),
      // Staff have no class; producers may omit the key rather than send null.
      class: label.nullable().default(null),
      direction: z.enum(['in', 'out']),
      gate: label,
    })
    // Attendance is counted by class: a pupil without one cannot be placed.
    .refine((e) => e.role !== 'pupil' || e.class !== null, {
      path: ['class'],
      message: 'required for a pupil',
    }),
  palm: z.object({
    ...base,
    kind: z.literal('palm'),
    person: pseudonym,
    class: label.nullable().default(null),
    mealWindow: label,
  }),
  panic: z.object({ ...base, kind: z.literal('panic'), button: label, room: label }),
  air: z.object({
    ...base,
    kind: z.literal('air'),
    sensor: label,
    room: label,
    co2Ppm: reading(0, 10_000),
    pm25: reading(0, 2000),
    temperatureC: reading(-40, 80),
    humidityPct: reading(0, 100),
  }),
  fire: z.object({
    ...base,
    kind: z.literal('fire'),
    sensor: label,
    room: label,
    state: z.enum(['alarm', 'clear', 'fault']),
  }),
} satisfies Record<ScanKind, z.ZodType<ScanEvent, unknown>>;

function isScanKind(s: string): s is ScanKind {
  return (scanKinds as readonly string[]).includes(s);
}

/** Splits `kuzet.scan.<kind>.<schoolId>`; exported for the consumer, which labels counts by kind. */
export function scanSubject(
  subject: string,
): { ok: true; kind: ScanKind; schoolId: string } | { ok: false; reason: string } {
  const parts = subject.split('.');
  if (parts.length !== 4 || parts[0] !== 'kuzet' || parts[1] !== 'scan') {
    return { ok: false, reason: `subject: expected kuzet.scan.<kind>.<schoolId>, got '${subject}'` };
  }
  const [, , kind, schoolId] = parts as [string, string, string, string];
  if (!isScanKind(kind)) return { ok: false, reason: `subject: unknown scan kind '${kind}'` };
  if (!schoolIdPattern.test(schoolId)) {
    return { ok: false, reason: `subject: school id '${schoolId}' must be 1-64 letters, digits, "-" or "_"` };
  }
  return { ok: true, kind, schoolId };
}

type Decoded = { ok: true; value: unknown } | { ok: false; reason: string };

function decodePayload(data: Uint8Array, contentType: string | undefined): Decoded {
  if (data.length === 0) return { ok: false, reason: 'payload: empty' };
  // Parameters such as `; charset=utf-8` do not change the format.
  const type = contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
  let format: 'json' | 'msgpack';
  if (type === 'application/json') format = 'json';
  else if (type === 'application/msgpack' || type === 'application/x-msgpack') format = 'msgpack';
  // No header: a msgpack map never starts with '{' (0x7b is a positive fixint), so the first byte decides.
  else if (type === undefined) format = data[0] === 0x7b ? 'json' : 'msgpack';
  else return { ok: false, reason: `content-type: unsupported '${type}'` };

  if (format === 'json') {
    try {
      return { ok: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) };
    } catch {
      return { ok: false, reason: 'payload: not valid JSON' };
    }
  }
  try {
    return { ok: true, value: packr.unpack(data) };
  } catch {
    return { ok: false, reason: 'payload: not valid msgpack' };
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** msgpack encoders in other languages write ms timestamps as uint64, which msgpackr decodes as bigint. */
function normalizeBigInts(payload: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(payload)) {
    out[k] =
      typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(v)
        : v;
  }
  return out;
}

/** One issue as `<field>: <what is wrong>`; values are not echoed (they may be pseudonyms). */
function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.length > 0 ? issue.path.join('.') : 'payload';
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      return input === undefined ? `${field}: required` : `${field}: must be a ${issue.expected}`;
    case 'too_big':
      return issue.origin === 'string'
        ? `${field}: must be at most ${issue.maximum} characters`
        : `${field}: must be <= ${issue.maximum}`;
    case 'too_small':
      if (issue.origin === 'string')
        return Number(issue.minimum) <= 1
          ? `${field}: must not be empty`
          : `${field}: must be at least ${issue.minimum} characters`;
      return `${field}: must be >= ${issue.minimum}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `${field}: must be ${JSON.stringify(issue.values[0])}`
        : `${field}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${field}: ${issue.message}`;
  }
}

/**
 * Validates one message from `kuzet.scan.>`. Never throws: a bad event is a result with a reason that names
 * the field, for the dead-letter header.
 */
export function parseScanEvent(
  subject: string,
  data: Uint8Array,
  contentType: string | undefined,
): ScanParseResult {
  const subj = scanSubject(subject);
  if (!subj.ok) return subj;
  const decoded = decodePayload(data, contentType);
  if (!decoded.ok) return decoded;
  if (!isPlainObject(decoded.value)) return { ok: false, reason: 'payload: must be an object' };
  const payload = normalizeBigInts(decoded.value);

  if (payload.kind !== undefined && payload.kind !== subj.kind) {
    return {
      ok: false,
      reason: `kind: '${String(payload.kind)}' does not match subject kind '${subj.kind}'`,
    };
  }
  if (payload.schoolId !== undefined && payload.schoolId !== subj.schoolId) {
    return {
      ok: false,
      reason: `schoolId: '${String(payload.schoolId)}' does not match subject school '${subj.schoolId}'`,
    };
  }

  const result = schemas[subj.kind].safeParse(
    { ...payload, kind: subj.kind, schoolId: subj.schoolId },
    { reportInput: true },
  );
  if (!result.success) return { ok: false, reason: describeIssue(result.error.issues[0]!) };
  return { ok: true, event: result.data };
}
