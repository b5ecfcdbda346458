import type { Suite } from '../harness/types.js';
import { detectSuite } from './detect.js';
import { ingestSuite } from './ingest.js';

/** Suites by name. Adding a benchmark is adding a file here, not editing the runner. */
export const suites: readonly Suite[] = [detectSuite, ingestSuite];

export function findSuite(name: string): Suite | undefined {
  return suites.find((s) => s.name === name);
}
