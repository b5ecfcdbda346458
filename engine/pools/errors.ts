import { KuzetError } from '../errors.js';

export type PoolStage = 'decode' | 'infer';

/**
 * A bounded pool refused work. Not a KuzetError: it is back-pressure, not a failure, and callers count it as
 * kuzet_dropped_total{stage, reason="queue_full"}.
 */
export class PoolQueueFullError extends Error {
  readonly reason = 'queue_full' as const;
  constructor(
    readonly stage: PoolStage,
    readonly maxQueue: number,
  ) {
    super(`${stage} pool queue is full (${maxQueue} waiting): frame dropped`);
    this.name = 'PoolQueueFullError';
  }
}

/**
 * The worker running this task died (native crash, out of memory, terminated). The pool has already started a
 * replacement; callers count the sample as kuzet_dropped_total{stage, reason="worker_crashed"}.
 */
export class PoolWorkerCrashError extends Error {
  readonly reason = 'worker_crashed' as const;
  constructor(
    readonly stage: PoolStage,
    detail: string,
  ) {
    super(`${stage} worker died while working on this frame (${detail}); it was replaced`);
    this.name = 'PoolWorkerCrashError';
  }
}

export function isQueueFull(err: unknown): err is PoolQueueFullError {
  return err instanceof PoolQueueFullError;
}

/** The drop reason for a failed sample: queue_full, worker_crashed, or `fallback` for decode/model errors. */
export function dropReason(err: unknown, fallback: string): string {
  if (err instanceof PoolQueueFullError || err instanceof PoolWorkerCrashError) return err.reason;
  return fallback;
}

/**
 * Maps a rejected piscina task to ours. The workers never throw for a bad frame (they reply with a failure), so
 * a rejection is either piscina's queue limit or the worker itself dying (crash, uncaught error, terminate).
 */
export function poolError(err: unknown, stage: PoolStage, maxQueue: number): Error {
  if (err instanceof PoolQueueFullError || err instanceof PoolWorkerCrashError || err instanceof KuzetError)
    return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (/queue is at limit/i.test(msg)) return new PoolQueueFullError(stage, maxQueue);
  return new PoolWorkerCrashError(stage, msg);
}
