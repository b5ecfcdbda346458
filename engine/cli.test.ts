import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { startNatsServer, type LocalNatsServer } from '../connectors/nats/index.js';
import { startEmbeddedTimescale } from '../connectors/timescale/index.js';
import { createLogger } from './log.js';
import { compiledPath, repoRoot } from './paths.js';
import { freePort, waitFor } from './test/helpers.js';

const cli = compiledPath('engine', 'cli.ts');
const log = createLogger('test', 'warn');

describe('kuzet CLI', () => {
  let dir: string;
  let nats: LocalNatsServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kuzet-cli-'));
    nats = await startNatsServer({ storeDir: join(dir, 'nats'), log });
  });
  after(async () => {
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('validate: exit 0 for the demo config, exit 1 naming key and file for a bad one', () => {
    const ok = spawnSync(process.execPath, [cli, 'validate', 'pipelines/demo.yaml'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /valid \(2 schools, 8 cameras\)/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'city: { id: c, name: C }\ndetectors: []\npipelines: []\nschools: []\n');
    const r = spawnSync(process.execPath, [cli, 'validate', bad], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /KUZET_ERR_CONFIG: detectors: .*bad\.yaml:2/);
  });

  it('run: the demo fleet yields person detections on /metrics, rows and NATS; SIGTERM exits 0 within 10 s, rows flushed', async () => {
    const [metricsPort, dbPort, fleetPort] = [await freePort(), await freePort(), await freePort()];
    const dataDir = join(dir, 'pgdata');
    const child = spawn(process.execPath, [cli, 'run', 'pipelines/demo.yaml'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        NATS_URL: nats.url,
        DATABASE_URL: '',
        KUZET_METRICS_PORT: String(metricsPort),
        KUZET_DB_PORT: String(dbPort),
        KUZET_DB_DIR: dataDir,
        KUZET_FLEET_PORT: String(fleetPort),
        KUZET_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const { connect } = await import('nats');
    const nc = await connect({ servers: nats.url });
    let natsDetections = 0;
    const sub = nc.subscribe('kuzet.det.>', { callback: () => natsDetections++ });
    let rowsWritten = 0;
    try {
      await waitFor('kuzet_detections_total{class="person"} > 0', 60_000, async () => {
        const body = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
          (r) => r.text(),
          () => '',
        );
        const persons = Number(/kuzet_detections_total\{class="person"\} (\d+)/.exec(body)?.[1] ?? 0);
        rowsWritten = Number(/kuzet_db_rows_written_total\{table="detections"\} (\d+)/.exec(body)?.[1] ?? 0);
        return persons > 0 && rowsWritten > 0 ? true : undefined;
      });
      await waitFor('the live status line', 15_000, () =>
        /cameras 8\/8 online \| frames/.test(stdout) ? true : undefined,
      );
      assert.ok(natsDetections > 0, 'messages on kuzet.det.>');
      // Operators' tools query while the engine writes.
      const sql = postgres(`postgres://postgres@127.0.0.1:${dbPort}/postgres`, {
        max: 1,
        onnotice: () => {},
      });
      const [{ n }] = await sql<{ n: string }[]>`select count(*) as n from detections where class = 'person'`;
      await sql.end();
      assert.ok(Number(n) > 0, 'person rows in detections');
    } finally {
      sub.unsubscribe();
      await nc.close();
      const t0 = Date.now();
      child.kill('SIGTERM');
      const code = await exited;
      const took = Date.now() - t0;
      assert.equal(code, 0, `exit code (stderr tail: ${stderr.slice(-800)})`);
      assert.ok(took < 10_000, `stopped in ${took} ms`);
    }
    assert.match(stderr, /"msg":"Stopped cleanly"/);
    // Everything the engine counted as written is in the database after the stop (nothing lost in flight).
    const flushed = stderr.split('\n').filter((l) => l.includes('"msg":"Flushed pending rows"'));
    assert.equal(flushed.length, 1);
    assert.equal((JSON.parse(flushed[0]!) as { left: number }).left, 0, 'no rows left unwritten at exit');
    const db = await startEmbeddedTimescale({ port: 0, dataDir, log });
    try {
      const sql = postgres(db.url, { max: 1, onnotice: () => {} });
      const [{ n }] = await sql<{ n: string }[]>`select count(*) as n from detections`;
      await sql.end();
      assert.ok(
        Number(n) >= rowsWritten,
        `rows after restart (${n}) ≥ rows counted before the stop (${rowsWritten})`,
      );
    } finally {
      await db.stop();
    }
  });
});
