/**
 * Runs `fn` warmup + runs times and returns the measured runs only. Warm-up absorbs JIT, model loading and
 * worker start-up, which are real costs but not the steady state a camera fleet runs in.
 */
export async function repeat<T>(
  opts: { runs: number; warmup: number; label?: string; progress?: (msg: string) => void },
  fn: (run: number) => Promise<T>,
): Promise<T[]> {
  for (let i = 0; i < opts.warmup; i++) {
    await fn(-1 - i);
    opts.progress?.(`${opts.label ?? 'run'}: warm-up ${i + 1}/${opts.warmup}`);
  }
  const out: T[] = [];
  for (let i = 0; i < opts.runs; i++) {
    out.push(await fn(i));
    opts.progress?.(`${opts.label ?? 'run'}: run ${i + 1}/${opts.runs}`);
  }
  return out;
}

/** Runs `count` tasks with at most `inflight` outstanding, in index order of start. */
export async function pipelined(
  count: number,
  inflight: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(inflight, count)) }, async () => {
    while (next < count) await task(next++);
  });
  await Promise.all(lanes);
}
