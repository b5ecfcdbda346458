import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_FIGHT_WEIGHTS, FightDetector, fightScore, type FightTerms } from './fight.js';
import type { AlarmCandidate, AnalyticsFrame, Box, FrameCues, Track } from './types.js';

const T0 = Date.UTC(2026, 0, 12, 10);
const CFG = { schoolId: 'school-1', cameraId: 'cam-1' };
const W = 1920;
const H = 1080;
const TW = 96;
const TH = 54;

/** Deterministic pseudo-random bytes (LCG), so every thumbnail is reproducible. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s >>> 24;
  };
}

/**
 * A textured static background; inside `moving` (source pixels) each sample is redrawn from its own seed,
 * blended by `amount` (0 = static, 1 = fully new texture): staged pixel motion of the given strength.
 */
function thumbnail(seq: number, moving: Box | null = null, amount = 1): FrameCues {
  const bg = rng(12345);
  const fresh = rng(1000 + seq);
  const thumb = new Uint8Array(TW * TH);
  for (let y = 0; y < TH; y++) {
    for (let x = 0; x < TW; x++) {
      const base = bg();
      const inside =
        moving !== null &&
        x >= (moving.x1 / W) * TW &&
        x < (moving.x2 / W) * TW &&
        y >= (moving.y1 / H) * TH &&
        y < (moving.y2 / H) * TH;
      thumb[y * TW + x] = inside ? Math.round(base * (1 - amount) + fresh() * amount) : base;
    }
  }
  return { thumb, thumbWidth: TW, thumbHeight: TH };
}

function person(id: number, box: Box, vx = 0, vy = 0): Track {
  return {
    id,
    className: 'person',
    classId: 0,
    box,
    score: 0.9,
    firstSeenMs: T0,
    lastSeenMs: T0,
    hits: 10,
    matched: true,
    vx,
    vy,
  };
}

function frame(seq: number, tracks: Track[], cues: FrameCues | null): AnalyticsFrame {
  return {
    schoolId: 'school-1',
    cameraId: 'cam-1',
    seq,
    timeMs: T0 + seq * 1000,
    width: W,
    height: H,
    detections: [],
    tracks,
    cues,
  };
}

function shift(b: Box, dx: number, dy: number): Box {
  return { x1: b.x1 + dx, y1: b.y1 + dy, x2: b.x2 + dx, y2: b.y2 + dy };
}

/** Two people 200x500 overlapping by half their width (IoU 1/3): close contact. */
const A: Box = { x1: 800, y1: 300, x2: 1000, y2: 800 };
const B: Box = { x1: 900, y1: 300, x2: 1100, y2: 800 };
const PAIR: Box = { x1: 800, y1: 300, x2: 1100, y2: 800 };

/** The pair jerking about: A and B sway in opposite directions every sample (erratic), staying in contact. */
function jerking(seq: number, amplitude = 80): Track[] {
  const k = seq % 2;
  return [
    person(1, shift(A, k * amplitude, k * 0.75 * amplitude)),
    person(2, shift(B, -k * amplitude, k * 0.75 * amplitude)),
  ];
}

/** Runs the samples and returns the candidates of each. */
function run(d: FightDetector, samples: { tracks: Track[]; cues: FrameCues | null }[]): AlarmCandidate[][] {
  return samples.map((s, seq) => d.update(frame(seq, s.tracks, s.cues)));
}

/** A detector that reports every group's score (threshold 0, one sample): for comparing staged scenes. */
function scorer(): FightDetector {
  return new FightDetector({ ...CFG, threshold: 0, minSamples: 1 });
}

function lastScore(out: AlarmCandidate[][]): number {
  const last = out[out.length - 1];
  assert.equal(last.length, 1, 'one group expected');
  return last[0].score;
}

describe('fightScore', () => {
  const base: FightTerms = { proximity: 0.8, motion: 0.3, erratic: 0.3, convergence: 0 };

  it('rises with each term, the others equal, and stays in 0..1', () => {
    assert.ok(fightScore({ ...base, motion: 0.6 }) > fightScore(base));
    assert.ok(fightScore({ ...base, erratic: 0.6 }) > fightScore(base));
    assert.ok(fightScore({ ...base, convergence: 0.5 }) > fightScore(base));
    assert.ok(fightScore({ ...base, proximity: 1 }) > fightScore(base));
    assert.equal(
      fightScore(
        { proximity: 1, motion: 1, erratic: 1, convergence: 1 },
        { ...DEFAULT_FIGHT_WEIGHTS, motion: 2 },
      ),
      1,
    );
  });

  it('keeps calm contact (proximity alone) well under the default threshold', () => {
    assert.ok(fightScore({ proximity: 1, motion: 0, erratic: 0, convergence: 0 }) < 0.6);
  });
});

