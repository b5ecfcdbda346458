import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ZoneIntrusion } from './intrusion.js';
import { boxWithFoot, frameWith, personTrack, rect, trackOf, zoneOf } from './test-frames.js';
import type { AlarmCandidate, Track } from './types.js';

const TZ = 'Etc/GMT-5';
const at = (local: string): number => Date.parse(`${local}+05:00`);
const T0 = at('2026-01-05T23:00:00'); // Monday night: after-hours schedules are in force

const attic = zoneOf('attic', 'restricted', rect(0.2, 0.2, 0.6, 0.6));
const INSIDE = boxWithFoot(0.4, 0.5);
const OUTSIDE = boxWithFoot(0.8, 0.5);

function intrusion(zones = [attic], dwellMs?: number): ZoneIntrusion {
  return new ZoneIntrusion({ schoolId: 'school-1', cameraId: 'cam-1', zones, timeZone: TZ, dwellMs });
}

/** Feeds one frame per second from startMs; `tracksAt(i, t)` gives frame i's tracks. Returns per-frame output. */
function run(a: ZoneIntrusion, frames: number, tracksAt: (i: number, t: number) => Track[], startMs = T0) {
  const out: AlarmCandidate[][] = [];
  for (let i = 0; i < frames; i++) {
    const t = startMs + i * 1000;
    out.push(a.update(frameWith(tracksAt(i, t), t, { seq: i })));
  }
  return out;
}

describe('ZoneIntrusion', () => {
  it('raises from the sample dwellMs after entry while the person stays, and stops on exit', () => {
    // Frames 0-1 outside, 2-6 inside, 7-8 outside.
    const out = run(intrusion(), 9, (i, t) => [personTrack(7, i >= 2 && i <= 6 ? INSIDE : OUTSIDE, t)]);
    assert.deepEqual(
      out.map((c) => c.length),
      [0, 0, 0, 0, 1, 1, 1, 0, 0],
    );
    const first = out[4][0];
    assert.equal(first.kind, 'intrusion');
    assert.equal(first.severity, 'high');
    assert.equal(first.zoneId, 'attic');
    assert.deepEqual(first.trackIds, [7]);
    assert.equal(first.evidenceSeq, 4);
    assert.equal(first.timeMs, T0 + 4000);
    assert.deepEqual(first.cues, { dwellS: 2, zone: 'attic', footX: 0.4, footY: 0.5 });
    assert.deepEqual(first.box, INSIDE);
    assert.equal(out[6][0].cues.dwellS, 4);
  });

  it('a track that leaves and comes back starts its dwell over', () => {
    // Inside 0-2, out at 3, inside again 4-6: raises at 2, then not until 6.
    const out = run(intrusion(), 7, (i, t) => [personTrack(7, i === 3 ? OUTSIDE : INSIDE, t)]);
    assert.deepEqual(
      out.map((c) => c.length),
      [0, 0, 1, 0, 0, 0, 1],
    );
  });

  it('a dwell shorter than dwellMs raises nothing', () => {
    const out = run(intrusion(), 6, (i, t) => [personTrack(7, i === 2 || i === 3 ? INSIDE : OUTSIDE, t)]);
    assert.equal(out.flat().length, 0);
  });

  it('counts dwell from the moment the schedule turns on, and raises nothing before it', () => {
    const nightly = zoneOf('basement', 'restricted', rect(0.2, 0.2, 0.6, 0.6), {
      schedule: {
        type: 'after-hours',
        open: '07:30',
        close: '19:00',
        schoolDays: ['mon', 'tue', 'wed', 'thu', 'fri'],
      },
    });
    const onAt = at('2026-01-05T19:00:00');
    // Enters 3 s before the zone turns on and stays: raised 2 s after the switch-on, not 2 s after entry.
    const early = run(intrusion([nightly]), 8, (_i, t) => [personTrack(1, INSIDE, t)], onAt - 3000);
    assert.deepEqual(
      early.map((c) => c.length),
      [0, 0, 0, 0, 0, 1, 1, 1],
    );
    assert.equal(early[5][0].cues.dwellS, 2);
    // Enters 1 s after switch-on: the same 2 s dwell from entry.
    const late = run(intrusion([nightly]), 5, (_i, t) => [personTrack(2, INSIDE, t)], onAt + 1000);
    assert.deepEqual(
      late.map((c) => c.length),
      [0, 0, 1, 1, 1],
    );
    // In during school hours and gone before the switch-on: nothing.
    const gone = run(
      intrusion([nightly]),
      6,
      (i, t) => [personTrack(3, i < 3 ? INSIDE : OUTSIDE, t)],
      onAt - 3000,
    );
    assert.equal(gone.flat().length, 0);
  });

  it('two people in the zone raise a candidate each', () => {
    const other = boxWithFoot(0.3, 0.3);
    const out = run(intrusion(), 3, (_i, t) => [personTrack(1, INSIDE, t), personTrack(2, other, t)]);
    assert.deepEqual(
      out[2].map((c) => c.trackIds[0]),
      [1, 2],
    );
  });

  it('a person beside the zone whose box overlaps it (foot outside) raises nothing', () => {
    // Foot just below the zone's bottom edge: the body overlaps the polygon in the image.
    const beside = boxWithFoot(0.4, 0.65);
    assert.ok(beside.y1 < 0.6 * 1000);
    const out = run(intrusion(), 5, (_i, t) => [personTrack(1, beside, t)]);
    assert.equal(out.flat().length, 0);
  });

  it('ignores other classes', () => {
    const out = run(intrusion(), 5, (_i, t) => [trackOf('backpack', 1, INSIDE, t)]);
    assert.equal(out.flat().length, 0);
  });

  it('a coasting track keeps its dwell but neither raises nor starts one', () => {
    // Inside 0-1, coasting 2-3 (predicted outside), matched inside again at 4: raised at 4 with dwell 4 s.
    const out = run(intrusion(), 5, (i, t) =>
      i === 2 || i === 3 ? [personTrack(1, OUTSIDE, t, { matched: false })] : [personTrack(1, INSIDE, t)],
    );
    assert.deepEqual(
      out.map((c) => c.length),
      [0, 0, 0, 0, 1],
    );
    assert.equal(out[4][0].cues.dwellS, 4);
    // Coasting inside from the start does not start a dwell.
    const coasting = run(intrusion(), 5, (_i, t) => [personTrack(2, INSIDE, t, { matched: false })]);
    assert.equal(coasting.flat().length, 0);
  });

  it('watches restricted zones only, and honours dwellMs', () => {
    const canteen = zoneOf('canteen', 'canteen', rect(0.2, 0.2, 0.6, 0.6));
    assert.equal(run(intrusion([canteen]), 5, (_i, t) => [personTrack(1, INSIDE, t)]).flat().length, 0);
    const quick = run(intrusion([attic], 0), 2, (_i, t) => [personTrack(1, INSIDE, t)]);
    assert.deepEqual(
      quick.map((c) => c.length),
      [1, 1],
    );
  });

  it('forgets tracks no longer listed', () => {
    const a = intrusion();
    run(a, 2, (_i, t) => [personTrack(1, INSIDE, t), personTrack(2, INSIDE, t)]);
    assert.equal(a.trackedCount, 2);
    run(a, 12, (_i, t) => [personTrack(2, INSIDE, t)], T0 + 2000);
    assert.equal(a.trackedCount, 1);
  });

  it('rejects an unknown time zone at construction', () => {
    assert.throws(
      () => new ZoneIntrusion({ schoolId: 's', cameraId: 'c', zones: [attic], timeZone: 'Nowhere/City' }),
      RangeError,
    );
  });
});
