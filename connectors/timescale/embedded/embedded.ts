import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { KuzetError } from '../../../engine/errors.js';
import { createLogger, type Logger } from '../../../engine/log.js';
import { compiledPath, repoPath } from '../../../engine/paths.js';
import type { ChildMessage, ParentMessage } from './server-process.js';

export interface EmbeddedTimescaleOptions {
  /** 5433 by default (5432 is left to a real PostgreSQL); 0 picks a free port. */
  port?: number;
  /** 127.0.0.1 by default. Passwords are not checked, so bind beyond loopback only behind a firewall. */
  host?: string;
  /** repoPath('data','pgdata') by default; 'memory' keeps everything in memory. */
  dataDir?: string;
  /** Connections served at once (64 by default). */
  maxClients?: number;
  /** See MultiplexerOptions.idleInTransactionTimeoutMs (30 s by default). */
  idleInTransactionTimeoutMs?: number;
  /** Creating a fresh data directory runs initdb in WASM; allow for a slow disk. */
  startTimeoutMs?: number;
  log?: Logger;
}

export interface EmbeddedTimescale {
  /** postgres://postgres@host:port/postgres; user, password and database name are not checked. */
  url: string;
  port: number;
  /** Checkpoints and closes the database, then waits for the child to exit. Safe to call twice. */
  stop(): Promise<void>;
}

const STOP_DEADLINE_MS = 20_000;

/**
 * Starts TimescaleDB (PGlite + the timescaledb extension) in a child process and serves it on a TCP port to
 * any number of Postgres clients. The child exits when stop() is called or when this process goes away.
 */
export async function startEmbeddedTimescale(
  opts: EmbeddedTimescaleOptions = {},
): Promise<EmbeddedTimescale> {
  const log = opts.log ?? createLogger('timescale.embedded');
  const host = opts.host ?? '127.0.0.1';
  const dataDir = opts.dataDir ?? repoPath('data', 'pgdata');
  const entry = compiledPath('connectors', 'timescale', 'embedded', 'server-process.ts');
  if (!existsSync(entry))
    throw new KuzetError('KUZET_ERR_DB', `Embedded TimescaleDB entry ${entry} is missing: run npm run build`);

  // No inherited execArgv: flags of a test runner or inspector must not leak into the database process.
  const child = fork(entry, [], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], execArgv: [] });
  // PGlite prints initdb chatter on stdout; the engine's stdout is not the place for it.
  createInterface({ input: child.stdout! }).on('line', (line) =>
    log.debug('Embedded database output', { line }),
  );

  child.on('message', (msg: ChildMessage) => {
    if (msg.type === 'log') (msg.component ? log.child(msg.component) : log)[msg.level](msg.msg, msg.fields);
  });

  let stopping = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      if (!stopping) log.error('Embedded TimescaleDB exited unexpectedly', { code, signal });
      resolve();
    });
  });

  const request: ParentMessage = {
    type: 'start',
    host,
    port: opts.port ?? 5433,
    dataDir: dataDir === 'memory' ? null : dataDir,
    maxClients: opts.maxClients ?? 64,
    idleInTransactionTimeoutMs: opts.idleInTransactionTimeoutMs ?? 30_000,
  };
  let ready: Extract<ChildMessage, { type: 'ready' }>;
  try {
    ready = await awaitReady(child, request, opts.startTimeoutMs ?? 120_000, exited);
  } catch (err) {
    stopping = true;
    child.kill('SIGKILL');
    await exited;
    throw err;
  }

  const url = `postgres://postgres@${host.includes(':') ? `[${host}]` : host}:${ready.port}/postgres`;
  let stopped: Promise<void> | null = null;
  return {
    url,
    port: ready.port,
    stop: () => {
      stopped ??= (async () => {
        stopping = true;
        if (child.exitCode !== null || child.signalCode !== null) return;
        try {
          child.send({ type: 'stop' } satisfies ParentMessage);
        } catch {
          child.kill('SIGTERM');
        }
        const timer = setTimeout(() => {
          log.warn('Embedded TimescaleDB did not stop in time; killing it', { deadlineMs: STOP_DEADLINE_MS });
          child.kill('SIGKILL');
        }, STOP_DEADLINE_MS);
        await exited;
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}

function awaitReady(
  child: ChildProcess,
  request: ParentMessage,
  timeoutMs: number,
  exited: Promise<void>,
): Promise<Extract<ChildMessage, { type: 'ready' }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new KuzetError('KUZET_ERR_DB', `Embedded TimescaleDB did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const done = () => clearTimeout(timer);
    child.on('message', (msg: ChildMessage) => {
      if (msg.type === 'ready') {
        done();
        resolve(msg);
      } else if (msg.type === 'failed') {
        done();
        reject(new KuzetError('KUZET_ERR_DB', `Embedded TimescaleDB failed to start: ${msg.message}`));
      }
    });
    void exited.then(() => {
      done();
      reject(
        new KuzetError(
          'KUZET_ERR_DB',
          'Embedded TimescaleDB exited during startup (see its log lines above)',
        ),
      );
    });
    child.send(request);
  });
}
