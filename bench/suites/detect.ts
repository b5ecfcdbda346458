import { readFileSync } from 'node:fs';
import { repoPath } from '../../engine/paths.js';
import {
  Detector,
  PoolQueueFullError,
  closeInProcessDetector,
  createInProcessDetector,
  detectInProcess,
} from '../../engine/pools/index.js';
import { pipelined, repeat } from '../harness/repeat.js';
import { compare, median } from '../harness/stats.js';
import { intArg } from '../harness/args.js';
import type { BenchResult, Suite } from '../harness/types.js';

const fixtures = ['person', 'bus', 'dog'].map((n) =>
  readFileSync(repoPath('detectors', 'yolox', 'testdata', `${n}.jpg`)),
);

/** Every submit gets its own copy: the pools take ownership of (transfer) the bytes they are given. */
function image(i: number): Uint8Array {
  return new Uint8Array(fixtures[i % fixtures.length]);
}

interface RunStats {
  imagesPerSec: number;
  p50Ms: number;
}

async function timeRun(
  count: number,
  inflight: number,
  one: (i: number) => Promise<void>,
): Promise<RunStats> {
  const lat: number[] = [];
  const t0 = performance.now();
  await pipelined(count, inflight, async (i) => {
    const s = performance.now();
    await one(i);
    lat.push(performance.now() - s);
  });
  const elapsed = performance.now() - t0;
  return { imagesPerSec: (count * 1000) / elapsed, p50Ms: median(lat) };
}

export const detectSuite: Suite = {
  name: 'detect',
  description:
    'YOLOX-Nano images/s on the three fixture JPEGs: Kuzet decode pool + infer pool, several in flight, vs a sequential in-process sharp + onnxruntime loop with the same total thread count',
  async run(ctx) {
    const images = intArg(ctx, 'images', 30);
    // Two in flight is enough to overlap decode with inference; more only adds queueing latency (4 measured the same images/s).
    const inflight = intArg(ctx, 'inflight', 2);
    const decodeThreads = intArg(ctx, 'decode-threads', 1);
    const inferThreads = intArg(ctx, 'infer-threads', 1);
    const intraOp = intArg(ctx, 'intra-op', 1);
    const totalThreads = decodeThreads + inferThreads * intraOp;
    // Same compute threads for the baseline, all given to ORT's intra-op pool (its only lever in one thread).
    const baselineIntraOp = intArg(ctx, 'baseline-intra-op', Math.max(1, totalThreads));

    const detector = new Detector({
      decode: { threads: decodeThreads, maxQueue: 64 },
      infer: { threads: inferThreads, intraOpNumThreads: intraOp, maxQueue: 64 },
    });
    const baseline = await createInProcessDetector({ intraOpNumThreads: baselineIntraOp });
    let drops = 0;
    // Stage times as each side reports them (Kuzet: inside the workers), to explain where the difference comes from.
    const stage = {
      kDecode: [] as number[],
      kInfer: [] as number[],
      bDecode: [] as number[],
      bInfer: [] as number[],
    };
    const kuzetOne = async (i: number) => {
      try {
        const r = await detector.detectJpeg(image(i));
        stage.kDecode.push(r.decodeMs);
        stage.kInfer.push(r.inferMs);
      } catch (err) {
        if (err instanceof PoolQueueFullError) drops++;
        else throw err;
      }
    };
    try {
      const per = await repeat(
        { runs: ctx.runs, warmup: ctx.warmup, label: 'detect', progress: ctx.progress },
        async () => {
          const base = await timeRun(images, 1, async (i) => {
            const r = await detectInProcess(baseline, image(i));
            stage.bDecode.push(r.decodeMs);
            stage.bInfer.push(r.inferMs);
          });
          const piped = await timeRun(images, inflight, kuzetOne);
          const single = await timeRun(images, 1, kuzetOne);
          return { base, piped, single };
        },
      );
      const notes =
        `${images} images/run (person, bus, dog in turn); Kuzet: ${decodeThreads} decode + ${inferThreads} infer worker(s) x ${intraOp} ORT thread(s), ` +
        `${inflight} in flight; baseline: one thread, ORT intraOp ${baselineIntraOp}, sequential; queue-full drops: ${drops}; ` +
        `stage p50 ms (incl. warm-up) Kuzet decode ${median(stage.kDecode).toFixed(1)} / infer ${median(stage.kInfer).toFixed(1)}, ` +
        `baseline decode ${median(stage.bDecode).toFixed(1)} / infer ${median(stage.bInfer).toFixed(1)}`;
      const results: BenchResult[] = [
        compare(
          'detect throughput',
          'images/s',
          'higher',
          per.map((r) => r.piped.imagesPerSec),
          per.map((r) => r.base.imagesPerSec),
          notes,
        ),
        compare(
          'detect latency p50, pipelined',
          'ms/image',
          'lower',
          per.map((r) => r.piped.p50Ms),
          per.map((r) => r.base.p50Ms),
        ),
        compare(
          'detect latency p50, 1 in flight',
          'ms/image',
          'lower',
          per.map((r) => r.single.p50Ms),
          per.map((r) => r.base.p50Ms),
        ),
        compare(
          'detect throughput, 1 in flight',
          'images/s',
          'higher',
          per.map((r) => r.single.imagesPerSec),
          per.map((r) => r.base.imagesPerSec),
        ),
      ];
      return results;
    } finally {
      await detector.close();
      await closeInProcessDetector(baseline);
    }
  },
};
