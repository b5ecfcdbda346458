import { randomUUID } from 'node:crypto';
import type { Sql } from 'postgres';
import { createLogger } from '../../engine/log.js';
import type { OperatorAction } from '../../engine/types.js';
import { BatchWriter, type BatchTarget, type BatchWriterOptions } from './writer.js';

/** Row shape of the alarm_actions table (migration 005); keys are the column names. */
export interface AlarmActionRow {
  time: Date;
  action_id: string;
  alarm_id: string | null;
  school_id: string;
  camera_id: string;
  action: string;
  actor: string;
  role: string;
  comment: string | null;
}

const ALARM_ACTIONS: BatchTarget<AlarmActionRow> = {
  table: 'alarm_actions',
  columns: ['time', 'action_id', 'alarm_id', 'school_id', 'camera_id', 'action', 'actor', 'role', 'comment'],
  // action_id is minted once per action, so a batch sent twice after a lost reply is stored once.
  ignoreConflicts: true,
  stage: 'store_alarm_actions',
  component: 'timescale_alarm_action_writer',
  noun: 'operator actions',
};

export function alarmActionRow(a: OperatorAction): AlarmActionRow {
  return {
    time: new Date(a.time),
    action_id: randomUUID(),
    alarm_id: a.alarmId,
    school_id: a.schoolId,
    camera_id: a.cameraId,
    action: a.action,
    actor: a.actor,
    role: a.role,
    comment: a.comment,
  };
}

/** The operators' audit trail: batched, bounded, retried, spooled like every other writer. */
export class AlarmActionWriter extends BatchWriter<AlarmActionRow> {
  constructor(sql: Sql, opts: BatchWriterOptions = {}) {
    super(sql, ALARM_ACTIONS, { ...opts, log: opts.log ?? createLogger('timescale.alarm-action-writer') });
  }

  enqueue(...actions: OperatorAction[]): void {
    if (actions.length > 0) this.enqueueRows(actions.map(alarmActionRow));
  }
}
