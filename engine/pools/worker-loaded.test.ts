import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodePool } from './decode-pool.js';
import { InferPool } from './infer-pool.js';

/** Creates a pool and closes it `delayMs` later, for every delay: each close lands at another start-up moment. */
async function closeDuringStartUp(
  make: () => { close(): Promise<void> },
  delaysMs: number[],
): Promise<number> {
  let closed = 0;
  for (const delayMs of delaysMs) {
    const pool = make();
    await new Promise((r) => setTimeout(r, delayMs));
    await pool.close();
    closed++;
  }
  return closed;
}

const steps = (to: number, step: number) => Array.from({ length: to / step + 1 }, (_, i) => i * step);

// Before the pools waited for their workers to load, closing one while a worker was still loading node-av
// aborted this whole process (FATAL ERROR ... napi_throw, or IsGraphAsync) in 3 runs out of 3 of the first
// sweep. A crash here fails the file with SIGABRT rather than an assertion.
test('a decode pool closed at any moment of its workers start-up closes cleanly', async () => {
  assert.equal(await closeDuringStartUp(() => new DecodePool({ threads: 2 }), steps(200, 4)), 51);
});

test('an inference pool closed at any moment of its workers start-up closes cleanly', async () => {
  const pools: InferPool[] = [];
  const make = () => {
    const pool = new InferPool({ threads: 2 });
    pools.push(pool);
    return pool;
  };
  assert.equal(await closeDuringStartUp(make, steps(300, 25)), 13);
  // Their start-up probes settled too, none left hanging.
  await Promise.all(pools.map((p) => p.whenReady()));
});
