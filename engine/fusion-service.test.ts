/** FusionService on its own: the clock-driven parts (window close, day end) and the cross-checks. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boxWithFoot, personTrack } from '../pipelines/analytics/test-frames.js';
import type { AlarmCandidate } from '../pipelines/analytics/types.js';
import type { Finding } from '../pipelines/fusion/types.js';
import { parseConfig } from './config/load.js';
import { FusionService } from './fusion.js';
import { createLogger } from './log.js';

// Etc/GMT-5 is UTC+5 (the POSIX sign is inverted); Monday 2026-01-05.
const local = (hh: number, mm = 0, day = 5) => Date.UTC(2026, 0, day, hh - 5, mm);

function service() {
  const cfg = parseConfig(
    `
city: { id: t, name: T }
detectors: [{ id: y, type: yolox, model: detectors/yolox/yolox_nano.onnx, labels: detectors/yolox/coco_classes.txt }]
pipelines: [{ id: default, detector: y }]
engine: { fusion: { canteenMinGap: 1, canteenGapRatio: 0.1 } }
schools:
  - id: s1
    name: S
    timeZone: Etc/GMT-5
    mealWindows: [{ id: lunch, from: '12:00', to: '12:30', cameras: [canteen] }]
    cameras:
      - { id: door, url: 'rtsp://127.0.0.1/door', zones: [{ id: gate, kind: entrance, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]] }] }
      - { id: canteen, url: 'rtsp://127.0.0.1/c', room: canteen, zones: [{ id: floor, kind: canteen, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]] }] }
      - id: basement
        url: 'rtsp://127.0.0.1/b'
        zones: [{ id: boiler, kind: restricted, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]], schedule: { type: after-hours, open: '07:00', close: '19:00' } }]
`,
    'fusion-service.test.yaml',
  );
  const findings: Finding[] = [];
  const alarms: AlarmCandidate[] = [];
  const boosts: string[][] = [];
  const f = new FusionService(
    cfg,
    {
      alarm: (c) => void alarms.push(c),
      boost: (_s, cams) => void boosts.push([...cams]),
      finding: (x) => void findings.push(x),
      writers: () => ({ scanner: null, presence: null, findings: null, canteen: null }),
      unstored: () => undefined,
    },
    createLogger('fusion', 'error'),
  );
  return { f, findings, alarms, boosts };
}

const turnstile = (
  person: string,
  direction: 'in' | 'out',
  time: number,
  role: 'pupil' | 'staff' = 'pupil',
) => ({
  v: 1 as const,
  kind: 'turnstile' as const,
  schoolId: 's1',
  eventId: `${person}-${time}`,
  person,
  role,
  class: role === 'pupil' ? '7A' : null,
  direction,
  gate: 'main',
  time,
});

test('the entrance cameras cross-check the turnstiles at day end', async () => {
  const { f, findings } = service();
  f.tick(local(7));
  for (const p of ['a', 'b']) await f.handle(turnstile(p, 'in', local(7, 50)));
  // The door camera sees five different people walk in: three came in without the turnstile.
  for (let id = 1; id <= 5; id++)
    f.onTracks(
      's1',
      'door',
      [personTrack(id, boxWithFoot(0.5, 0.9), local(7, 50))],
      1000,
      1000,
      local(7, 50),
    );
  f.tick(local(12));
  assert.equal(findings.length, 0);
  f.tick(local(0, 5, 6));
  const mismatch = findings.find((x) => x.subject === 'entrances');
  assert.ok(mismatch, JSON.stringify(findings));
  assert.deepEqual(mismatch.values, { turnstileIn: 2, cameraEntered: 5, gap: 3, gapShare: 0.6 });
});

test('a meal window closes into a canteen finding; a panic button alarms and boosts its room', async () => {
  const { f, findings, alarms, boosts } = service();
  f.tick(local(11));
  for (const [i, p] of ['a', 'b', 'c', 'd'].entries())
    await f.handle({
      v: 1,
      kind: 'palm',
      schoolId: 's1',
      eventId: `m${i}`,
      person: p,
      class: '7A',
      mealWindow: 'lunch',
      time: local(12, 5),
    });
  f.onTracks(
    's1',
    'canteen',
    [personTrack(1, boxWithFoot(0.5, 0.9), local(12, 6))],
    1000,
    1000,
    local(12, 6),
  );
  f.tick(local(12, 20));
  assert.equal(findings.length, 0, 'the window is still open');
  f.tick(local(12, 31));
  const canteen = findings.find((x) => x.kind === 'canteen-discrepancy');
  assert.ok(canteen);
  assert.equal(canteen.values.scanned, 4);
  assert.equal(canteen.values.counted, 1);
  assert.equal(canteen.values.direction, 'more-scanned');
  await f.handle({
    v: 1,
    kind: 'panic',
    schoolId: 's1',
    eventId: 'p',
    button: 'b1',
    room: 'canteen',
    time: local(12, 40),
  });
  assert.deepEqual([alarms[0].kind, alarms[0].severity], ['panic', 'critical']);
  assert.deepEqual(boosts, [['canteen']]);
});

test('an intrusion after hours is critical only while no staff member is in', async () => {
  const { f } = service();
  const candidate: AlarmCandidate = {
    kind: 'intrusion',
    severity: 'high',
    schoolId: 's1',
    cameraId: 'basement',
    zoneId: 'boiler',
    trackIds: [1],
    score: 0.9,
    cues: {},
    timeMs: local(21),
    evidenceSeq: 1,
  };
  assert.equal(f.adjust(candidate).severity, 'critical');
  await f.handle(turnstile('guard', 'in', local(20), 'staff'));
  assert.equal(f.adjust(candidate).severity, 'high');
  assert.equal(f.adjust({ ...candidate, timeMs: local(10) }).severity, 'high', 'school hours');
});
