/**
 * Worker thread of the bare onnxruntime-node baseline (bench/baselines/ort-loop.ts). No Kuzet code: one
 * InferenceSession, session.run back to back on prepared inputs until the shared counter says the run's
 * images are all claimed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createOrtSession, ortInputs, type OrtLoopConfig } from './ort-session.js';

interface Data extends OrtLoopConfig {
  /** [0]: images claimed so far in this run, shared by all workers. */
  counter: SharedArrayBuffer;
}

const data = workerData as Data;
const counter = new Int32Array(data.counter);
const port = parentPort;
if (!port) throw new Error('ort-loop-worker must run as a worker thread');

const { session, provider } = await createOrtSession(data);
const inputs = ortInputs(data);
const inputName = session.inputNames[0];
port.postMessage({ type: 'ready', provider });

port.on('message', (msg: { type: 'run'; total: number } | { type: 'close' }) => {
  if (msg.type === 'close') {
    void session.release().finally(() => port.close());
    return;
  }
  void (async () => {
    let images = 0;
    try {
      for (let i = 0; Atomics.add(counter, 0, data.batch) < msg.total; i++) {
        const out = await session.run({ [inputName]: inputs[i % inputs.length] });
        for (const v of Object.values(out)) v.dispose();
        images += data.batch;
      }
      port.postMessage({ type: 'done', images });
    } catch (err) {
      port.postMessage({ type: 'error', error: err instanceof Error ? err.message : String(err) });
    }
  })();
});
