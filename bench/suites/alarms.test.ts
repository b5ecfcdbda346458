import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { allSides, measureSide, openAlarmBenchEnv, type AlarmBenchEnv } from './alarms.js';

describe('bench alarms', () => {
  let env: AlarmBenchEnv;
  before(async () => {
    env = await openAlarmBenchEnv();
  });
  after(async () => {
    await env.close();
  });

  for (const side of allSides) {
    it(`${side}: every alarm reaches every client once, in order, with a latency`, async () => {
      const r = await measureSide(env, side, {
        clients: 5,
        rate: 20,
        seconds: 1,
        concurrency: 5,
        ackMs: 100,
        drainMs: 5000,
        pauseMs: 200,
      });
      assert.equal(r.setup.subscribed, 5, r.setup.firstError ?? '');
      assert.equal(r.publish.published, 20);
      assert.equal(r.publish.last - r.publish.first + 1, 20);
      const d = r.delivery;
      assert.equal(d.expected, 100);
      assert.equal(d.delivered, 100);
      assert.equal(d.complete, 5);
      assert.deepEqual([d.duplicates, d.outOfOrder, d.outOfRange], [0, 0, 0]);
      assert.deepEqual(d.closes, {});
      assert.ok(d.p50 > 0 && d.p50 <= d.p99 && d.p99 <= d.max && d.max < 5000, JSON.stringify(d));
    });
  }
});
