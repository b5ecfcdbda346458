import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Crowding } from './crowding.js';
import { boxWithFoot, frameWith, personTrack, rect, zoneOf } from './test-frames.js';
import type { AlarmCandidate, Track } from './types.js';

const TZ = 'Etc/GMT-5';
const T0 = Date.parse('2026-01-05T10:00:00+05:00');

const corridor = zoneOf('corridor', 'crowding', rect(0, 0, 0.5, 1), { maxPeople: 3 });

/** n people standing inside the corridor zone (ids from `firstId`), spread along it. */
function people(n: number, t: number, firstId = 1): Track[] {
  return Array.from({ length: n }, (_, i) =>
    personTrack(firstId + i, boxWithFoot(0.25, 0.2 + (0.6 * i) / 30), t),
  );
}

function crowding(zones = [corridor], opts: { holdMs?: number; maxPeople?: number } = {}): Crowding {
  return new Crowding({ schoolId: 'school-1', cameraId: 'cam-1', zones, timeZone: TZ, ...opts });
}

/** One frame per second; `countAt(i)` people inside at frame i, plus `outside` people outside the zone. */
function run(c: Crowding, countAt: (i: number) => number, frames: number, outside = 0): AlarmCandidate[][] {
  const out: AlarmCandidate[][] = [];
  for (let i = 0; i < frames; i++) {
    const t = T0 + i * 1000;
    const away = Array.from({ length: outside }, (_, k) => personTrack(100 + k, boxWithFoot(0.8, 0.5), t));
    out.push(c.update(frameWith([...people(countAt(i), t), ...away], t, { seq: i })));
  }
  return out;
}

describe('Crowding', () => {
  it('raises once the count has stayed above maxPeople for holdMs, and stops when it drops', () => {
    const out = run(crowding(), (i) => (i < 14 ? 4 : 3), 16);
    assert.deepEqual(
      out.map((c) => c.length),
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0],
    );
    const c = out[10][0];
    assert.equal(c.kind, 'crowding');
    assert.equal(c.severity, 'medium');
    assert.equal(c.zoneId, 'corridor');
    assert.deepEqual(c.trackIds, []);
    assert.equal(c.evidenceSeq, 10);
    assert.deepEqual(c.cues, { count: 4, maxPeople: 3, holdS: 10, rise: 0, gathering: false });
    assert.ok(c.box && c.box.x1 < c.box.x2 && c.box.y1 < c.box.y2);
    assert.ok(c.score > 0.5 && c.score <= 1);
  });

  it('at maxPeople exactly, or above it for less than holdMs, raises nothing', () => {
    assert.equal(run(crowding(), () => 3, 15).flat().length, 0);
    // Over for 9 s, dips to the limit, over again for 9 s: the hold restarts.
    assert.equal(run(crowding(), (i) => (i === 9 ? 3 : 4), 19).flat().length, 0);
  });

  it('counts only people whose foot point is inside the zone', () => {
    assert.equal(run(crowding(), () => 3, 15, 5).flat().length, 0);
  });

  it('uses the default limit for a crowding zone without maxPeople', () => {
    const hall = zoneOf('hall', 'crowding', rect(0, 0, 0.5, 1));
    assert.equal(run(crowding([hall]), () => 25, 12).flat().length, 0);
    assert.equal(run(crowding([hall]), () => 26, 12).flat().length, 2);
    assert.equal(run(crowding([hall], { maxPeople: 10 }), () => 11, 12).flat().length, 2);
  });

  it('watches any zone with maxPeople, and ignores other zones without it', () => {
    const canteen = zoneOf('canteen', 'canteen', rect(0, 0, 0.5, 1), { maxPeople: 3 });
    const entrance = zoneOf('entrance', 'entrance', rect(0, 0, 0.5, 1));
    const out = run(crowding([canteen, entrance]), () => 30, 11);
    assert.deepEqual(
      out[10].map((c) => c.zoneId),
      ['canteen'],
    );
  });

  it('flags gathering when the count rose by >= 5 within 10 s', () => {
    // 4 people for 10 s (over the limit of 3), then 1 more each second.
    const out = run(crowding(), (i) => (i <= 10 ? 4 : 4 + (i - 10)), 16);
    assert.deepEqual(
      out.slice(10).map((c) => [c[0].cues.rise, c[0].cues.gathering]),
      [
        [0, false],
        [1, false],
        [2, false],
        [3, false],
        [4, false],
        [5, true],
      ],
    );
  });

  it('a rise spread over more than 10 s is not gathering', () => {
    // +1 person every 3 s: +3 within any 10 s window.
    const out = run(crowding(), (i) => 4 + Math.floor(i / 3), 25);
    const last = out[24][0];
    assert.equal(last.cues.count, 12);
    assert.equal(last.cues.gathering, false);
    assert.ok(Number(last.cues.rise) < 5);
  });

  it('counts only while the zone schedule is in force', () => {
    const lunch = zoneOf('canteen', 'canteen', rect(0, 0, 0.5, 1), {
      maxPeople: 3,
      schedule: { type: 'weekly', windows: [{ days: ['mon'], from: '12:00', to: '13:00' }] },
    });
    assert.equal(run(crowding([lunch]), () => 30, 12).flat().length, 0); // 10:00 Monday: not in force
  });
});
