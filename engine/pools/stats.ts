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
  /** Workers that died with work in hand (each was replaced). */
  crashes: number;
}

/** One pool's stats, or the sum over several one-thread lanes. */
export function lanesStats(pools: readonly Piscina[], maxQueue: number, crashes: number): PoolStats {
  let threads = 0;
  let queued = 0;
  let completed = 0;
  let utilization = 0;
  for (const p of pools) {
    threads += p.threads.length;
    queued += p.queueSize;
    completed += p.completed;
    utilization += p.utilization;
  }
  return { threads, queued, maxQueue, completed, utilization: utilization / pools.length, crashes };
}
