import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../engine/log.js';
import { Metrics } from '../../engine/metrics.js';
import type { Alarm } from '../../pipelines/analytics/types.js';
import { Bus, decodeMessage, type AlarmMessage, type DetectionMessage } from './bus.js';

const log = createLogger('test', 'warn');

describe('NATS bus', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kuzet-nats-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('starts a local nats-server when nothing answers, and publishes msgpack detections', async () => {
    // Port 1 on loopback never has a NATS server: this is the "fresh machine" path.
    const bus = await Bus.open({
      url: 'nats://127.0.0.1:1',
      embedded: 'auto',
      storeDir: join(dir, 'a'),
      log,
    });
    try {
      assert.notEqual(bus.url, 'nats://127.0.0.1:1');
      const sub = bus.nc.subscribe('kuzet.det.>', { max: 1 });
      bus.publishDetections({
        schoolId: 's1',
        cameraId: 'cam1',
        seq: 7,
        captureTimeMs: 1_700_000_000_000,
        width: 640,
        height: 424,
        detections: [
          { classId: 0, className: 'person', score: 0.8912, x1: 10.4, y1: 20, x2: 30, y2: 40, trackId: null },
        ],
      });
      for await (const m of sub) {
        assert.equal(m.subject, 'kuzet.det.s1.cam1');
        const msg = decodeMessage<DetectionMessage>(m.data);
        assert.equal(msg.v, 1);
        assert.equal(msg.seq, 7);
        assert.deepEqual(msg.detections[0], {
          class: 'person',
          classId: 0,
          score: 0.891,
          box: [10, 20, 30, 40],
          track: null,
        });
      }
    } finally {
      await bus.close();
    }
  });

  it('publishes alarm state changes on kuzet.alarm.<severity>.<school>, counted', async () => {
    const metrics = new Metrics(false);
    const bus = await Bus.open({
      url: 'nats://127.0.0.1:1',
      embedded: 'always',
      storeDir: join(dir, 'alarm'),
      log,
      metrics,
    });
    try {
      const sub = bus.nc.subscribe('kuzet.alarm.>', { max: 2 });
      const t0 = 1_700_000_000_000;
      const alarm: Alarm = {
        id: '6f1c2a8e-0d3b-4c1e-9a57-3b2f7d9e1c44',
        kind: 'armed-person',
        severity: 'critical',
        state: 'confirmed',
        schoolId: 's1',
        cameraId: 'cam1',
        zoneId: 'entrance',
        trackIds: [12],
        score: 0.91234,
        cues: { votes: 4, of: 5, weapon: 'knife' },
        frames: 1,
        openedAt: t0,
        updatedAt: t0,
        confirmedAt: t0,
        acknowledgedAt: null,
        acknowledgedBy: null,
        resolvedAt: null,
        evidence: { seq: 42, box: { x1: 10.4, y1: 20, x2: 30, y2: 40.6 } },
      };
      assert.equal(bus.publishAlarm(alarm), true);
      assert.equal(
        bus.publishAlarm({ ...alarm, severity: 'low', schoolId: 's2', state: 'resolved', updatedAt: t0 + 5 }),
        true,
      );
      const got: Array<[string, AlarmMessage]> = [];
      for await (const m of sub) got.push([m.subject, decodeMessage<AlarmMessage>(m.data)]);
      assert.deepEqual(
        got.map(([subject]) => subject),
        ['kuzet.alarm.critical.s1', 'kuzet.alarm.low.s2'],
      );
      assert.deepEqual(got[0]![1], {
        v: 1,
        id: alarm.id,
        state: 'confirmed',
        kind: 'armed-person',
        severity: 'critical',
        school: 's1',
        camera: 'cam1',
        zone: 'entrance',
        tracks: [12],
        score: 0.912,
        frames: 1,
        cues: { votes: 4, of: 5, weapon: 'knife' },
        time: t0,
        openedAt: t0,
        confirmedAt: t0,
        acknowledgedAt: null,
        acknowledgedBy: null,
        resolvedAt: null,
        evidence: { ref: 's1/cam1/42', seq: 42, box: [10, 20, 30, 41] },
      });
      assert.equal(got[1]![1].time, t0 + 5);
      const { values } = await metrics.busPublished.get();
      assert.equal(values.find((v) => v.labels.family === 'alarm')?.value, 2);
    } finally {
      await bus.close();
    }
  });

  it('uses an existing server when one answers, and refuses to start one with embedded: never', async () => {
    const first = await Bus.open({
      url: 'nats://127.0.0.1:1',
      embedded: 'always',
      storeDir: join(dir, 'b'),
      log,
    });
    try {
      const second = await Bus.open({ url: first.url, embedded: 'never', storeDir: join(dir, 'c'), log });
      assert.equal(second.url, first.url);
      await second.close();
      await assert.rejects(
        Bus.open({ url: 'nats://127.0.0.1:1', embedded: 'never', storeDir: join(dir, 'd'), log }),
        /KUZET_ERR_BUS|unreachable/,
      );
    } finally {
      await first.close();
    }
  });
});
