/**
 * `kuzet replay` end to end on real CCTV clips (bench/fixtures/fight-surv, MIT): the real detector, tracker,
 * analytics and alarm state machine, driven by the recording's own clock.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parseConfig } from './config/load.js';
import { compiledPath, repoPath } from './paths.js';
import { replay } from './replay.js';

const run = promisify(execFile);
const clip = (f: string) => repoPath('bench', 'fixtures', 'fight-surv', f);

/** A basement camera whose boiler room (lower middle of the picture) is restricted after 18:00 local time. */
function config(schedule = '{ type: always }'): string {
  return `
city: { id: test, name: Test }
detectors:
  - { id: yolox, type: yolox, model: detectors/yolox/yolox_nano.onnx, labels: detectors/yolox/coco_classes.txt }
pipelines:
  - id: default
    detector: yolox
    sampling: { type: keyframes, maxFps: 5 }
    analytics: { intrusion: { dwellMs: 400 } }
schools:
  - id: s1
    name: School 1
    timeZone: Etc/GMT-5
    cameras:
      - id: basement
        url: rtsp://127.0.0.1:8554/basement
        zones:
          - id: boiler-room
            kind: restricted
            polygon: [[0.3, 0.6], [0.65, 0.6], [0.65, 1.0], [0.3, 1.0]]
            schedule: ${schedule}
`;
}

const afterHours = '{ type: after-hours, open: "08:00", close: "18:00" }';
// Wednesday 2026-11-25 in UTC+5: 20:00 is after hours, 10:00 is school time.
const evening = Date.parse('2026-11-25T15:00:00Z');
const morning = Date.parse('2026-11-25T05:00:00Z');

test('a person walking into a restricted zone raises exactly one intrusion alarm, with its cues', async () => {
  const r = await replay({ file: clip('noFight/nofi001.mp4'), config: parseConfig(config(), 'test.yaml') });
  assert.ok(r.frames >= 14, `${r.frames} frames`);
  const confirmed = r.alarms.filter((a) => a.confirmedAt !== null);
  assert.equal(confirmed.length, 1, JSON.stringify(r.alarms));
  const [a] = confirmed;
  assert.deepEqual(
    [a.kind, a.severity, a.zoneId, a.schoolId, a.cameraId],
    ['intrusion', 'high', 'boiler-room', 's1', 'basement'],
  );
  assert.equal(a.trackIds.length, 1);
  assert.ok(Number(a.cues.dwellS) >= 0.4);
  assert.ok(Number(a.cues.footX) >= 0.3 && Number(a.cues.footY) >= 0.6);
  assert.ok(a.evidence.seq >= 0 && a.evidence.box !== null);
  // The recording ends, so the alarm runs out: opened/confirmed, then resolved, all one id.
  assert.deepEqual(
    r.changes.map((c) => c.state),
    ['confirmed', 'resolved'],
  );
});

test('the same walk during school hours raises nothing when the zone is restricted only after hours', async () => {
  const cfg = parseConfig(config(afterHours), 'test.yaml');
  const day = await replay({ file: clip('noFight/nofi001.mp4'), config: cfg, startMs: morning });
  assert.equal(day.alarms.length, 0, JSON.stringify(day.alarms));
  const night = await replay({ file: clip('noFight/nofi001.mp4'), config: cfg, startMs: evening });
  assert.equal(night.alarms.filter((a) => a.kind === 'intrusion' && a.confirmedAt !== null).length, 1);
});

test('an empty scene raises no alarm of any kind', async () => {
  const r = await replay({ file: clip('noFight/nofi005.mp4'), config: parseConfig(config(), 'test.yaml') });
  assert.ok(r.frames >= 8);
  assert.deepEqual(r.changes, []);
});

test('the CLI prints frames, alarms and a summary as JSON lines; a bad file exits 1 with the reason', async () => {
  const dir = '/tmp';
  const cfgFile = `${dir}/kuzet-replay-${process.pid}.yaml`;
  const { writeFileSync, rmSync } = await import('node:fs');
  writeFileSync(cfgFile, config());
  try {
    const cli = compiledPath('engine', 'cli.ts');
    const { stdout } = await run(process.execPath, [
      cli,
      'replay',
      clip('noFight/nofi001.mp4'),
      '--config',
      cfgFile,
      '--json',
    ]);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    assert.ok(lines.filter((l) => l.type === 'frame').length >= 14);
    assert.ok(lines.some((l) => l.type === 'alarm' && l.kind === 'intrusion' && l.state === 'confirmed'));
    assert.deepEqual(lines.at(-1), {
      type: 'summary',
      frames: lines.filter((l) => l.type === 'frame').length,
      alarms: { intrusion: 1 },
    });
    await assert.rejects(
      run(process.execPath, [cli, 'replay', cfgFile, '--config', cfgFile]),
      (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 1);
        assert.match(String(err.stderr), /KUZET_ERR_DECODE: replay: ffmpeg could not read/);
        return true;
      },
    );
  } finally {
    rmSync(cfgFile, { force: true });
  }
});
