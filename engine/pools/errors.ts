import { KuzetError, type ErrorCode } from '../errors.js';

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

export function isQueueFull(err: unknown): err is PoolQueueFullError {
  return err instanceof PoolQueueFullError;
}

/** Maps piscina's own queue-limit rejection to ours; anything else becomes a coded error of `code`. */
export function poolError(err: unknown, stage: PoolStage, maxQueue: number, code: ErrorCode): Error {
  if (err instanceof PoolQueueFullError || err instanceof KuzetError) return err;
  if (err instanceof Error && /queue is at limit/i.test(err.message))
    return new PoolQueueFullError(stage, maxQueue);
  const msg = err instanceof Error ? err.message : String(err);
  return new KuzetError(code, `${stage} worker failed: ${msg}`, { cause: err });
}
