/**
 * Bare onnxruntime-node baselines for `bench infer`:
 * - OrtWorkerLoop: T worker_threads, one session each (intra-op 1), session.run back to back, images handed
 *   out through a shared atomic counter: the same shape of parallelism as Kuzet's InferPool, without it.
 * - OrtSequentialLoop: one session with intra-op T on the calling thread, session.run in a plain loop.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { compiledPath } from '../../engine/paths.js';
import { createOrtSession, ortInputs, type OrtLoopConfig } from './ort-session.js';

type Reply =
  { type: 'ready'; provider: string } | { type: 'done'; images: number } | { type: 'error'; error: string };

function next(worker: Worker): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Reply) => {
      cleanup();
      if (m.type === 'error') reject(new Error(`ort baseline worker: ${m.error}`));
      else resolve(m);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`ort baseline worker exited (${code})`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

export class OrtWorkerLoop {
  private constructor(
    private readonly workers: Worker[],
    /** [0]: images claimed in the current run, shared with the workers. */
    private readonly counter: SharedArrayBuffer,
    readonly provider: string,
  ) {}

  /** Starts `threads` workers and waits until every session is open. */
  static async start(threads: number, cfg: OrtLoopConfig): Promise<OrtWorkerLoop> {
    const counter = new SharedArrayBuffer(4);
    const workers = Array.from(
      { length: threads },
      () =>
        new Worker(compiledPath('bench', 'baselines', 'ort-loop-worker.ts'), {
          workerData: { ...cfg, counter },
        }),
    );
    try {
      const ready = await Promise.all(workers.map(next));
      const providers = [...new Set(ready.map((r) => (r.type === 'ready' ? r.provider : '?')))];
      return new OrtWorkerLoop(workers, counter, providers.join(' / '));
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
  }

  /** Runs `total` images over all workers; returns images done and wall milliseconds. */
  async run(total: number): Promise<{ images: number; ms: number }> {
    Atomics.store(new Int32Array(this.counter), 0, 0);
    const t0 = performance.now();
    const done = this.workers.map(next);
    for (const w of this.workers) w.postMessage({ type: 'run', total });
    const replies = await Promise.all(done);
    const ms = performance.now() - t0;
    return { images: replies.reduce((s, r) => s + (r.type === 'done' ? r.images : 0), 0), ms };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        const exited = new Promise((r) => w.once('exit', r));
        w.postMessage({ type: 'close' });
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
        await w.terminate();
      }),
    );
  }
}

export class OrtSequentialLoop {
  private constructor(
    private readonly session: Awaited<ReturnType<typeof createOrtSession>>['session'],
    private readonly inputs: ReturnType<typeof ortInputs>,
    private readonly batch: number,
    readonly provider: string,
  ) {}

  static async start(cfg: OrtLoopConfig): Promise<OrtSequentialLoop> {
    const { session, provider } = await createOrtSession(cfg);
    return new OrtSequentialLoop(session, ortInputs(cfg), cfg.batch, provider);
  }

  async run(total: number): Promise<{ images: number; ms: number }> {
    const name = this.session.inputNames[0];
    let images = 0;
    const t0 = performance.now();
    for (let i = 0; images < total; i++) {
      const out = await this.session.run({ [name]: this.inputs[i % this.inputs.length] });
      for (const v of Object.values(out)) v.dispose();
      images += this.batch;
    }
    return { images, ms: performance.now() - t0 };
  }

  close(): Promise<void> {
    return this.session.release();
  }
}
