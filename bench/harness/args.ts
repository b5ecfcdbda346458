import type { SuiteContext } from './types.js';

/** A suite's `--key N` flag as a positive integer, or `dflt` when absent. */
export function intArg(ctx: SuiteContext, key: string, dflt: number): number {
  const v = ctx.args[key];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${key} must be a positive integer, got ${v}`);
  return n;
}
