import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Detection } from '../../engine/types.js';
import type { Track } from '../analytics/types.js';
import { ByteTracker, iou } from './bytetrack.js';

const T0 = Date.UTC(2026, 0, 1, 9);
const PERSON_W = 50;
const PERSON_H = 120;

/** A detection whose box has its top-left corner at (x, y). */
function det(className: string, score: number, x: number, y: number, w = PERSON_W, h = PERSON_H): Detection {
  return {
    classId: className === 'person' ? 0 : 43,
    className,
    score,
    x1: x,
    y1: y,
    x2: x + w,
    y2: y + h,
    trackId: null,
  };
}

function person(x: number, y = 100, score = 0.9): Detection {
  return det('person', score, x, y);
}

function byId(tracks: Track[], id: number | null): Track | undefined {
  return tracks.find((t) => t.id === id);
}

describe('ByteTracker', () => {
  it('keeps the ids of two people walking past each other at 1 fps', () => {
    const tracker = new ByteTracker();
    // A walks right, B walks left, 60 px/s, 10 px apart vertically: between t=2 s and t=3 s they swap
    // places exactly, so only the motion prediction can tell them apart.
    let idA: number | null = null;
    let idB: number | null = null;
    for (let i = 0; i <= 8; i++) {
      const a = person(100 + 60 * i, 100);
      const b = person(400 - 60 * i, 110);
      const tracks = tracker.update([a, b], T0 + i * 1000);
      assert.equal(tracks.length, 2, `frame ${i}`);
      if (i === 0) {
        idA = a.trackId;
        idB = b.trackId;
        assert.notEqual(idA, null);
        assert.notEqual(idB, null);
        assert.notEqual(idA, idB);
      } else {
        assert.equal(a.trackId, idA, `A at frame ${i}`);
        assert.equal(b.trackId, idB, `B at frame ${i}`);
      }
    }
    const tracks = tracker.update([], T0 + 9000);
    assert.ok(Math.abs((byId(tracks, idA)?.vx ?? 0) - 60) < 1e-6, 'A velocity ≈ +60 px/s');
    assert.ok(Math.abs((byId(tracks, idB)?.vx ?? 0) + 60) < 1e-6, 'B velocity ≈ -60 px/s');
  });

  it('keeps the id of a person who moves 1.5x their width between samples (centre fallback)', () => {
    const step = 1.5 * PERSON_W;
    assert.equal(iou(person(100), person(100 + step)), 0, 'no overlap: IoU alone cannot match');
    const tracker = new ByteTracker();
    const ids: (number | null)[] = [];
    for (let i = 0; i < 5; i++) {
      const d = person(100 + step * i, 100, 0.7);
      tracker.update([d], T0 + i * 1000);
      ids.push(d.trackId);
    }
    assert.deepEqual(ids, [null, 1, 1, 1, 1], 'tentative on the first sample, then one id throughout');
  });

  it('does not fall back onto a detection farther than the box diagonal', () => {
    const tracker = new ByteTracker();
    const first = person(100);
    tracker.update([first], T0);
    const far = person(100 + 3 * PERSON_W + PERSON_H); // centre distance > diagonal (130 px)
    const tracks = tracker.update([far], T0 + 1000);
    assert.notEqual(far.trackId, first.trackId);
    assert.equal(tracks.length, 2, 'the old track coasts, the far detection starts its own');
  });

  it('coasts through a missed frame on a predicted box and keeps the id', () => {
    const tracker = new ByteTracker();
    for (let i = 0; i < 3; i++) tracker.update([person(100 + 40 * i)], T0 + i * 1000);
    const coasting = tracker.update([], T0 + 3000);
    assert.equal(coasting.length, 1);
    const t = coasting[0];
    assert.equal(t.matched, false);
    assert.equal(t.id, 1);
    assert.equal(t.box.x1, 220, 'predicted 40 px/s ahead of the last box at x=180');
    assert.equal(t.box.x2 - t.box.x1, PERSON_W, 'box size kept');
    assert.equal(t.lastSeenMs, T0 + 2000);

    const back = person(260);
    const tracks = tracker.update([back], T0 + 4000);
    assert.equal(back.trackId, 1);
    assert.equal(tracks[0].matched, true);
    assert.equal(tracks[0].box.x1, 260);
    assert.equal(tracks[0].hits, 4);
  });

  it('removes a track after maxCoastMs and gives a later detection a new id', () => {
    const tracker = new ByteTracker({ maxCoastMs: 3000 });
    const first = person(100);
    tracker.update([first], T0);
    assert.equal(first.trackId, 1);
    assert.equal(tracker.update([], T0 + 3000).length, 1, 'still coasting at exactly maxCoastMs');
    assert.equal(tracker.update([], T0 + 3001).length, 0, 'gone after maxCoastMs');
    assert.equal(tracker.liveTrackCount, 0);

    const again = person(100);
    const tracks = tracker.update([again], T0 + 3500);
    assert.equal(again.trackId, 2, 'a new id, never the old one');
    assert.deepEqual(
      tracks.map((t) => t.id),
      [2],
    );
  });

  it('recovers an existing track with a low-score detection but never starts one from it', () => {
    const tracker = new ByteTracker();
    const seen = person(100);
    tracker.update([seen], T0);
    const weak = person(105, 100, 0.3);
    const tracks = tracker.update([weak], T0 + 1000);
    assert.equal(weak.trackId, seen.trackId);
    assert.equal(tracks[0].matched, true);
    assert.equal(tracks[0].score, 0.3);

    const lonely = new ByteTracker();
    for (let i = 0; i < 5; i++) {
      const d = person(100, 100, 0.3);
      assert.deepEqual(lonely.update([d], T0 + i * 1000), []);
      assert.equal(d.trackId, null);
    }
    assert.equal(lonely.liveTrackCount, 0);
  });

  it('does not let a low-score detection confirm a tentative track', () => {
    const tracker = new ByteTracker();
    tracker.update([person(100, 100, 0.65)], T0);
    const weak = person(100, 100, 0.3);
    assert.deepEqual(tracker.update([weak], T0 + 1000), []);
    assert.equal(weak.trackId, null);
  });

  it('never matches across classes (a knife next to a person)', () => {
    const tracker = new ByteTracker();
    const p = person(100);
    tracker.update([p], T0);
    // The knife sits inside the person box, and later appears where the person was while the person is missed.
    const knife = det('knife', 0.85, 130, 150, 20, 40);
    const p2 = person(100);
    tracker.update([p2, knife], T0 + 1000);
    assert.equal(p2.trackId, p.trackId);
    assert.notEqual(knife.trackId, null);
    assert.notEqual(knife.trackId, p.trackId);

    const bigKnife = det('knife', 0.9, 100, 100, PERSON_W, PERSON_H);
    const tracks = tracker.update([bigKnife], T0 + 2000);
    assert.notEqual(bigKnife.trackId, p.trackId);
    const personTrack = byId(tracks, p.trackId);
    assert.equal(personTrack?.matched, false, 'the person coasts instead of taking the knife');
    assert.equal(personTrack?.className, 'person');
  });

  it('tracks only the configured classes', () => {
    const tracker = new ByteTracker({ classes: ['person'] });
    const chair = det('chair', 0.95, 300, 300);
    const p = person(100);
    const tracks = tracker.update([p, chair], T0);
    assert.equal(chair.trackId, null);
    assert.deepEqual(
      tracks.map((t) => t.className),
      ['person'],
    );
  });

  it('never confirms a single-frame false positive at score 0.6 (minHits)', () => {
    const tracker = new ByteTracker();
    const ghost = det('person', 0.6, 600, 100);
    assert.deepEqual(tracker.update([ghost], T0), []);
    assert.equal(ghost.trackId, null);
    for (let i = 1; i < 5; i++) assert.deepEqual(tracker.update([], T0 + i * 1000), []);
    assert.equal(tracker.liveTrackCount, 0, 'the tentative track is dropped when it misses a frame');
  });

  it('confirms a 0.6 detection on its second match, and a >= 0.8 one at once', () => {
    const tracker = new ByteTracker();
    const a1 = det('person', 0.6, 100, 100);
    const sure = det('person', 0.85, 500, 100);
    const first = tracker.update([a1, sure], T0);
    assert.equal(a1.trackId, null);
    assert.equal(sure.trackId, 1);
    assert.deepEqual(
      first.map((t) => t.id),
      [1],
    );

    const a2 = det('person', 0.6, 110, 100);
    const second = tracker.update([a2], T0 + 1000);
    assert.equal(a2.trackId, 2);
    const a = byId(second, 2);
    assert.equal(a?.hits, 2);
    assert.equal(a?.firstSeenMs, T0);
    assert.equal(a?.vx, 10);
  });

  it('resets stale trackIds on detections it does not match', () => {
    const tracker = new ByteTracker();
    const noise = det('person', 0.05, 100, 100);
    noise.trackId = 99;
    tracker.update([noise], T0);
    assert.equal(noise.trackId, null);
  });

  it('hands out ids increasing from 1 and never reuses one', () => {
    const tracker = new ByteTracker({ maxCoastMs: 1000 });
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) {
      // A new person every 2 s far from the others; each old one expires before the next arrives.
      const d = person(100 + (i % 3) * 300, 100, 0.9);
      tracker.update([d], T0 + i * 2000);
      assert.notEqual(d.trackId, null);
      seen.push(d.trackId ?? 0);
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  it('caps live tracks by dropping the oldest tentative', () => {
    const tracker = new ByteTracker({ maxTracks: 4 });
    const sure = person(0, 0, 0.9);
    const frame = [sure];
    for (let i = 1; i < 8; i++) frame.push(det('person', 0.65, i * 200, 0));
    const tracks = tracker.update(frame, T0);
    assert.equal(tracker.liveTrackCount, 4);
    assert.deepEqual(
      tracks.map((t) => t.id),
      [1],
      'the confirmed track is kept',
    );
    // The newest tentatives survived: they confirm on the next frame, the evicted ones start over.
    const next = frame.map((d) => ({ ...d, trackId: null }));
    tracker.update(next, T0 + 1000);
    assert.deepEqual(
      next.map((d) => d.trackId !== null),
      [true, false, false, false, false, true, true, true],
    );
  });
});
