import type { BenchResult, Spread } from './types.js';

/** Linear-interpolated percentile (p in 0..100) of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * (p / 100);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function spread(values: readonly number[]): Spread {
  return {
    min: Math.min(...values),
    p25: percentile(values, 25),
    median: median(values),
    p75: percentile(values, 75),
    max: Math.max(...values),
  };
}

export type Better = 'higher' | 'lower';

/** Builds a result from per-run values; `better` decides which way the ratio points so that > 1 favours Kuzet. */
export function compare(
  name: string,
  unit: string,
  better: Better,
  runs: number[],
  baselineRuns: number[],
  notes?: string,
): BenchResult {
  const kuzet = median(runs);
  const baseline = median(baselineRuns);
  const ratio = better === 'higher' ? kuzet / baseline : baseline / kuzet;
  return {
    name,
    unit,
    kuzet,
    baseline,
    ratio,
    runs,
    baselineRuns,
    spread: { kuzet: spread(runs), baseline: spread(baselineRuns) },
    notes,
  };
}
