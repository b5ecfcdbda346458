/**
 * `npm run bench -- infer [--threads T] [--images N] [--inflight N] [--batch B] [--provider cpu|cuda]`
 *
 * YOLOX-Nano inference throughput, Kuzet's InferPool against bare onnxruntime-node on the same model and cores.
 *
 * - Input: the three fixture JPEGs (person, bus, dog) letterboxed once up front (letterboxJpeg); nothing
 *   is decoded while the clock runs.
 * - Kuzet: `new InferPool({ threads: T, intraOpNumThreads: 1 })`, N images per run with enough in flight to
 *   keep every worker busy (default 2 per worker and batch slot). Each lane sends its own copy of one image and
 *   reuses the tensor the pool hands back, so no copy is made inside the timed region. Kuzet's time includes
 *   YOLOX output decoding and NMS, which the baselines skip.
 * - Baseline A: T worker_threads, one ORT session each (intra-op 1, inter-op 1, graph optimisation 'all',
 *   no spinning: Kuzet's session options), session.run back to back, images shared out by an atomic counter.
 * - Baseline B: one session with intra-op T on the main thread, session.run in a sequential loop.
 * - The first row compares with the faster baseline (on median), the second with the other one.
 * - `--batch B` (B > 1): Kuzet gets `maxBatch: B, maxWaitMs: 5` and the dynamic-batch model, the baselines
 *   run [B,3,416,416] inputs on that model. `--provider cuda`: executionProviders ['cuda','cpu'] on both sides;
 *   the notes say what each side actually ran on.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { letterboxJpeg } from '../../detectors/jpeg-letterbox.js';
import type { LetterboxGeometry } from '../../detectors/letterbox.js';
import { YOLOX_INPUT_SIZE, defaultModelPath, dynamicBatchModelPath } from '../../detectors/yolox/model.js';
import type { Logger } from '../../engine/log.js';
import { repoPath } from '../../engine/paths.js';
import { InferPool, type InferPoolOptions } from '../../engine/pools/index.js';
import { OrtSequentialLoop, OrtWorkerLoop } from '../baselines/ort-loop.js';
import type { OrtLoopConfig, OrtProvider } from '../baselines/ort-session.js';
import { repeat } from '../harness/repeat.js';
import { compare } from '../harness/stats.js';
import { intArg } from '../harness/args.js';
import type { BenchResult, Suite, SuiteContext } from '../harness/types.js';

const SIZE = YOLOX_INPUT_SIZE;

function providersArg(ctx: SuiteContext): OrtProvider[] {
  const v = ctx.args.provider ?? 'cpu';
  if (v === 'cpu') return ['cpu'];
  if (v === 'cuda') return ['cuda', 'cpu'];
  throw new RangeError(`--provider must be cpu or cuda, got ${v}`);
}

/** Fails clearly when batching is asked for without the dynamic-batch model. */
function checkBatchSupport(batch: number): void {
  if (batch > 1 && !existsSync(dynamicBatchModelPath))
    throw new Error(
      `--batch ${batch} needs the dynamic-batch model ${dynamicBatchModelPath} (made by detectors/yolox/make-dynamic-batch.py)`,
    );
}

interface Prepared {
  tensor: Float32Array;
  geometry: LetterboxGeometry;
}

async function prepareImages(): Promise<Prepared[]> {
  return Promise.all(
    ['person', 'bus', 'dog'].map(async (n) => {
      const jpeg = readFileSync(repoPath('detectors', 'yolox', 'testdata', `${n}.jpg`));
      return letterboxJpeg(jpeg, undefined, SIZE);
    }),
  );
}

/** A logger that remembers the pool's warnings: GPU provider unavailable, batching off. */
function warningRecorder(): { log: Logger; fallback: () => string | null; warnings: string[] } {
  let reason: string | null = null;
  const warnings: string[] = [];
  const log: Logger = {
    warn: (msg, fields) => {
      warnings.push(msg);
      if (/provider/i.test(msg)) reason = String(fields?.reason ?? 'unknown');
    },
    debug: () => {},
    info: () => {},
    error: () => {},
    child: () => log,
  };
  return { log, fallback: () => reason, warnings };
}

