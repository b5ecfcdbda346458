/**
 * Scanner and sensor events (not video) as Kuzet receives them on NATS, after validation. Contract v1:
 * subjects `kuzet.scan.<kind>.<schoolId>`; payload JSON or msgpack (by the `content-type` header), with the
 * fields below; `time` is ms since epoch (a number) or an ISO-8601 string on the wire, a number here.
 * Person identifiers are pseudonyms issued by the school registry: Kuzet never sees names or biometrics.
 */

export type ScanKind = 'turnstile' | 'palm' | 'panic' | 'air' | 'fire';
export type PersonRole = 'pupil' | 'staff';

interface ScanBase {
  v: 1;
  schoolId: string;
  /** Producer's event id; with the kind and school it is the idempotency key (redeliveries are dropped). */
  eventId: string;
  time: number;
}

/** Face-ID turnstile passage. */
export interface TurnstileEvent extends ScanBase {
  kind: 'turnstile';
  person: string;
  role: PersonRole;
  /** Class of a pupil (e.g. "7B"); null for staff. */
  class: string | null;
  direction: 'in' | 'out';
  gate: string;
}

/** Palm-biometric canteen meal confirmation. */
export interface PalmEvent extends ScanBase {
  kind: 'palm';
  person: string;
  class: string | null;
  /** Meal window id from the school's config (e.g. "breakfast-1"). */
  mealWindow: string;
}

/** Panic button pressed. */
export interface PanicEvent extends ScanBase {
  kind: 'panic';
  button: string;
  room: string;
}

/** Air-quality reading. */
export interface AirEvent extends ScanBase {
  kind: 'air';
  sensor: string;
  room: string;
  co2Ppm: number;
  pm25: number;
  temperatureC: number;
  humidityPct: number;
}

/** Fire / smoke detector. */
export interface FireEvent extends ScanBase {
  kind: 'fire';
  sensor: string;
  room: string;
  /** alarm: smoke or heat detected; clear: back to normal; fault: the sensor itself failed. */
  state: 'alarm' | 'clear' | 'fault';
}

export type ScanEvent = TurnstileEvent | PalmEvent | PanicEvent | AirEvent | FireEvent;

/** A non-alarm result of fusion that administrators review (published and stored, not sent to police). */
export interface Finding {
  kind: 'canteen-discrepancy' | 'staff-absent-from-records' | 'presence-mismatch';
  schoolId: string;
  /** What it is about: a meal window, a staff pseudonym, a gate… */
  subject: string;
  day: string;
  /** Values behind the finding (counts, gap, days absent, …). */
  values: Record<string, number | string>;
  time: number;
}
