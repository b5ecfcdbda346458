import { parseArgs } from 'node:util';
import { probeCamera, ProbeError } from '../connectors/rtsp/probe.js';
import { loadConfig } from './config/load.js';
import { Engine } from './engine.js';
import { errorMessage, KuzetError } from './errors.js';
import { createLogger } from './log.js';

const usage = `Usage: kuzet <command> [options]

Commands:
  run <config.yaml>        Run the engine (Ctrl-C or SIGTERM stops it, flushing pending rows)
  validate <config.yaml>   Check a configuration and exit (0 valid, 1 invalid)
  probe <rtsp-url> [--seconds N] [--transport tcp|udp|auto]
                           Measure one camera (codec, size, fps, GOP, bitrate) and print JSON;
                           exits 2 unreachable, 3 auth failed, 4 unsupported codec, 5 no media

Environment: NATS_URL, DATABASE_URL, KUZET_LOG_LEVEL (debug|info|warn|error); see README.md.`;

async function run(file: string): Promise<number> {
  const log = createLogger('engine');
  const cfg = loadConfig(file);
  const engine = new Engine(cfg, { log });
  let signalledAt = 0;
  const done = new Promise<number>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      if (signalledAt) {
        // Ctrl-C under `npm start` arrives twice (the terminal signals the process group and npm
        // forwards it): only a second signal a while after the first means "force".
        if (Date.now() - signalledAt < 3000) return;
        log.warn('Second signal: exiting now', { signal: sig });
        process.exit(130);
      }
      signalledAt = Date.now();
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

async function probe(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { seconds: { type: 'string', default: '5' }, transport: { type: 'string', default: 'auto' } },
    });
  } catch (err) {
    throw new KuzetError('KUZET_ERR_CONFIG', `probe: ${errorMessage(err)}`);
  }
  const { values, positionals } = parsed;
  const url = positionals[0];
  const seconds = Number(values.seconds);
  const transport = values.transport;
  if (!url || positionals.length > 1) {
    throw new KuzetError('KUZET_ERR_CONFIG', 'probe: exactly one rtsp:// URL expected');
  }
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) {
    throw new KuzetError(
      'KUZET_ERR_CONFIG',
      `--seconds: must be a number in (0, 600] (got ${values.seconds})`,
    );
  }
  if (transport !== 'tcp' && transport !== 'udp' && transport !== 'auto') {
    throw new KuzetError('KUZET_ERR_CONFIG', `--transport: must be tcp, udp or auto (got ${transport})`);
  }
  try {
    const result = await probeCamera(url, { seconds, transport, log: createLogger('probe', 'error') });
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return 0;
  } catch (err) {
    if (!(err instanceof ProbeError)) throw err;
    process.stderr.write(`kuzet probe: ${err.kind}: ${err.message}\n`);
    return err.exitCode;
  }
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
    case 'probe':
      if (!arg) break;
      return probe(argv.slice(1));
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
