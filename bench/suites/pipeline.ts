/**
 * `pipeline`: sustained end-to-end samples/s of the engine's frame pipeline (freshness scheduler → decode pool
 * → inference pool) on H.264 keyframes, then arrival-to-detections latency p50/p99 at 50%, 80% and 100% of
 * that rate. Baseline, in the same run: the same keyframes decoded (node-av, same scaler) and inferred (ORT,
 * intra-op threads = the pipeline's total threads) one after the other on one thread, the shape of a naive
 * loop on the same cores. Latency rows compare with that loop's unloaded per-sample latency.
 */
import { cpus } from 'node:os';
import { tensorLength } from '../../detectors/letterbox.js';
import { YoloxDecoder } from '../../detectors/yolox/decode.js';
import { defaultLabelsPath, loadLabels } from '../../detectors/yolox/labels.js';
import { defaultModelPath, dynamicBatchModelPath } from '../../detectors/yolox/model.js';
import { createYoloxSession, runYolox } from '../../detectors/yolox/session.js';
import { Metrics } from '../../engine/metrics.js';
import { repoPath } from '../../engine/paths.js';
import { FramePipeline } from '../../engine/pipeline.js';
import { KeyframeDecoder } from '../../engine/pools/keyframe-decoder.js';
import { Detector } from '../../engine/pools/index.js';
import { autoPoolThreads } from '../../engine/pools/sizing.js';
import { loadKeyframes } from '../baselines/keyframes.js';
import { repeat } from '../harness/repeat.js';
import { compare, median, percentile } from '../harness/stats.js';
import { intArg } from '../harness/args.js';
import type { BenchResult, Suite } from '../harness/types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Window {
  offeredPerS: number;
  deliveredPerS: number;
  p50Ms: number;
  p99Ms: number;
  droppedShare: number;
}

/**
 * Offers `perSecond` samples/s (open loop, 5 ms ticks) over `cameras` cameras for `seconds`, then waits for the
 * pipeline to drain. Latency counts only samples offered inside the window.
 */
async function offer(
  pipeline: FramePipeline,
  delivered: number[],
  units: readonly Uint8Array[],
  cameras: number,
  perSecond: number,
  seconds: number,
): Promise<Window> {
  delivered.length = 0;
  const before = pipeline.counts();
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * perSecond);
    for (; sent < due; sent++) {
      const cam = sent % cameras;
      pipeline.submit(`bench/cam${cam}`, {
        schoolId: 'bench',
        cameraId: `cam${cam}`,
        codec: 'h264',
        captureTimeMs: Date.now(),
        seq: sent,
        data: new Uint8Array(units[sent % units.length]),
      });
    }
    await sleep(5);
  }
  const elapsed = (performance.now() - start) / 1000;
  const inWindow = pipeline.counts().delivered - before.delivered;
  await pipeline.drained();
  const after = pipeline.counts();
  return {
    offeredPerS: sent / elapsed,
    deliveredPerS: inWindow / elapsed,
    p50Ms: percentile(delivered, 50),
    p99Ms: percentile(delivered, 99),
    droppedShare: (after.dropped - before.dropped) / Math.max(1, after.submitted - before.submitted),
  };
}

