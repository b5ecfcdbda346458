/**
 * CLI: serve a demo camera fleet.
 *   node dist/bench/fleet/main.js --cameras 8 --port 8554 [--host 127.0.0.1] [--clip file.h264] [--fps 25] [--user u --pass p]
 */
import { parseArgs } from 'node:util';
import { errorMessage } from '../../engine/errors.js';
import { createLogger } from '../../engine/log.js';
import { repoPath } from '../../engine/paths.js';
import { startFleet } from './server.js';

const log = createLogger('fleet');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cameras: { type: 'string', default: '8' },
      port: { type: 'string', default: '8554' },
      host: { type: 'string', default: '127.0.0.1' },
      clip: { type: 'string', default: repoPath('bench/fixtures/clips/demo-640x360.h264') },
      fps: { type: 'string', default: '25' },
      user: { type: 'string' },
      pass: { type: 'string' },
    },
  });
  const n = Number(values.cameras);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`--cameras: must be a positive integer (got ${values.cameras})`);
  const width = Math.max(2, String(n).length);
  const fleet = await startFleet({
    host: values.host,
    port: Number(values.port),
    cameras: Array.from({ length: n }, (_, i) => ({
      path: `cam${String(i + 1).padStart(width, '0')}`,
      clip: values.clip,
      fps: Number(values.fps),
    })),
    credentials: values.user !== undefined ? { user: values.user, pass: values.pass ?? '' } : undefined,
    log,
  });
  for (const url of fleet.urls) process.stdout.write(url + '\n');
  const shutdown = () => {
    void fleet.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  setInterval(() => log.info('Fleet stats', { ...fleet.stats() }), 10_000).unref();
}

main().catch((err: unknown) => {
  log.error('Fleet failed to start', { err: errorMessage(err) });
  process.exit(1);
});
