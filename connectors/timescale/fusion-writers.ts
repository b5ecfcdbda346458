/**
 * Writers for the fusion tables of migration 003: scanner events, turnstile passages, findings and canteen
 * camera counts. All go through BatchWriter (batched, bounded, retried, spooled to disk while the database is
 * away) and insert idempotently on the tables' keys, so a JetStream redelivery or a spool replay stores a row once.
 */
import type { Sql } from 'postgres';
import { createLogger } from '../../engine/log.js';
import type { Finding, ScanEvent } from '../../pipelines/fusion/types.js';
import { BatchWriter, type BatchTarget, type BatchWriterOptions } from './writer.js';

export interface ScannerEventRow {
  time: Date;
  school_id: string;
  kind: string;
  event_id: string;
  person: string | null;
  role: string | null;
  class: string | null;
  direction: string | null;
  gate: string | null;
  room: string | null;
  meal_window: string | null;
  payload: Record<string, unknown>;
}

export interface PresenceRow {
  time: Date;
  school_id: string;
  person: string;
  role: string;
  class: string | null;
  direction: string;
  gate: string;
}

export interface FindingRow {
  time: Date;
  school_id: string;
  kind: string;
  subject: string;
  day: string;
  values: Record<string, number | string>;
}

export interface CameraHealthRow {
  time: Date;
  school_id: string;
  camera_id: string;
  state: string;
  fps: number | null;
  loss_ratio: number | null;
  bitrate_kbps: number | null;
}

export interface CanteenCountRow {
  time: Date;
  school_id: string;
  window_id: string;
  camera_id: string;
  entered: number;
}

function target<Row>(
  table: string,
  columns: ReadonlyArray<keyof Row & string>,
  noun: string,
): BatchTarget<Row> {
  return {
    table,
    columns,
    ignoreConflicts: true,
    stage: `store_${table}`,
    component: `timescale_${table}`,
    noun,
  };
}

const SCANNER_EVENTS = target<ScannerEventRow>(
  'scanner_events',
  [
    'time',
    'school_id',
    'kind',
    'event_id',
    'person',
    'role',
    'class',
    'direction',
    'gate',
    'room',
    'meal_window',
    'payload',
  ],
  'scanner events',
);
const PRESENCE = target<PresenceRow>(
  'presence',
  ['time', 'school_id', 'person', 'role', 'class', 'direction', 'gate'],
  'turnstile passages',
);
const FINDINGS = target<FindingRow>(
  'findings',
  ['time', 'school_id', 'kind', 'subject', 'day', 'values'],
  'findings',
);
const CAMERA_HEALTH = target<CameraHealthRow>(
  'camera_health',
  ['time', 'school_id', 'camera_id', 'state', 'fps', 'loss_ratio', 'bitrate_kbps'],
  'camera health samples',
);
const CANTEEN_COUNTS = target<CanteenCountRow>(
  'canteen_counts',
  ['time', 'school_id', 'window_id', 'camera_id', 'entered'],
  'canteen counts',
);

export function scannerEventRow(e: ScanEvent): ScannerEventRow {
  const { v: _v, kind, schoolId, eventId, time, ...rest } = e;
  return {
    time: new Date(time),
    school_id: schoolId,
    kind,
    event_id: eventId,
    person: 'person' in e ? e.person : null,
    role: e.kind === 'turnstile' ? e.role : null,
    class: e.kind === 'turnstile' || e.kind === 'palm' ? e.class : null,
    direction: e.kind === 'turnstile' ? e.direction : null,
    gate: e.kind === 'turnstile' ? e.gate : null,
    room: 'room' in e ? e.room : null,
    meal_window: e.kind === 'palm' ? e.mealWindow : null,
    payload: rest,
  };
}

export class ScannerEventWriter extends BatchWriter<ScannerEventRow> {
  constructor(sql: Sql, opts: BatchWriterOptions = {}) {
    super(sql, SCANNER_EVENTS, { ...opts, log: opts.log ?? createLogger('timescale.scanner-writer') });
  }
  enqueue(e: ScanEvent): void {
    this.enqueueRows([scannerEventRow(e)]);
  }
}

export class PresenceWriter extends BatchWriter<PresenceRow> {
  constructor(sql: Sql, opts: BatchWriterOptions = {}) {
    super(sql, PRESENCE, { ...opts, log: opts.log ?? createLogger('timescale.presence-writer') });
  }
  enqueue(e: Extract<ScanEvent, { kind: 'turnstile' }>): void {
    this.enqueueRows([
      {
        time: new Date(e.time),
        school_id: e.schoolId,
        person: e.person,
        role: e.role,
        class: e.class,
        direction: e.direction,
        gate: e.gate,
      },
    ]);
  }
}

export class FindingWriter extends BatchWriter<FindingRow> {
  constructor(sql: Sql, opts: BatchWriterOptions = {}) {
    super(sql, FINDINGS, { ...opts, log: opts.log ?? createLogger('timescale.finding-writer') });
  }
  enqueue(f: Finding): void {
    this.enqueueRows([
      {
        time: new Date(f.time),
        school_id: f.schoolId,
        kind: f.kind,
        subject: f.subject,
        day: f.day,
        values: f.values,
      },
    ]);
  }
}

export class CanteenCountWriter extends BatchWriter<CanteenCountRow> {
  constructor(sql: Sql, opts: BatchWriterOptions = {}) {
    super(sql, CANTEEN_COUNTS, { ...opts, log: opts.log ?? createLogger('timescale.canteen-writer') });
  }
  enqueue(row: Omit<CanteenCountRow, 'time'> & { timeMs: number }): void {
    const { timeMs, ...rest } = row;
    this.enqueueRows([{ ...rest, time: new Date(timeMs) }]);
  }
}

/** Per-camera health samples (state, fps, loss, bitrate) for the operators' Grafana history. */
export class CameraHealthWriter extends BatchWriter<CameraHealthRow> {
  constructor(sql: Sql, opts: BatchWriterOptions = {}) {
    super(sql, CAMERA_HEALTH, { ...opts, log: opts.log ?? createLogger('timescale.camera-health-writer') });
  }
  enqueue(row: CameraHealthRow): void {
    this.enqueueRows([row]);
  }
}
