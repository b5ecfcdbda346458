import assert from 'node:assert/strict';
import { test } from 'node:test';
import { autoPoolThreads } from './sizing.js';

test('auto sizing: one inference worker per core, one decode worker per 4 cores, never zero', () => {
  assert.deepEqual(autoPoolThreads(1), { decodeThreads: 1, inferThreads: 1 });
  assert.deepEqual(autoPoolThreads(2), { decodeThreads: 1, inferThreads: 2 });
  assert.deepEqual(autoPoolThreads(16), { decodeThreads: 4, inferThreads: 16 });
  assert.deepEqual(autoPoolThreads(0), { decodeThreads: 1, inferThreads: 1 });
});
