import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { KuzetError } from '../../engine/errors.js';
import type { Logger } from '../../engine/log.js';

/** A local `nats-server -js` child, for machines where no broker answers at NATS_URL. */
export interface LocalNatsServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

function findBinary(): string {
  for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    if (existsSync(p)) return p;
  }
  return 'nats-server';
}

/** Starts nats-server with JetStream on 127.0.0.1 and a free port (or the given one). */
export function startNatsServer(opts: {
  storeDir: string;
  port?: number;
  log?: Logger;
}): Promise<LocalNatsServer> {
  mkdirSync(opts.storeDir, { recursive: true });
  const args = ['-js', '-a', '127.0.0.1', '-p', String(opts.port ?? -1), '-sd', opts.storeDir];
  // Own process group: a Ctrl-C meant for the engine must not stop the broker before the engine drains.
  const child: ChildProcess = spawn(findBinary(), args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  // If the engine dies without stopping it (kill -9 excepted), take the broker down too.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new KuzetError(
          'KUZET_ERR_BUS',
          `nats-server did not report a client port within 10 s: ${out.slice(-300)}`,
        ),
      );
    }, 10_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(
        new KuzetError(
          'KUZET_ERR_SETUP',
          `cannot start nats-server (${err.message}); install it with \`node deploy/setup.mjs\` or set NATS_URL`,
        ),
      );
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new KuzetError('KUZET_ERR_BUS', `nats-server exited with code ${code}: ${out.slice(-300)}`));
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (out.length < 20_000) out += chunk;
      const m = /Listening for client connections on [^\s]*:(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stderr!.removeAllListeners('data');
      child.stderr!.resume();
      const port = Number(m[1]);
      opts.log?.info('Started local nats-server with JetStream', { port, storeDir: opts.storeDir });
      resolve({
        url: `nats://127.0.0.1:${port}`,
        port,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(kill);
              done();
            });
            child.kill('SIGTERM');
          }),
      });
    });
  });
}
