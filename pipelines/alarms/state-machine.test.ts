import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Alarm, AlarmCandidate } from '../analytics/types.js';
import { AlarmStateMachine, MAX_ALARM_TRACKS, raiseSeverity } from './state-machine.js';

const T0 = Date.UTC(2026, 0, 1, 9);

function candidate(over: Partial<AlarmCandidate> = {}): AlarmCandidate {
  return {
    kind: 'intrusion',
    severity: 'high',
    schoolId: 'school-1',
    cameraId: 'cam-1',
    zoneId: 'attic',
    trackIds: [7],
    score: 0.8,
    cues: { dwellS: 1 },
    timeMs: T0,
    evidenceSeq: 1,
    ...over,
  };
}

/** Feeds one candidate every stepMs from startMs, ticking as the engine would, and gathers every change. */
function feed(
  sm: AlarmStateMachine,
  frames: number,
  over: Partial<AlarmCandidate> = {},
  startMs = T0,
  stepMs = 100,
): Alarm[] {
  const out: Alarm[] = [];
  for (let i = 0; i < frames; i++) {
    const t = startMs + i * stepMs;
    const a = sm.offer(candidate({ timeMs: t, evidenceSeq: i, ...over }));
    if (a) out.push(a);
    out.push(...sm.tick(t));
  }
  return out;
}