export const pipelineSuite: Suite = {
  name: 'pipeline',
  description:
    'End-to-end H.264 keyframe → detections: sustained samples/s of the frame pipeline and p50/p99 latency at 50/80/100% of it, vs a sequential decode+infer loop on the same cores',
  async run(ctx) {
    const seconds = intArg(ctx, 'seconds', 8);
    const cameras = intArg(ctx, 'cameras', 64);
    // Defaults: the engine's own `auto` sizing for this machine.
    const auto = autoPoolThreads(cpus().length);
    const decodeThreads = intArg(ctx, 'decode-threads', auto.decodeThreads);
    const inferThreads = intArg(ctx, 'infer-threads', auto.inferThreads);
    const intraOp = intArg(ctx, 'intra-op', 1);
    const maxBatch = intArg(ctx, 'batch', 1);
    const clip = ctx.args.clip ?? repoPath('bench', 'fixtures', 'clips', 'demo-640x360.h264');
    const keyframes = await loadKeyframes(clip, 50);
    const units = keyframes.units;
    const totalThreads = decodeThreads + inferThreads * intraOp;
    ctx.progress(
      `pipeline: ${units.length} keyframes ${keyframes.width}x${keyframes.height}, ${cameras} cameras, ${decodeThreads} decode + ${inferThreads}x${intraOp} infer threads`,
    );

    const detector = new Detector({
      decodeThreads,
      inferThreads,
      intraOpThreads: intraOp,
      maxQueue: 256,
      maxBatch,
      batchWaitMs: 2,
      modelPath: maxBatch > 1 ? dynamicBatchModelPath : defaultModelPath,
    });
    const delivered: number[] = [];
    const pipeline = new FramePipeline({
      detector,
      metrics: new Metrics(false),
      onResult: (r) => delivered.push(r.timings.pipelineMs),
    });

    // Baseline: the naive loop, decode then infer, one sample at a time on this thread.
    const yolox = await createYoloxSession({ intraOpNumThreads: totalThreads });
    const yoloxDecoder = new YoloxDecoder(loadLabels(defaultLabelsPath));
    const decoder = new KeyframeDecoder('h264', 416);
    const tensor = new Float32Array(tensorLength());
    const sequential = async (n: number) => {
      const lat: number[] = [];
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const s = performance.now();
        const g = decoder.decodeToTensor(units[i % units.length], tensor);
        await runYolox(yolox.session, yoloxDecoder, tensor, g);
        lat.push(performance.now() - s);
      }
      return { perS: (n * 1000) / (performance.now() - t0), p50Ms: median(lat) };
    };

    try {
      await detector.inferPool.whenReady();
      const per = await repeat(
        { runs: ctx.runs, warmup: ctx.warmup, label: 'pipeline', progress: ctx.progress },
        async () => {
          const base = await sequential(Math.max(20, Math.round(seconds * 20)));
          // Saturate: offer far more than the pools can take; what comes out is the sustained rate.
          const saturated = await offer(pipeline, delivered, units, cameras, 2000, seconds);
          const rate = saturated.deliveredPerS;
          const at = async (share: number) =>
            offer(pipeline, delivered, units, cameras, rate * share, seconds);
          return { base, saturated, w50: await at(0.5), w80: await at(0.8), w100: await at(1.0) };
        },
      );
      const machineNote = `${cpus().length} cores`;
      const notes =
        `${cameras} cameras, keyframes ${keyframes.width}x${keyframes.height} (${Math.round(keyframes.meanBytes / 1024)} KiB mean) from ${keyframes.file}; ` +
        `Kuzet ${decodeThreads} decode + ${inferThreads} infer worker(s) x ${intraOp} ORT thread(s), batch ${maxBatch}; ` +
        `baseline: one thread, decode then ORT intra-op ${totalThreads}, sequential; ${machineNote}; ${seconds} s windows`;
      const rows: BenchResult[] = [
        compare(
          'pipeline sustained',
          'samples/s',
          'higher',
          per.map((r) => r.saturated.deliveredPerS),
          per.map((r) => r.base.perS),
          `${notes}; offered ${median(per.map((r) => r.saturated.offeredPerS)).toFixed(0)}/s while saturated, ${(100 * median(per.map((r) => r.saturated.droppedShare))).toFixed(0)}% dropped as superseded`,
        ),
      ];
      for (const [label, key] of [
        ['50%', 'w50'],
        ['80%', 'w80'],
        ['100%', 'w100'],
      ] as const) {
        const windows = per.map((r) => r[key]);
        const drop = (100 * median(windows.map((w) => w.droppedShare))).toFixed(1);
        const offered = median(windows.map((w) => w.offeredPerS)).toFixed(1);
        rows.push(
          compare(
            `latency p50 at ${label}`,
            'ms',
            'lower',
            windows.map((w) => w.p50Ms),
            per.map((r) => r.base.p50Ms),
            `offered ${offered}/s, ${drop}% dropped; baseline = sequential loop's unloaded per-sample latency`,
          ),
          compare(
            `latency p99 at ${label}`,
            'ms',
            'lower',
            windows.map((w) => w.p99Ms),
            per.map((r) => r.base.p50Ms),
          ),
        );
      }
      return rows;
    } finally {
      decoder.close();
      await yolox.session.release();
      await pipeline.stop();
      await detector.close();
    }
  },
};
