import { loadConfig } from './config/load.js';
import { Engine } from './engine.js';
import { errorMessage, KuzetError } from './errors.js';
import { createLogger } from './log.js';

const usage = `Usage: kuzet <command> [options]

Commands:
  run <config.yaml>        Run the engine (Ctrl-C or SIGTERM stops it, flushing pending rows)
  validate <config.yaml>   Check a configuration and exit (0 valid, 1 invalid)

Environment: NATS_URL, DATABASE_URL, KUZET_LOG_LEVEL (debug|info|warn|error); see README.md.`;

async function run(file: string): Promise<number> {
  const log = createLogger('engine');
  const cfg = loadConfig(file);
  const engine = new Engine(cfg, { log });
  let signalled = false;
  const done = new Promise<number>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      if (signalled) {
        log.warn('Second signal: exiting now', { signal: sig });
        process.exit(130);
      }
      signalled = true;
      log.info('Stopping', { signal: sig });
      const deadlineMs = cfg.engine.shutdownTimeoutMs;
      const force = setTimeout(() => {
        log.error('Shutdown deadline passed; forcing exit', { deadlineMs });
        process.exit(1);
      }, deadlineMs);
      force.unref();
      engine
        .stop()
        .then(() => {
          clearTimeout(force);
          log.info('Stopped cleanly');
          resolve(0);
        })
        .catch((err: unknown) => {
          log.error('Shutdown failed', { error: errorMessage(err) });
          resolve(1);
        });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await engine.start();
  log.info('Kuzet running', { config: file, metricsPort: engine.metricsPort });
  return done;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, arg] = argv;
  switch (cmd) {
    case 'run':
      if (!arg) break;
      return run(arg);
    case 'validate': {
      if (!arg) break;
      const cfg = loadConfig(arg);
      const cameras = cfg.schools.reduce((n, s) => n + s.cameras.length, 0);
      process.stdout.write(`${arg}: valid (${cfg.schools.length} schools, ${cameras} cameras)\n`);
      return 0;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(usage + '\n');
      return cmd === undefined ? 2 : 0;
  }
  process.stderr.write(`kuzet: unknown or incomplete command: ${argv.join(' ')}\n\n${usage}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof KuzetError) process.stderr.write(`kuzet: ${err.code}: ${err.message}\n`);
    else process.stderr.write(`kuzet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
