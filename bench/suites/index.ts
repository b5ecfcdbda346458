import type { Suite } from '../harness/types.js';
import { accuracySuite } from './accuracy.js';
import { alarmsSuite } from './alarms.js';
import { decodeSuite } from './decode.js';
import { detectSuite } from './detect.js';
import { inferSuite } from './infer.js';
import { ingestSuite } from './ingest.js';
import { pipelineSuite } from './pipeline.js';
import { sinkSuite } from './sink.js';

/** Suites by name. Adding a benchmark is adding a file here, not editing the runner. */
export const suites: readonly Suite[] = [
  detectSuite,
  ingestSuite,
  decodeSuite,
  inferSuite,
  pipelineSuite,
  accuracySuite,
  sinkSuite,
  alarmsSuite,
];

export function findSuite(name: string): Suite | undefined {
  return suites.find((s) => s.name === name);
}
