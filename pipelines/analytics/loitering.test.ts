import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Loitering } from './loitering.js';
import { boxWithFoot, frameWith, personTrack, rect, zoneOf } from './test-frames.js';
import type { AlarmCandidate, Box } from './types.js';
import type { Zone } from './zones.js';

const TZ = 'Etc/GMT-5';
const T0 = Date.parse('2026-01-05T10:00:00+05:00');
const gate = zoneOf('gate', 'entrance', rect(0, 0.5, 0.5, 1));

function loitering(zones: Zone[] = [gate], loiterMs?: number): Loitering {
  return new Loitering({ schoolId: 'school-1', cameraId: 'cam-1', zones, timeZone: TZ, loiterMs });
}

/** One frame every stepMs from T0 (synthetic timestamps, no waiting); `boxAt(i)` is track 1's box or null. */
function run(
  l: Loitering,
  frames: number,
  boxAt: (i: number) => Box | null,
  stepMs = 1000,
): AlarmCandidate[][] {
  const out: AlarmCandidate[][] = [];
  for (let i = 0; i < frames; i++) {
    const t = T0 + i * stepMs;
    const box = boxAt(i);
    out.push(l.update(frameWith(box ? [personTrack(1, box, t)] : [], t, { seq: i })));
  }
  return out;
}

const firstRaised = (out: AlarmCandidate[][]): number => out.findIndex((c) => c.length > 0);

describe('Loitering', () => {
  it('raises after loiterMs of staying in a small area of an entrance zone', () => {
    // Swaying by up to 30 px (of a 1414 px diagonal) for 3 minutes at 1 fps.
    const out = run(loitering(), 181, (i) => boxWithFoot(0.25 + ((i % 3) * 0.03) / 3, 0.8));
    assert.equal(firstRaised(out), 120);
    const c = out[120][0];
    assert.equal(c.kind, 'loitering');
    assert.equal(c.severity, 'low');
    assert.equal(c.zoneId, 'gate');
    assert.deepEqual(c.trackIds, [1]);
    assert.equal(c.evidenceSeq, 120);
    assert.equal(c.cues.dwellS, 120);
    assert.equal(c.cues.zone, 'gate');
    assert.ok(Number(c.cues.displacement) < 0.1);
    assert.ok(out.slice(120).every((cs) => cs.length === 1));
  });

  it('a person walking through, however slowly, raises nothing', () => {
    // Crosses the zone's width (500 px > 10% of diagonal per 120 s) over 4 minutes.
    const out = run(loitering(), 240, (i) => boxWithFoot(0.01 + (0.48 * i) / 240, 0.8));
    assert.equal(out.flat().length, 0);
  });

  it('pacing up and down a doorway counts: displacement is from the position loiterMs ago', () => {
    // Walks 200 px left and right with a 40 s period: far moves, but back where it was every 120 s.
    const out = run(loitering(), 130, (i) => boxWithFoot(0.1 + (0.2 * Math.abs((i % 40) - 20)) / 20, 0.8));
    assert.equal(firstRaised(out), 120);
  });

  it('leaving the entrance zone starts the stay over', () => {
    const out = run(loitering(), 200, (i) => boxWithFoot(0.25, i === 60 ? 0.3 : 0.8));
    assert.equal(firstRaised(out), 181);
  });

  it('watches the whole frame when the camera has no entrance zones', () => {
    const restricted = zoneOf('attic', 'restricted', rect(0, 0, 0.1, 0.1));
    const out = run(loitering([restricted]), 121, () => boxWithFoot(0.8, 0.3));
    assert.equal(firstRaised(out), 120);
    assert.equal(out[120][0].zoneId, null);
    assert.equal(out[120][0].cues.zone, 'frame');
    // With an entrance zone, standing elsewhere is not watched.
    assert.equal(run(loitering([gate]), 121, () => boxWithFoot(0.8, 0.3)).flat().length, 0);
  });

  it('only while the entrance schedule is in force', () => {
    const morning = zoneOf('gate', 'entrance', rect(0, 0.5, 0.5, 1), {
      schedule: { type: 'weekly', windows: [{ days: ['mon'], from: '10:01', to: '12:00' }] },
    });
    // In force from frame 60 (10:01): counted from then, so first raised at 180.
    const out = run(loitering([morning]), 190, () => boxWithFoot(0.25, 0.8));
    assert.equal(firstRaised(out), 180);
  });

  it('coasting neither resets nor extends the stay; a vanished track is forgotten', () => {
    const l = loitering();
    const out: AlarmCandidate[][] = [];
    for (let i = 0; i <= 120; i++) {
      const t = T0 + i * 1000;
      // Coasting with a drifting prediction outside the zone for frames 50-55.
      const coasting = i >= 50 && i <= 55;
      const box = coasting ? boxWithFoot(0.9, 0.2) : boxWithFoot(0.25, 0.8);
      out.push(l.update(frameWith([personTrack(1, box, t, { matched: !coasting })], t)));
    }
    assert.equal(firstRaised(out), 120);
    assert.equal(l.trackedCount, 1);
    for (let i = 121; i <= 135; i++) l.update(frameWith([], T0 + i * 1000));
    assert.equal(l.trackedCount, 0);
  });

  it('still raises on time at 25 fps (positions are decimated to bound state)', () => {
    // 25 fps for 130 s: still raised on time, with samples decimated internally.
    const out = run(loitering(), 130 * 25 + 1, () => boxWithFoot(0.25, 0.8), 40);
    assert.equal(firstRaised(out), 120 * 25);
  });

  it('honours loiterMs', () => {
    const out = run(loitering([gate], 10_000), 12, () => boxWithFoot(0.25, 0.8));
    assert.equal(firstRaised(out), 10);
  });
});
