import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Detection } from '../../engine/types.js';
import { ArmedPerson } from './armed-person.js';
import type { AnalyticsFrame, Box, Track } from './types.js';

const T0 = Date.UTC(2026, 0, 12, 10);
const CFG = { schoolId: 'school-1', cameraId: 'cam-1' };
/** A person standing mid-frame of a 1920x1080 camera. */
const PERSON: Box = { x1: 800, y1: 300, x2: 1000, y2: 800 };
/** A knife in the person's hand, just outside the box on the right at waist height. */
const KNIFE_IN_HAND: Box = { x1: 990, y1: 520, x2: 1050, y2: 560 };

function person(id: number, box: Box, t: number): Track {
  return {
    id,
    className: 'person',
    classId: 0,
    box,
    score: 0.9,
    firstSeenMs: T0,
    lastSeenMs: t,
    hits: 5,
    matched: true,
    vx: 0,
    vy: 0,
  };
}

function weapon(className: string, score: number, box: Box): Detection {
  return { classId: className === 'knife' ? 43 : 80, className, score, ...box, trackId: null };
}

function frame(seq: number, tracks: Track[], detections: Detection[]): AnalyticsFrame {
  return {
    schoolId: 'school-1',
    cameraId: 'cam-1',
    seq,
    timeMs: T0 + seq * 1000,
    width: 1920,
    height: 1080,
    detections,
    tracks,
    cues: null,
  };
}

/** Feeds one frame per entry (null = no weapon that sample) and returns the candidates of each frame. */
function run(analytic: ArmedPerson, weapons: (Detection | null)[], box: Box = PERSON) {
  return weapons.map((w, seq) =>
    analytic.update(frame(seq, [person(7, box, T0 + seq * 1000)], w ? [w] : [])),
  );
}

describe('ArmedPerson', () => {
  it('raises a critical candidate for a knife held in 2 of 3 samples, and keeps raising while it holds', () => {
    const out = run(new ArmedPerson(CFG), [
      weapon('knife', 0.5, KNIFE_IN_HAND),
      null,
      weapon('knife', 0.6, KNIFE_IN_HAND),
      weapon('knife', 0.55, KNIFE_IN_HAND),
    ]);
    assert.equal(out[0].length, 0);
    assert.equal(out[1].length, 0);
    assert.equal(out[2].length, 1);
    assert.equal(out[3].length, 1);
    const c = out[2][0];
    assert.equal(c.kind, 'armed-person');
    assert.equal(c.severity, 'critical');
    assert.deepEqual(c.trackIds, [7]);
    assert.equal(c.cues.weaponClass, 'knife');
    assert.equal(c.cues.weaponScore, 0.6);
    assert.equal(c.cues.hits, 2);
    assert.equal(c.cues.window, 3);
    assert.equal(c.cues.instant, false);
    assert.ok(Number(c.cues.overlap) > 0);
    assert.equal(c.evidenceSeq, 2);
    assert.deepEqual(c.box, { x1: 800, y1: 300, x2: 1050, y2: 800 });
  });

  it('stops once the weapon is gone from enough samples', () => {
    const k = weapon('knife', 0.6, KNIFE_IN_HAND);
    // Samples k, k, -, -: 2 of the last 3 hold through the third sample, not the fourth.
    const out = run(new ArmedPerson(CFG), [k, k, null, null]);
    assert.deepEqual(
      out.map((c) => c.length),
      [0, 1, 1, 0],
    );
  });

  it('ignores a single 0.5 knife sighting', () => {
    const out = run(new ArmedPerson(CFG), [weapon('knife', 0.5, KNIFE_IN_HAND), null, null, null]);
    assert.ok(out.every((c) => c.length === 0));
  });

  it('confirms a single very confident sighting at once (sparse keyframes)', () => {
    const out = run(new ArmedPerson(CFG), [weapon('knife', 0.9, KNIFE_IN_HAND)]);
    assert.equal(out[0].length, 1);
    assert.equal(out[0][0].cues.instant, true);
  });

  it('raises nothing for a knife far from any person (unattended weapon is another analytic)', () => {
    const farKnife = weapon('knife', 0.7, { x1: 100, y1: 900, x2: 160, y2: 940 });
    const out = run(new ArmedPerson(CFG), [farKnife, farKnife, farKnife]);
    assert.ok(out.every((c) => c.length === 0));
  });

  it('counts a weapon whose centre is within 25 % of the box around the person, not beyond', () => {
    // Person 200 wide: the held zone reaches x = 1050. Centre at 1045 holds; centre at 1060 does not.
    const near = weapon('knife', 0.6, { x1: 1030, y1: 500, x2: 1060, y2: 520 });
    assert.equal(run(new ArmedPerson(CFG), [near, near])[1].length, 1);
    const beyond = weapon('knife', 0.6, { x1: 1045, y1: 500, x2: 1075, y2: 520 });
    assert.equal(run(new ArmedPerson(CFG), [beyond, beyond])[1].length, 0);
  });

  it('names only the person holding the weapon, not the one beside', () => {
    const a = new ArmedPerson(CFG);
    const beside: Box = { x1: 1060, y1: 300, x2: 1260, y2: 800 };
    let last: ReturnType<ArmedPerson['update']> = [];
    for (let seq = 0; seq < 2; seq++) {
      const t = T0 + seq * 1000;
      last = a.update(
        frame(seq, [person(7, PERSON, t), person(8, beside, t)], [weapon('knife', 0.6, KNIFE_IN_HAND)]),
      );
    }
    assert.deepEqual(
      last.map((c) => c.trackIds),
      [[7]],
    );
  });

  it('ignores non-weapon classes and takes custom weapon classes and thresholds from options', () => {
    const phone = weapon('cell phone', 0.9, KNIFE_IN_HAND);
    assert.ok(run(new ArmedPerson(CFG), [phone, phone]).every((c) => c.length === 0));

    const pistol = weapon('pistol', 0.5, KNIFE_IN_HAND);
    const custom = new ArmedPerson({ ...CFG, weaponClasses: ['pistol'], minScoreByClass: { pistol: 0.4 } });
    const out = run(custom, [pistol, pistol]);
    assert.equal(out[1].length, 1);
    assert.equal(out[1][0].cues.weaponClass, 'pistol');
    // Knife is not in this model's list.
    const knife = weapon('knife', 0.9, KNIFE_IN_HAND);
    assert.equal(run(new ArmedPerson({ ...CFG, weaponClasses: ['pistol'] }), [knife])[0].length, 0);
    // A per-class threshold above the score drops the sighting.
    const strict = new ArmedPerson({ ...CFG, minScoreByClass: { pistol: 0.6 } });
    assert.ok(run(strict, [pistol, pistol, pistol]).every((c) => c.length === 0));
  });

  it('forgets a person track not seen for 10 s', () => {
    const a = new ArmedPerson(CFG);
    const k = weapon('knife', 0.6, KNIFE_IN_HAND);
    a.update(frame(0, [person(7, PERSON, T0)], [k]));
    // Another person keeps the camera busy for 11 s; track 7 comes back with one sighting: no carry-over.
    for (let seq = 1; seq <= 11; seq++)
      a.update(frame(seq, [person(9, { ...PERSON, x1: 0, x2: 100 }, T0)], []));
    assert.equal(a.trackCount, 1);
    assert.equal(a.update(frame(12, [person(7, PERSON, T0)], [k])).length, 0);
  });

  it('rejects confirmHits larger than the window', () => {
    assert.throws(() => new ArmedPerson({ ...CFG, confirmHits: 4, confirmWindow: 3 }), RangeError);
  });
});
