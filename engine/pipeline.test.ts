import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Metrics } from './metrics.js';
import { repoPath } from './paths.js';
import { FramePipeline, type PipelineResult } from './pipeline.js';
import { Detector } from './pools/index.js';
import type { Sample } from './types.js';

const idr = readFileSync(repoPath('detectors', 'yolox', 'testdata', 'person-640x424-idr.h264'));

function sample(cameraId: string, seq = 1): Sample {
  // A fresh copy per sample: the pipeline transfers (detaches) the bytes it is given.
  return {
    schoolId: 's1',
    cameraId,
    codec: 'h264',
    captureTimeMs: Date.now(),
    seq,
    data: new Uint8Array(idr),
  };
}

async function dropped(metrics: Metrics): Promise<Record<string, number>> {
  const data = await metrics.registry.getSingleMetric('kuzet_dropped_total')!.get();
  const out: Record<string, number> = {};
  for (const v of data.values) out[`${v.labels.stage}:${v.labels.reason}`] = v.value;
  return out;
}

let detector: Detector;
before(() => {
  detector = new Detector({ decodeThreads: 1, inferThreads: 1 });
});
after(() => detector.close());

function harness() {
  const metrics = new Metrics(false);
  const results: PipelineResult[] = [];
  const pipeline = new FramePipeline({ detector, metrics, onResult: (r) => results.push(r) });
  return { metrics, results, pipeline };
}

test('a sample comes out with its detections and where its time went', async () => {
  const { results, pipeline } = harness();
  pipeline.submit('s1/cam1', sample('cam1', 7));
  await pipeline.drained();
  assert.equal(results.length, 1);
  const r = results[0];
  assert.deepEqual(
    [r.sample.cameraId, r.sample.seq, r.width, r.height, r.batchSize],
    ['cam1', 7, 640, 424, 1],
  );
  assert.ok(r.detections.some((d) => d.className === 'person' && d.score > 0.7));
  const t = r.timings;
  assert.ok(t.decodeMs > 0 && t.inferMs > 0 && t.decodeQueueMs >= 0 && t.inferQueueMs >= 0);
  assert.ok(t.pipelineMs >= t.decodeMs + t.inferMs);
});

test('a burst from many cameras: every sample is delivered or counted as dropped, and a camera never waits twice', async () => {
  const { metrics, results, pipeline } = harness();
  for (let round = 0; round < 5; round++)
    for (let c = 0; c < 12; c++) pipeline.submit(`s1/cam${c}`, sample(`cam${c}`, round));
  await pipeline.drained();
  const counts = pipeline.counts();
  assert.equal(counts.submitted, 60);
  assert.equal(counts.delivered, results.length);
  assert.equal(counts.delivered + counts.dropped, 60);
  const drops = await dropped(metrics);
  assert.equal(
    Object.values(drops).reduce((a, b) => a + b, 0),
    counts.dropped,
  );
  // Freshness: older samples were superseded, never delivered after a newer one of the same camera.
  assert.ok((drops['decode:superseded'] ?? 0) > 0, JSON.stringify(drops));
  const lastSeq = new Map<string, number>();
  for (const r of results) {
    assert.ok((lastSeq.get(r.sample.cameraId) ?? -1) < r.sample.seq);
    lastSeq.set(r.sample.cameraId, r.sample.seq);
  }
  // Every camera got its newest sample through.
  for (let c = 0; c < 12; c++) assert.equal(lastSeq.get(`cam${c}`), 4);
});

test('a boosted camera jumps the queue', async () => {
  const { results, pipeline } = harness();
  for (let c = 0; c < 10; c++) pipeline.submit(`s1/cam${c}`, sample(`cam${c}`));
  pipeline.submit('s1/alarm', sample('alarm'), true);
  await pipeline.drained();
  const at = results.findIndex((r) => r.sample.cameraId === 'alarm');
  // Only the samples already handed to the pools before it arrived go first.
  assert.ok(at >= 0 && at <= 3, `boosted sample came out at position ${at}`);
});

test('a decode worker crash is counted as dropped with reason worker_crashed, and the pipeline carries on', async () => {
  const { metrics, results, pipeline } = harness();
  pipeline.submit('s1/cam1', sample('cam1'));
  await pipeline.drained();
  for (let c = 0; c < 4; c++) pipeline.submit(`s1/c${c}`, sample(`c${c}`));
  await detector.decodePool.workers()[0].terminate();
  await pipeline.drained();
  const drops = await dropped(metrics);
  assert.ok((drops['decode:worker_crashed'] ?? 0) >= 1, JSON.stringify(drops));
  const counts = pipeline.counts();
  assert.equal(counts.delivered + counts.dropped, counts.submitted);
  pipeline.submit('s1/cam1', sample('cam1', 2));
  await pipeline.drained();
  assert.equal(results.at(-1)?.sample.seq, 2);
});
