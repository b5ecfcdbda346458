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

/** An alarm's latest row, with the times of its earlier changes, as alarmsLeftOpen reads it. */
type OpenAlarmRow = Omit<AlarmRow, 'evidence_seq' | 'kind' | 'severity' | 'state'> & {
  kind: Alarm['kind'];
  severity: Alarm['severity'];
  state: Alarm['state'];
  /** bigint, which the driver returns as a string. */
  evidence_seq: string;
  opened_at: Date;
  confirmed_at: Date | null;
  acknowledged_at: Date | null;
};

/**
 * Alarms whose latest stored state, written before `before`, is not 'resolved' (at most `limit`), rebuilt
 * as the Alarm of that state: what an earlier run of the engine left live.
 */
export async function alarmsLeftOpen(sql: Sql, before: Date, limit = 10_000): Promise<Alarm[]> {
  const rows = await sql<OpenAlarmRow[]>`
    SELECT c.*,
           (SELECT min(time) FROM alarms a WHERE a.alarm_id = c.alarm_id) AS opened_at,
           (SELECT min(time) FROM alarms a WHERE a.alarm_id = c.alarm_id AND a.state = 'confirmed') AS confirmed_at,
           (SELECT min(time) FROM alarms a WHERE a.alarm_id = c.alarm_id AND a.state = 'acknowledged')
             AS acknowledged_at
    FROM alarms_current c
    WHERE c.state <> 'resolved' AND c.time < ${before}
    LIMIT ${limit}`;
  return rows.map((r) => {
    const b = r.evidence_box;
    return {
      id: r.alarm_id,
      kind: r.kind,
      severity: r.severity,
      state: r.state,
      schoolId: r.school_id,
      cameraId: r.camera_id,
      zoneId: r.zone_id,
      trackIds: r.track_ids,
      score: r.score,
      cues: r.cues,
      frames: r.frames,
      openedAt: r.opened_at.getTime(),
      updatedAt: r.time.getTime(),
      confirmedAt: r.confirmed_at?.getTime() ?? null,
      acknowledgedAt: r.acknowledged_at?.getTime() ?? null,
      acknowledgedBy: r.acknowledged_by,
      resolvedAt: null,
      evidence: {
        seq: Number(r.evidence_seq),
        box: b ? { x1: b[0]!, y1: b[1]!, x2: b[2]!, y2: b[3]! } : null,
      },
    };
  });
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
