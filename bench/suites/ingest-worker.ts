/**
 * Ingest side of `bench ingest`: N RtspCameraSource instances in one process, counting samples.
 * Forked by bench/suites/ingest.ts (pinned to one core with taskset); nothing else runs here, so
 * this process's CPU time and RSS are the cost of ingest alone.
 *
 * Requests (with an `id`, echoed in the reply):
 *   { type: 'start', urls, maxFps, silenceTimeoutMs } → { type: 'started' } once every source is started (not yet online)
 *   { type: 'snapshot' } → { type: 'snapshot', online, samples, sampleBytes, lossDiscarded, reconnects, cpuUs, rss, atMs }
 * Exits when the parent disconnects.
 */
import { performance } from 'node:perf_hooks';
import { RtspCameraSource } from '../../connectors/rtsp/index.js';
import { errorMessage } from '../../engine/errors.js';
import { createLogger } from '../../engine/log.js';

type Request =
  | { id: number; type: 'start'; urls: string[]; maxFps: number; silenceTimeoutMs: number }
  | { id: number; type: 'snapshot' };

const log = createLogger('ingest', 'error');
const sources: RtspCameraSource[] = [];
let samples = 0;
let sampleBytes = 0;

function send(msg: object): void {
  process.send?.(msg);
}

async function start(urls: string[], maxFps: number, silenceTimeoutMs: number): Promise<void> {
  // Staggered like an engine starting up: a connect storm of thousands at once only measures the kernel's accept queue.
  const batch = 100;
  for (let i = 0; i < urls.length; i += batch) {
    for (const url of urls.slice(i, i + batch)) {
      const source = new RtspCameraSource({
        schoolId: 'bench',
        cameraId: url.slice(url.lastIndexOf('/') + 1),
        url,
        maxFps,
        silenceTimeoutMs,
        log,
        onSample: (s) => {
          samples++;
          sampleBytes += s.data.length;
        },
        onStatus: () => {},
      });
      sources.push(source);
      source.start();
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function handle(req: Request): Promise<void> {
  try {
    if (req.type === 'start') {
      await start(req.urls, req.maxFps, req.silenceTimeoutMs);
      send({ id: req.id, type: 'started' });
    } else {
      let online = 0;
      let lossDiscarded = 0;
      let reconnects = 0;
      for (const s of sources) {
        if (s.online) online++;
        lossDiscarded += s.counters.lossDiscarded;
        reconnects += s.counters.reconnects;
      }
      const cpu = process.cpuUsage();
      send({
        id: req.id,
        type: 'snapshot',
        online,
        samples,
        sampleBytes,
        lossDiscarded,
        reconnects,
        cpuUs: cpu.user + cpu.system,
        rss: process.memoryUsage().rss,
        atMs: performance.now(),
      });
    }
  } catch (err) {
    send({ id: req.id, type: 'error', error: errorMessage(err) });
  }
}

if (!process.send) {
  process.stderr.write(
    'bench/suites/ingest-worker.js runs as a child process with an IPC channel (started by `npm run bench -- ingest`)\n',
  );
  process.exit(2);
}
process.on('message', (m) => void handle(m as Request));
process.on('disconnect', () => process.exit(0));
