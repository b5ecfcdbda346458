/**
 * The fleet as a child process driven over IPC, for benchmarks that must keep the fleet's CPU
 * apart from (and measurable separately to) the process under test.
 *
 * Requests (each may carry an `id`, echoed in the reply):
 *   { type: 'start', cameras: FleetCamera[], maxBufferedBytes?, joinAt? } → { type: 'started', port, urls }
 *   { type: 'stats' } → { type: 'stats', stats: FleetStats, cpuUs, rss, atMs }
 *   { type: 'faults', path, faults } → { type: 'ok' }
 * The process exits when its parent disconnects.
 */
import { performance } from 'node:perf_hooks';
import { errorMessage } from '../../engine/errors.js';
import { createLogger } from '../../engine/log.js';
import { startFleet, type CameraFaults, type Fleet, type FleetCamera } from './server.js';

type Request =
  | {
      id?: number;
      type: 'start';
      cameras: FleetCamera[];
      maxBufferedBytes?: number;
      joinAt?: 'keyframe' | 'live';
    }
  | { id?: number; type: 'stats' }
  | { id?: number; type: 'faults'; path: string; faults: CameraFaults };

const log = createLogger('fleet', 'warn');
let fleet: Fleet | undefined;

function send(msg: object): void {
  process.send?.(msg);
}

async function handle(req: Request): Promise<void> {
  try {
    if (req.type === 'start') {
      fleet = await startFleet({
        port: 0,
        cameras: req.cameras,
        maxBufferedBytes: req.maxBufferedBytes,
        joinAt: req.joinAt,
        log,
      });
      send({ id: req.id, type: 'started', port: fleet.port, urls: fleet.urls });
    } else if (req.type === 'stats') {
      const cpu = process.cpuUsage();
      send({
        id: req.id,
        type: 'stats',
        stats: fleet?.stats(),
        cpuUs: cpu.user + cpu.system,
        rss: process.memoryUsage().rss,
        atMs: performance.now(),
      });
    } else if (req.type === 'faults') {
      fleet?.setFaults(req.path, req.faults);
      send({ id: req.id, type: 'ok' });
    }
  } catch (err) {
    send({ id: req.id, type: 'error', error: errorMessage(err) });
  }
}

if (!process.send) {
  process.stderr.write(
    'bench/fleet/child.js runs as a child process with an IPC channel (child_process.fork)\n',
  );
  process.exit(2);
}
process.on('message', (m) => void handle(m as Request));
process.on('disconnect', () => process.exit(0));