export const inferSuite: Suite = {
  name: 'infer',
  description:
    'YOLOX-Nano images/s on prepared tensors: Kuzet InferPool (T workers x 1 ORT thread) vs bare onnxruntime-node (T worker_threads x 1 thread, and 1 session x T threads)',
  async run(ctx) {
    const threads = intArg(ctx, 'threads', 2);
    const batch = intArg(ctx, 'batch', 1);
    const images = intArg(ctx, 'images', 300);
    const inflight = intArg(ctx, 'inflight', 2 * threads * batch);
    const providers = providersArg(ctx);
    checkBatchSupport(batch);
    const modelPath = batch > 1 ? dynamicBatchModelPath : defaultModelPath;

    const prepared = await prepareImages();
    const base: Omit<OrtLoopConfig, 'intraOpNumThreads'> = {
      modelPath,
      executionProviders: providers,
      batch,
      size: SIZE,
      images: prepared.map((p) => p.tensor),
    };

    const recorder = warningRecorder();
    const poolOpts: InferPoolOptions = {
      threads,
      intraOpNumThreads: 1,
      executionProviders: providers,
      maxQueue: inflight,
      ...(batch > 1 ? { maxBatch: batch, maxWaitMs: 5, modelPath } : {}),
    };
    const pool = new InferPool(poolOpts, recorder.log);
    let workerLoop: OrtWorkerLoop | null = null;
    let seqLoop: OrtSequentialLoop | null = null;
    try {
      workerLoop = await OrtWorkerLoop.start(threads, { ...base, intraOpNumThreads: 1 });
      seqLoop = await OrtSequentialLoop.start({ ...base, intraOpNumThreads: threads });
      const workers = workerLoop;
      const seq = seqLoop;
      // One tensor per lane, copied once; each call's tensor comes back with the reply and is sent again.
      const lanes = Array.from({ length: inflight }, (_, j): { src: Prepared; tensor: Float32Array } => ({
        src: prepared[j % prepared.length],
        tensor: new Float32Array(prepared[j % prepared.length].tensor),
      }));
      let copiesInRun = 0;
      const batchSizes: number[] = [];

      const kuzetRun = async (): Promise<number> => {
        let next = 0;
        const t0 = performance.now();
        await Promise.all(
          lanes.map(async (lane) => {
            while (next < images) {
              next++;
              const { geometry } = lane.src;
              const out = await pool.infer({
                tensor: lane.tensor,
                width: geometry.srcWidth,
                height: geometry.srcHeight,
                scale: geometry.scale,
              });
              batchSizes.push(out.batchSize);
              if (out.tensor.length === lane.src.tensor.length) lane.tensor = out.tensor;
              else {
                copiesInRun++;
                lane.tensor = new Float32Array(lane.src.tensor);
              }
            }
          }),
        );
        return (images * 1000) / (performance.now() - t0);
      };

      const per = await repeat(
        { runs: ctx.runs, warmup: ctx.warmup, label: 'infer', progress: ctx.progress },
        async () => {
          const kuzet = await kuzetRun();
          const w = await workers.run(images);
          const s = await seq.run(images);
          return {
            kuzet,
            workers: (w.images * 1000) / w.ms,
            seq: (s.images * 1000) / s.ms,
          };
        },
      );

      const kuzetRuns = per.map((r) => r.kuzet);
      const rows = [
        {
          name: `infer images/s vs ORT ${threads} worker_threads x 1 thread`,
          runs: per.map((r) => r.workers),
          provider: workers.provider,
        },
        {
          name: `infer images/s vs ORT 1 session x ${threads} intra-op threads`,
          runs: per.map((r) => r.seq),
          provider: seq.provider,
        },
      ].map((b) => ({ ...b, result: compare(b.name, 'images/s', 'higher', kuzetRuns, b.runs) }));
      // Headline first: the faster baseline.
      rows.sort((a, b) => b.result.baseline - a.result.baseline);
      const requested = providers.join('+');
      const kuzetProvider = recorder.fallback()
        ? `cpu (${requested} failed: ${recorder.fallback()})`
        : requested;
      const meanBatch = batchSizes.reduce((a, b) => a + b, 0) / Math.max(1, batchSizes.length);
      const otherWarnings = recorder.warnings.filter((w) => !/provider/i.test(w));
      const notes =
        `${basename(modelPath)}, 416x416, ${images} images/run (person, bus, dog prepared up front); batch ${batch}` +
        `${batch > 1 ? ' (Kuzet maxBatch, maxWaitMs 5; baselines [B,3,416,416] inputs)' : ''}; ` +
        `Kuzet: ${threads} workers x 1 ORT thread, ${inflight} in flight, mean batch ${meanBatch.toFixed(2)} ` +
        `(incl. warm-up), incl. YOLOX decode + NMS, provider ${kuzetProvider}` +
        `${copiesInRun > 0 ? `, ${copiesInRun} tensor copies in timed runs` : ''}` +
        `${otherWarnings.length > 0 ? `, pool warned: ${[...new Set(otherWarnings)].join('; ')}` : ''}; ` +
        `baselines session.run only; this row's baseline ran on ${rows[0].provider}`;
      const results: BenchResult[] = rows.map((r, i) => ({
        ...r.result,
        name: i === 0 ? `${r.result.name} (faster baseline)` : r.result.name,
        notes: i === 0 ? notes : `baseline ran on ${r.provider}`,
      }));
      return results;
    } finally {
      await pool.close();
      await workerLoop?.close();
      await seqLoop?.close();
    }
  },
};