describe('FightDetector', () => {
  it('scores more pixel motion in the pair higher, other cues equal', () => {
    const scores = [0, 0.15, 0.4, 1].map((amount) =>
      lastScore(
        run(
          scorer(),
          [0, 1, 2].map((seq) => ({
            tracks: [person(1, A), person(2, B)],
            cues: thumbnail(seq, PAIR, amount),
          })),
        ),
      ),
    );
    for (let i = 1; i < scores.length; i++) assert.ok(scores[i] > scores[i - 1], `motion scores ${scores}`);
  });

  it('scores more erratic movement higher, other cues equal', () => {
    const scores = [0, 30, 60, 120].map((amplitude) =>
      lastScore(
        run(
          scorer(),
          [0, 1, 2].map((seq) => ({ tracks: jerking(seq, amplitude), cues: null })),
        ),
      ),
    );
    for (let i = 1; i < scores.length; i++) assert.ok(scores[i] > scores[i - 1], `erratic scores ${scores}`);
  });

  it('scores higher as more people converge on the pair', () => {
    const onlookers = (n: number, seq: number): Track[] =>
      [
        person(10, shift({ x1: 100, y1: 300, x2: 300, y2: 800 }, seq * 200, 0), 200, 0),
        person(11, shift({ x1: 1600, y1: 300, x2: 1800, y2: 800 }, -seq * 200, 0), -200, 0),
        person(12, shift({ x1: 1700, y1: 600, x2: 1900, y2: 1100 }, -seq * 150, -seq * 60), -150, -60),
      ].slice(0, n);
    const scores = [0, 1, 2, 3].map((n) =>
      lastScore(
        run(
          scorer(),
          [0, 1, 2].map((seq) => ({
            tracks: [person(1, A), person(2, B), ...onlookers(n, seq)],
            cues: null,
          })),
        ),
      ),
    );
    for (let i = 1; i < scores.length; i++)
      assert.ok(scores[i] > scores[i - 1], `convergence scores ${scores}`);
    // People walking away add nothing.
    const leaving = lastScore(
      run(
        scorer(),
        [0, 1, 2].map((seq) => ({
          tracks: [
            person(1, A),
            person(2, B),
            person(10, shift({ x1: 300, y1: 300, x2: 500, y2: 800 }, -seq * 100, 0), -100, 0),
          ],
          cues: null,
        })),
      ),
    );
    assert.equal(leaving, scores[0]);
  });

  it('raises nothing for two people standing together calmly', () => {
    const d = new FightDetector(CFG);
    // Small detector jitter and sensor noise only.
    const out = run(
      d,
      [0, 1, 2, 3, 4, 5].map((seq) => ({
        tracks: [person(1, shift(A, (seq % 2) * 4, 0)), person(2, shift(B, 0, (seq % 3) * 3))],
        cues: thumbnail(seq, PAIR, 0.01),
      })),
    );
    assert.ok(out.every((c) => c.length === 0));
  });

  it('raises nothing for people running apart without contact', () => {
    const d = new FightDetector(CFG);
    const out = run(
      d,
      [0, 1, 2, 3].map((seq) => ({
        tracks: [
          person(1, shift(A, -300 + (seq % 2) * 150, 0)),
          person(2, shift(B, 300 - (seq % 2) * 150, 0)),
        ],
        cues: thumbnail(seq, { x1: 300, y1: 300, x2: 1600, y2: 800 }, 1),
      })),
    );
    assert.ok(out.every((c) => c.length === 0));
  });

  it('raises a high candidate for contact with strong motion and erratic movement over 3 samples', () => {
    const d = new FightDetector(CFG);
    const out = run(
      d,
      [0, 1, 2].map((seq) => ({ tracks: jerking(seq), cues: thumbnail(seq, PAIR, 1) })),
    );
    assert.equal(out[0].length, 0);
    assert.equal(out[1].length, 0, 'one sample above threshold is not enough');
    assert.equal(out[2].length, 1);
    const c = out[2][0];
    assert.equal(c.kind, 'fight');
    assert.equal(c.severity, 'high');
    assert.deepEqual(c.trackIds, [1, 2]);
    assert.ok(c.score > 0.6);
    for (const key of [
      'score',
      'proximity',
      'motion',
      'motionEnergy',
      'erratic',
      'convergence',
      'converging',
      'people',
      'samples',
      'pixelCues',
    ]) {
      assert.ok(key in c.cues, `cue ${key}`);
    }
    assert.equal(c.cues.pixelCues, true);
    assert.equal(c.cues.samples, 2);
    assert.equal(c.evidenceSeq, 2);
  });

  it('does not join samples further apart than the window into a streak', () => {
    const d = new FightDetector(CFG);
    const at = (seq: number, timeMs: number) =>
      d.update({ ...frame(seq, jerking(seq), thumbnail(seq, PAIR, 1)), timeMs });
    at(0, T0);
    at(1, T0 + 1000);
    // 6 s later: velocities and thumbnails are too old to compare, and the streak restarts.
    assert.equal(at(2, T0 + 7000).length, 0);
  });

  it('forgets tracks not seen for 10 s', () => {
    const d = new FightDetector(CFG);
    run(
      d,
      [0, 1].map((seq) => ({ tracks: jerking(seq), cues: null })),
    );
    assert.equal(d.trackCount, 2);
    d.update(frame(11, [], null));
    assert.equal(d.trackCount, 2, 'last seen at 1 s: exactly 10 s ago is still kept');
    d.update(frame(12, [], null));
    assert.equal(d.trackCount, 0);
  });
});
