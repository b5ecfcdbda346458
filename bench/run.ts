/**
 * `npm run bench -- <suite> [--json <file>] [--runs N] [--warmup N] [--<suite flag> value ...]`
 * Prints the machine and a results table on stdout; progress goes to stderr.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describeMachine } from './harness/machine.js';
import { formatMachine, formatTable } from './harness/table.js';
import type { BenchReport } from './harness/types.js';
import { findSuite, suites } from './suites/index.js';

function usage(): string {
  return [
    'usage: npm run bench -- <suite> [--json <file>] [--runs N] [--warmup N]',
    'suites:',
    ...suites.map((s) => `  ${s.name}  ${s.description}`),
  ].join('\n');
}

function parseArgs(argv: string[]): { suite: string | undefined; flags: Record<string, string> } {
  let suite: string | undefined;
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags[a.slice(2)] = argv[++i];
      else flags[a.slice(2)] = 'true';
    } else if (suite === undefined) suite = a;
    else throw new Error(`unexpected argument '${a}'\n${usage()}`);
  }
  return { suite, flags };
}

function count(flags: Record<string, string>, key: string, dflt: number, min: number): number {
  const v = flags[key];
  delete flags[key];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${key} must be an integer >= ${min}, got '${v}'`);
  return n;
}

async function main(): Promise<number> {
  const { suite: name, flags } = parseArgs(process.argv.slice(2));
  if (!name || flags.help) {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const suite = findSuite(name);
  if (!suite) {
    process.stderr.write(`unknown suite '${name}'\n${usage()}\n`);
    return 2;
  }
  const runs = count(flags, 'runs', 5, 1);
  const warmup = count(flags, 'warmup', 1, 0);
  const json = flags.json;
  delete flags.json;

  const machine = describeMachine();
  process.stdout.write(formatMachine(machine) + '\n');
  process.stdout.write(`suite ${suite.name}: ${runs} runs after ${warmup} warm-up\n\n`);
  const startedAt = new Date().toISOString();
  const results = await suite.run({
    runs,
    warmup,
    args: flags,
    progress: (msg) => process.stderr.write(`[bench] ${msg}\n`),
  });
  process.stdout.write(formatTable(results) + '\n');
  if (json) {
    const report: BenchReport = { suite: suite.name, machine, runs, warmup, startedAt, results };
    const path = resolve(process.env.INIT_CWD ?? process.cwd(), json);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(report, null, 2) + '\n');
    process.stdout.write(`\nwrote ${path}\n`);
  }
  return 0;
}

// Exit once the report is out: after a saturated run, a socket still draining its backlog somewhere (seen
// after the alarms suite's baselines) must not keep a finished bench alive.
const exit = (code: number) => process.stdout.write('', () => process.exit(code));

main().then(
  (code) => exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    exit(1);
  },
);
