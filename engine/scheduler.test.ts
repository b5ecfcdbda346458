import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FreshnessScheduler } from './scheduler.js';

interface Item {
  cam: string;
  n: number;
}

function harness(maxInFlight: number, extra: { maxWaiting?: number; canStart?: () => boolean } = {}) {
  const started: Item[] = [];
  const dropped: Array<[Item, string]> = [];
  const release: Array<() => void> = [];
  const s = new FreshnessScheduler<Item>({
    maxInFlight,
    ...extra,
    run: (item) => {
      started.push(item);
      return new Promise<void>((r) => release.push(r));
    },
    onDrop: (item, reason) => dropped.push([item, reason]),
  });
  const finishOne = async () => {
    release.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { s, started, dropped, finishOne };
}

describe('FreshnessScheduler', () => {
  it('keeps only the newest waiting sample of a camera and counts the superseded one', async () => {
    const { s, started, dropped, finishOne } = harness(1);
    s.submit('a', { cam: 'a', n: 1 });
    s.submit('a', { cam: 'a', n: 2 });
    s.submit('a', { cam: 'a', n: 3 });
    assert.deepEqual(started, [{ cam: 'a', n: 1 }]);
    assert.deepEqual(dropped, [[{ cam: 'a', n: 2 }, 'superseded']]);
    await finishOne();
    assert.deepEqual(started.at(-1), { cam: 'a', n: 3 });
  });

  it('serves cameras round-robin so a busy camera cannot starve others', async () => {
    const { s, started, finishOne } = harness(1);
    s.submit('busy', { cam: 'busy', n: 1 });
    s.submit('busy', { cam: 'busy', n: 2 });
    s.submit('quiet', { cam: 'quiet', n: 1 });
    s.submit('busy', { cam: 'busy', n: 3 });
    await finishOne();
    // busy#2 was replaced by busy#3 but kept its place in the queue, ahead of quiet (it arrived first).
    assert.deepEqual(
      started.map((i) => `${i.cam}${i.n}`),
      ['busy1', 'busy3'],
    );
    s.submit('busy', { cam: 'busy', n: 4 });
    await finishOne();
    assert.deepEqual(
      started.map((i) => `${i.cam}${i.n}`),
      ['busy1', 'busy3', 'quiet1'],
    );
    await finishOne();
    assert.deepEqual(
      started.map((i) => `${i.cam}${i.n}`),
      ['busy1', 'busy3', 'quiet1', 'busy4'],
    );
  });

  it('never runs more than maxInFlight at once', async () => {
    const { s, started } = harness(2);
    for (let i = 0; i < 10; i++) s.submit(`c${i}`, { cam: `c${i}`, n: i });
    assert.equal(started.length, 2);
    assert.equal(s.running, 2);
    assert.equal(s.pending, 8);
  });

  it('stop() drops waiting samples with reason stopped and waits for in-flight ones', async () => {
    const { s, dropped, finishOne } = harness(1);
    s.submit('a', { cam: 'a', n: 1 });
    s.submit('b', { cam: 'b', n: 1 });
    let stopped = false;
    const p = s.stop().then(() => (stopped = true));
    assert.deepEqual(dropped, [[{ cam: 'b', n: 1 }, 'stopped']]);
    await new Promise((r) => setImmediate(r));
    assert.equal(stopped, false);
    await finishOne();
    await p;
    assert.equal(stopped, true);
    s.submit('c', { cam: 'c', n: 1 });
    assert.equal(dropped.at(-1)![1], 'stopped');
  });

  it('serves boosted cameras first, and a camera that becomes boosted jumps the queue', async () => {
    const { s, started, finishOne } = harness(1);
    s.submit('a', { cam: 'a', n: 1 });
    s.submit('b', { cam: 'b', n: 1 });
    s.submit('c', { cam: 'c', n: 1 });
    s.submit('alarm', { cam: 'alarm', n: 1 }, true);
    s.submit('c', { cam: 'c', n: 2 }, true);
    const order = () => started.map((i) => `${i.cam}${i.n}`);
    assert.deepEqual(order(), ['a1']);
    for (let i = 0; i < 3; i++) await finishOne();
    // Priority lane in arrival order, then the normal lane; c's stale normal place is skipped.
    assert.deepEqual(order(), ['a1', 'alarm1', 'c2', 'b1']);
    await finishOne();
    assert.equal(s.pending, 0);
  });

  it('bounds the waiting samples: past maxWaiting the longest-waiting one is dropped as overload', () => {
    const { s, started, dropped } = harness(1, { maxWaiting: 3 });
    for (let i = 0; i < 6; i++) s.submit(`c${i}`, { cam: `c${i}`, n: i });
    assert.equal(started.length, 1);
    assert.equal(s.pending, 3);
    assert.deepEqual(
      dropped.map(([i, r]) => `${i.cam}:${r}`),
      ['c1:overload', 'c2:overload'],
    );
    // A boosted camera's sample survives while normal ones remain to be dropped.
    s.submit('p', { cam: 'p', n: 9 }, true);
    s.submit('c9', { cam: 'c9', n: 9 });
    assert.deepEqual(
      dropped.slice(2).map(([i, r]) => `${i.cam}:${r}`),
      ['c3:overload', 'c4:overload'],
    );
  });

  it('holds back while the next stage is full, keeps superseding, and resumes on kick()', async () => {
    let open = false;
    const { s, started, dropped } = harness(4, { canStart: () => open });
    s.submit('a', { cam: 'a', n: 1 });
    s.submit('a', { cam: 'a', n: 2 });
    assert.equal(started.length, 0);
    assert.deepEqual(dropped, [[{ cam: 'a', n: 1 }, 'superseded']]);
    open = true;
    s.kick();
    assert.deepEqual(started, [{ cam: 'a', n: 2 }]);
  });
});
