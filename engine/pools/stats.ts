import type { Piscina } from 'piscina';

/** What a pool reports for kuzet_queue_depth and dashboards. */
export interface PoolStats {
  threads: number;
  /** Tasks waiting for a free worker. */
  queued: number;
  maxQueue: number;
  completed: number;
  /** Fraction of time the workers were busy since the pool started (0..1). */
  utilization: number;
}

export function poolStats(pool: Piscina, maxQueue: number): PoolStats {
  return {
    threads: pool.threads.length,
    queued: pool.queueSize,
    maxQueue,
    completed: pool.completed,
    utilization: pool.utilization,
  };
}
