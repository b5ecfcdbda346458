import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Sql } from 'postgres';
import { Metrics } from '../../engine/metrics.js';
import { recordingLogger } from '../../engine/test/helpers.js';
import { startMigratedTimescale, type MigratedTimescale } from './test/migrated-timescale.js';
import type { OperatorAction } from '../../engine/types.js';
import { AlarmActionWriter } from './alarm-action-writer.js';

const T0 = Date.UTC(2026, 0, 1, 9);
const ALARM = '6f1c2a40-0c1e-4d2b-9a51-0d3f4b7e9a10';

describe('AlarmActionWriter', { timeout: 60_000 }, () => {
  let db: MigratedTimescale;
  let reader: Sql;
  let sql: Sql;

  before(async () => {
    db = await startMigratedTimescale();
    ({ reader, sql } = db);
  });
  after(() => db?.stop());

  it('stores the audit trail of an alarm in order, comments intact, in a hypertable', async () => {
    const base = { alarmId: ALARM, schoolId: 's1', cameraId: 'cam-3', actor: 'desk-1', role: 'police' };
    const actions: OperatorAction[] = [
      { ...base, time: T0, action: 'view-evidence', comment: null },
      { ...base, time: T0 + 1000, action: 'live-start', comment: null },
      { ...base, time: T0 + 9000, action: 'live-stop', comment: null },
      { ...base, time: T0 + 12_000, action: 'acknowledge', comment: 'Patrol 7 sent; it\'s "the" store-room' },
      { ...base, alarmId: null, time: T0 + 20_000, action: 'live-start', comment: null },
    ];
    const writer = new AlarmActionWriter(sql, { metrics: new Metrics(false), log: recordingLogger([]) });
    writer.start();
    writer.enqueue(...actions);
    await writer.flush();
    assert.equal(writer.pendingRows, 0);
    const rows = await reader`
      SELECT action, actor, role, comment, alarm_id, extract(epoch from time) * 1000 - ${T0} AS at
      FROM alarm_actions ORDER BY time`;
    assert.deepEqual(
      rows.map((r) => [r.action, r.actor, r.role, r.comment, r.alarm_id, Number(r.at)]),
      [
        ['view-evidence', 'desk-1', 'police', null, ALARM, 0],
        ['live-start', 'desk-1', 'police', null, ALARM, 1000],
        ['live-stop', 'desk-1', 'police', null, ALARM, 9000],
        ['acknowledge', 'desk-1', 'police', 'Patrol 7 sent; it\'s "the" store-room', ALARM, 12_000],
        ['live-start', 'desk-1', 'police', null, null, 20_000],
      ],
    );
    const [{ hyper }] = await reader<{ hyper: boolean }[]>`
      SELECT exists(SELECT 1 FROM timescaledb_information.hypertables
                    WHERE hypertable_name = 'alarm_actions') AS hyper`;
    assert.equal(hyper, true);
    await writer.stop();
  });
});
