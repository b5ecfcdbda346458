/**
 * The labelled fight / no-fight clips (bench/fixtures/fight-surv) and one replay of each through the full
 * analytics, recording what the accuracy suite scores: the fight score, the naive baseline's cue, and every
 * other confirmed alarm.
 */
import { readFileSync } from 'node:fs';
import { parseConfig } from '../../engine/config/load.js';
import type { KuzetConfig } from '../../engine/config/schema.js';
import { repoPath } from '../../engine/paths.js';
import { replay } from '../../engine/replay.js';
import { maxPairIou } from './metrics.js';

export const FIXTURE_DIR = repoPath('bench', 'fixtures', 'fight-surv');

export interface LabelledClip {
  /** Relative to FIXTURE_DIR, e.g. `fight/fi001.mp4`. */
  file: string;
  fight: boolean;
  durationS: number;
}

export function readLabels(path = repoPath('bench', 'fixtures', 'fight-surv', 'labels.csv')): LabelledClip[] {
  const lines = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  const header = lines[0].split(',');
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${path}: no '${name}' column`);
    return i;
  };
  const [fileCol, labelCol, durCol] = [col('file'), col('label'), col('duration_s')];
  return lines.slice(1).map((line, n) => {
    const cells = line.split(',');
    const label = cells[labelCol];
    if (label !== 'fight' && label !== 'no_fight')
      throw new Error(`${path}:${n + 2}: label must be fight or no_fight, got '${label}'`);
    const durationS = Number(cells[durCol]);
    if (!(durationS > 0)) throw new Error(`${path}:${n + 2}: bad duration_s '${cells[durCol]}'`);
    return { file: cells[fileCol], fight: label === 'fight', durationS };
  });
}

/**
 * One school, one camera without zones, YOLOX-Nano, and a fight threshold so low (with one sample) that
 * every frame's fight candidate reaches the alarm state machine, whose alarm keeps the highest score seen.
 */
export function accuracyConfig(fightThreshold = 0.05): KuzetConfig {
  const yaml = [
    'city: { id: bench, name: Bench }',
    'detectors:',
    '  - { id: yolox, type: yolox, model: detectors/yolox/yolox_nano.onnx, labels: detectors/yolox/coco_classes.txt }',
    'pipelines:',
    '  - id: default',
    '    detector: yolox',
    '    sampling: { type: keyframes, maxFps: 5 }',
    `    analytics: { fight: { threshold: ${fightThreshold}, minSamples: 1 } }`,
    'schools:',
    '  - id: school',
    '    name: Bench school',
    '    cameras:',
    '      - { id: cam, url: "rtsp://127.0.0.1:8554/replay", zones: [] }',
  ].join('\n');
  return parseConfig(yaml, 'bench/accuracy (in code)');
}

export interface ClipOutcome {
  clip: LabelledClip;
  frames: number;
  /** Highest fight alarm score over every alarm change (0 when no fight candidate at all). */
  maxFight: number;
  /** Largest IoU between two person boxes in any one frame (the baseline's cue). */
  maxPersonPairIou: number;
  /** Confirmed alarms of every kind other than fight, by kind. */
  otherConfirmed: Record<string, number>;
}

/** Fixed wall clock for the first frame, so replays are reproducible (no zone schedules apply anyway). */
const START_MS = Date.UTC(2024, 0, 15, 4, 0, 0);

export async function replayClip(clip: LabelledClip, config: KuzetConfig, fps: number): Promise<ClipOutcome> {
  let maxFight = 0;
  let maxPersonPairIou = 0;
  const r = await replay(
    { file: `${FIXTURE_DIR}/${clip.file}`, config, fps, startMs: START_MS },
    (f) => {
      const persons = f.detections.filter((d) => d.className === 'person');
      maxPersonPairIou = Math.max(maxPersonPairIou, maxPairIou(persons));
    },
    (a) => {
      if (a.kind === 'fight') maxFight = Math.max(maxFight, a.score);
    },
  );
  const otherConfirmed: Record<string, number> = {};
  for (const a of r.alarms) {
    if (a.kind !== 'fight' && a.confirmedAt !== null)
      otherConfirmed[a.kind] = (otherConfirmed[a.kind] ?? 0) + 1;
  }
  return { clip, frames: r.frames, maxFight, maxPersonPairIou, otherConfirmed };
}
