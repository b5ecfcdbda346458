import type { Sql } from 'postgres';
import { createLogger } from '../../engine/log.js';
import type { Alarm } from '../../pipelines/analytics/types.js';
import { BatchWriter, type BatchTarget, type BatchWriterOptions } from './writer.js';

export type AlarmWriterOptions = BatchWriterOptions;

/** Row shape of the alarms table (migration 002); keys are the column names. */
export interface AlarmRow {
  time: Date;
  alarm_id: string;
  state: string;
  kind: string;
  severity: string;
  school_id: string;
  camera_id: string;
  zone_id: string | null;
  track_ids: number[];
  score: number;
  frames: number;
  /** Sent as jsonb: the driver serialises it with the column type the server reports. */
  cues: Alarm['cues'];
  evidence_seq: number;
  evidence_box: number[] | null;
  acknowledged_by: string | null;
}

const ALARMS: BatchTarget<AlarmRow> = {
  table: 'alarms',
  columns: [
    'time',
    'alarm_id',
    'state',
    'kind',
    'severity',
    'school_id',
    'camera_id',
    'zone_id',
    'track_ids',
    'score',
    'frames',
    'cues',
    'evidence_seq',
    'evidence_box',
    'acknowledged_by',
  ],
  // (alarm_id, state, time) is the primary key: a batch sent twice after a lost reply is stored once.
  ignoreConflicts: true,
  stage: 'store_alarms',
  component: 'timescale_alarm_writer',
  noun: 'alarm changes',
};

export function alarmRow(alarm: Alarm): AlarmRow {
  const box = alarm.evidence.box;
  return {
    // The state machine stamps updatedAt with the time of the change it returns.
    time: new Date(alarm.updatedAt),
    alarm_id: alarm.id,
    state: alarm.state,
    kind: alarm.kind,
    severity: alarm.severity,
    school_id: alarm.schoolId,
    camera_id: alarm.cameraId,
    zone_id: alarm.zoneId,
    track_ids: [...alarm.trackIds],
    score: alarm.score,
    frames: alarm.frames,
    cues: { ...alarm.cues },
    evidence_seq: alarm.evidence.seq,
    evidence_box: box ? [box.x1, box.y1, box.x2, box.y2] : null,
    acknowledged_by: alarm.acknowledgedBy,
  };
}

/**
 * Stores alarm state changes (each Alarm the state machine returns) as rows of the append-only alarms table:
 * batched, bounded queue, retries with backoff, idempotent (ON CONFLICT DO NOTHING). Same lifecycle as
 * DetectionWriter: start(), enqueue(), flush(), stop().
 */
export class AlarmWriter extends BatchWriter<AlarmRow> {
  constructor(sql: Sql, opts: AlarmWriterOptions = {}) {
    super(sql, ALARMS, { ...opts, log: opts.log ?? createLogger('timescale.alarm-writer') });
  }

  enqueue(...changes: Alarm[]): void {
    if (changes.length > 0) this.enqueueRows(changes.map(alarmRow));
  }
}