describe('AlarmStateMachine', () => {
  it('raises exactly one alarm for a repeated candidate stream, updating it', () => {
    const sm = new AlarmStateMachine();
    const changes = feed(sm, 50, { severity: 'low' });
    assert.equal(changes.length, 1);
    assert.equal(changes[0]!.state, 'confirmed');
    assert.equal(changes[0]!.frames, 1);
    const [active] = sm.active();
    assert.equal(active!.id, changes[0]!.id);
    assert.equal(active!.frames, 50);
    assert.equal(sm.active().length, 1);
  });

  it('keeps the best candidate as evidence and the latest cues, and says when the evidence moved', () => {
    const moved: Array<[number, number]> = [];
    const sm = new AlarmStateMachine({ onEvidenceChanged: (a) => moved.push([a.evidence.seq, a.score]) });
    const box = { x1: 1, y1: 2, x2: 3, y2: 4 };
    sm.offer(candidate({ score: 0.6, evidenceSeq: 1, cues: { n: 1 } }));
    sm.offer(candidate({ score: 0.9, evidenceSeq: 2, box, cues: { n: 2 }, timeMs: T0 + 100 }));
    sm.offer(candidate({ score: 0.7, evidenceSeq: 3, cues: { n: 3 }, timeMs: T0 + 200 }));
    const [a] = sm.active();
    assert.equal(a!.score, 0.9);
    assert.deepEqual(a!.evidence, { seq: 2, box });
    assert.deepEqual(a!.cues, { n: 3 });
    assert.equal(a!.updatedAt, T0 + 200);
    // Only the better candidate moved it (the first opened the alarm; its change carries the evidence).
    assert.deepEqual(moved, [[2, 0.9]]);
  });

  it('confirms at the kind’s frame count: open first, then confirmed', () => {
    const sm = new AlarmStateMachine({ confirmFrames: { fight: 3 } });
    const changes = feed(sm, 5, { kind: 'fight' });
    assert.deepEqual(
      changes.map((a) => a.state),
      ['open', 'confirmed'],
    );
    assert.equal(changes[1]!.frames, 3);
    assert.equal(changes[1]!.confirmedAt, T0 + 200);
    assert.equal(changes[0]!.id, changes[1]!.id);
  });

  it('expires an open alarm whose candidates stop, without escalation or cooldown', () => {
    const sm = new AlarmStateMachine();
    const [opened] = feed(sm, 1, { kind: 'fight', severity: 'critical' });
    assert.equal(opened!.state, 'open');
    assert.deepEqual(sm.tick(T0 + 29_999), []);
    const [expired] = sm.tick(T0 + 30_000);
    assert.equal(expired!.state, 'resolved');
    assert.equal(expired!.confirmedAt, null);
    // No cooldown: the same situation can open again at once.
    assert.equal(sm.offer(candidate({ kind: 'fight', timeMs: T0 + 31_000 }))!.state, 'open');
  });

  it('escalates a confirmed alarm not acknowledged in time, by severity', () => {
    const sm = new AlarmStateMachine({ resolveAfterMs: 1_000_000 });
    const critical = sm.offer(candidate({ kind: 'armed-person', severity: 'critical', zoneId: null }))!;
    const high = sm.offer(candidate({ severity: 'high', zoneId: 'z8' }))!;
    const low = sm.offer(candidate({ severity: 'low', zoneId: 'z9' }))!;
    assert.deepEqual(sm.tick(T0 + 29_999), []);
    assert.deepEqual(
      sm.tick(T0 + 30_000).map((a) => [a.id, a.state, a.updatedAt]),
      [[critical.id, 'escalated', T0 + 30_000]],
    );
    assert.deepEqual(
      sm.tick(T0 + 60_000).map((a) => [a.id, a.state]),
      [[high.id, 'escalated']],
    );
    // Escalation happens once; low never escalates.
    assert.deepEqual(sm.tick(T0 + 600_000), []);
    assert.equal(sm.active().find((a) => a.id === low.id)!.state, 'confirmed');
  });

  it('acknowledged alarms stop escalating and resolve when candidates stop', () => {
    const sm = new AlarmStateMachine();
    const a = sm.offer(candidate({ severity: 'critical' }))!;
    const acked = sm.acknowledge(a.id, 'operator-12', T0 + 5_000)!;
    assert.equal(acked.state, 'acknowledged');
    assert.equal(acked.acknowledgedBy, 'operator-12');
    assert.equal(sm.acknowledge(a.id, 'operator-12', T0 + 6_000), null);
    assert.equal(sm.acknowledge('no-such-id', 'x', T0), null);
    // Candidates keep it alive past the escalation deadline without escalating it.
    assert.deepEqual(feed(sm, 40, { severity: 'critical' }, T0 + 1_000, 1_000), []);
    const lastCandidate = T0 + 40_000;
    assert.deepEqual(sm.tick(lastCandidate + 29_999), []);
    const [resolved] = sm.tick(lastCandidate + 30_000);
    assert.equal(resolved!.state, 'resolved');
    assert.equal(resolved!.resolvedAt, lastCandidate + 30_000);
    assert.equal(resolved!.acknowledgedBy, 'operator-12');
    assert.equal(sm.active().length, 0);
  });

  it('suppresses reopening during the cooldown after resolution, and counts it', () => {
    const sm = new AlarmStateMachine({ resolveAfterMs: 10_000, cooldownMs: 60_000 });
    const first = sm.offer(candidate())!;
    const [resolved] = sm.tick(T0 + 10_000);
    assert.equal(resolved!.id, first.id);
    assert.equal(sm.offer(candidate({ timeMs: T0 + 20_000 })), null);
    assert.equal(sm.offer(candidate({ timeMs: T0 + 69_999 })), null);
    assert.equal(sm.suppressedCandidates, 2);
    const again = sm.offer(candidate({ timeMs: T0 + 70_000 }))!;
    assert.equal(again.state, 'confirmed');
    assert.notEqual(again.id, first.id);
  });

  it('keeps zones, cameras and kinds apart and merges the tracks of one incident', () => {
    const sm = new AlarmStateMachine();
    const ids = new Set(
      [
        candidate({ trackIds: [1] }),
        candidate({ trackIds: [1], zoneId: 'basement' }),
        candidate({ trackIds: [1], cameraId: 'cam-2' }),
        candidate({ trackIds: [1], kind: 'loitering' }),
        candidate({ trackIds: [2] }), // a re-formed track in the same place: the first alarm
        candidate({ trackIds: [] }),
        candidate({ trackIds: [1, 5] }),
      ].map((c) => sm.offer(c)?.id ?? 'none'),
    );
    assert.equal(ids.size, 5); // four alarms plus 'none' for the updates
    assert.equal(sm.active().length, 4);
    assert.deepEqual(sm.active()[0]!.trackIds, [1, 2, 5]);
  });

  it(`keeps at most ${MAX_ALARM_TRACKS} track ids per alarm`, () => {
    const sm = new AlarmStateMachine();
    for (let t = 0; t < 40; t++) sm.offer(candidate({ trackIds: [t, t + 100] }));
    const [a] = sm.active();
    assert.equal(a!.trackIds.length, MAX_ALARM_TRACKS);
    assert.deepEqual(a!.trackIds.slice(0, 3), [0, 100, 1]);
  });

  it('raises severity one level in elevated zones, never above critical', () => {
    const sm = new AlarmStateMachine({ elevatedZones: ['basement', 'entrance'] });
    assert.equal(sm.offer(candidate({ zoneId: 'basement', severity: 'medium' }))!.severity, 'high');
    assert.equal(sm.offer(candidate({ zoneId: 'entrance', severity: 'critical' }))!.severity, 'critical');
    assert.equal(sm.offer(candidate({ zoneId: 'corridor', severity: 'medium' }))!.severity, 'medium');
    assert.equal(raiseSeverity('low'), 'medium');
  });

  it('stays bounded: the oldest lowest-severity alarm makes room, and is returned by tick()', () => {
    const sm = new AlarmStateMachine({ maxActive: 3 });
    const high = sm.offer(candidate({ zoneId: 'z1', severity: 'high' }))!;
    const lowOld = sm.offer(candidate({ zoneId: 'z2', severity: 'low' }))!;
    sm.offer(candidate({ zoneId: 'z3', severity: 'low' }));
    const newcomer = sm.offer(candidate({ zoneId: 'z4', severity: 'medium', timeMs: T0 + 1 }))!;
    assert.equal(newcomer.state, 'confirmed');
    assert.equal(sm.active().length, 3);
    assert.deepEqual(
      sm.tick(T0 + 2).map((a) => [a.id, a.state]),
      [[lowOld.id, 'resolved']],
    );
    // A low newcomer evicts the remaining low alarm, never the high one.
    sm.offer(candidate({ zoneId: 'z5', severity: 'low', timeMs: T0 + 3 }));
    assert.ok(sm.active().some((a) => a.id === high.id));
    // When every active alarm outranks the newcomer, the newcomer is the one dropped.
    const full = new AlarmStateMachine({ maxActive: 1 });
    full.offer(candidate({ severity: 'critical' }));
    assert.equal(full.offer(candidate({ zoneId: 'z9', severity: 'low' })), null);
    assert.equal(full.droppedAlarms, 1);
  });
});
