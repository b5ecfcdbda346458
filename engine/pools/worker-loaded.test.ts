import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodePool } from './decode-pool.js';
import { InferPool } from './infer-pool.js';

// Before the pools waited for their workers' announcements, closing one while a worker was still loading
// node-av aborted this whole process (FATAL ERROR ... napi_throw, or IsGraphAsync) in 3 runs out of 3 of
// this sweep. A crash here fails the file with SIGABRT rather than an assertion.
test('a decode pool closed at any moment of its workers start-up closes cleanly', async () => {
  let closed = 0;
  for (let delayMs = 0; delayMs <= 200; delayMs += 4) {
    const pool = new DecodePool({ threads: 2 });
    await new Promise((r) => setTimeout(r, delayMs));
    await pool.close();
    closed++;
  }
  assert.equal(closed, 51);
});

test('an inference pool closed at any moment of its workers start-up closes cleanly', async () => {
  let closed = 0;
  for (let delayMs = 0; delayMs <= 300; delayMs += 25) {
    const pool = new InferPool({ threads: 2 });
    await new Promise((r) => setTimeout(r, delayMs));
    await pool.close();
    await pool.whenReady(); // its start-up probe settles too, never left hanging
    closed++;
  }
  assert.equal(closed, 13);
});
