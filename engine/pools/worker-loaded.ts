/**
 * Terminating a worker thread while it is still loading its module (native addons: node-av, sharp,
 * onnxruntime-node) aborts the whole process: a call into a terminating isolate fails and Node treats that as
 * fatal (`FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw`, `v8::Module::IsGraphAsync …`; seen in
 * pools.test when a pool closed right after it started). So a pool waits, before it closes, until every
 * current worker has told piscina its module is loaded and, for workers that also load something in the
 * background (the inference worker's model), until they announced that too.
 */
import { parentPort, threadId } from 'node:worker_threads';
import type { Piscina } from 'piscina';

/** piscina's own "handler loaded" message key (piscina/dist/common.js READY), posted once per worker. */
const PISCINA_READY = '_WORKER_READY';
const LOADED = 'kuzetWorkerLoaded';

const hasKey = (m: unknown, key: string): m is Record<string, unknown> =>
  typeof m === 'object' && m !== null && key in m;

/**
 * For workers watched with `announces: true`: called once its background loading is done. Needs the pool's
 * atomics disabled, since an idle worker blocked in Atomics.wait never gets to run it.
 */
export function announceWorkerLoaded(): void {
  parentPort?.postMessage({ [LOADED]: threadId });
}

/** Which workers of the watched pools are safe to terminate. */
export class WorkerLoadTracker {
  private readonly ready = new Set<number>();
  private readonly announced = new Set<number>();
  private readonly needAnnouncement = new WeakSet<Piscina>();

  /** Call right after `new Piscina(…)`, before its first workers can have loaded. */
  watch(pool: Piscina, opts: { announces?: boolean } = {}): void {
    if (opts.announces) this.needAnnouncement.add(pool);
    const startup = new Set<number>();
    for (const w of pool.threads) {
      startup.add(w.threadId);
      w.on('message', (m: unknown) => {
        if (hasKey(m, PISCINA_READY)) this.ready.add(w.threadId);
      });
    }
    // piscina tells of a replacement worker only once it is ready (of its first workers, at once).
    pool.on('workerCreate', (w: { id: number }) => {
      if (!startup.has(w.id)) this.ready.add(w.id);
    });
    pool.on('message', (m: unknown) => {
      if (hasKey(m, LOADED) && typeof m[LOADED] === 'number') this.announced.add(m[LOADED]);
    });
  }

  /**
   * Resolves true once every current worker of the pools is loaded (a worker that died meanwhile is no
   * longer current), or false after timeoutMs: a worker stuck in its start-up must not block a shutdown.
   */
  async settled(pools: readonly Piscina[], timeoutMs = 15_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const loaded = (p: Piscina, id: number) =>
      this.ready.has(id) && (!this.needAnnouncement.has(p) || this.announced.has(id));
    for (;;) {
      if (pools.every((p) => p.threads.every((w) => loaded(p, w.threadId)))) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
