import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sha256Hex } from '../connectors/http/tokens.js';
import { probeCamera, ProbeError } from '../connectors/rtsp/probe.js';
import { loadConfig } from './config/load.js';
import { Engine } from './engine.js';
import { errorMessage, KuzetError } from './errors.js';
import { createLogger } from './log.js';
import { replay } from './replay.js';

const usage = `Usage: kuzet <command> [options]

Commands:
  run <config.yaml>        Run the engine (Ctrl-C or SIGTERM stops it, flushing pending rows)
  validate <config.yaml>   Check a configuration and exit (0 valid, 1 invalid)
  probe <rtsp-url> [--seconds N] [--transport tcp|udp|auto]
                           Measure one camera (codec, size, fps, GOP, bitrate) and print JSON;
                           exits 2 unreachable, 3 auth failed, 4 unsupported codec, 5 no media
  replay <video-file> --config <yaml> [--camera school/camera] [--fps N] [--start ISO-time] [--json]
                           Run detection, tracking, analytics and alarms on a recorded file as fast as
                           the machine allows; prints frames and alarms (JSON lines with --json)
  token <name> --role police|school-admin|city-operator [--schools a,b] [--districts x,y]
                           Mint an operator token: prints the token once (give it to the operator) and
                           the config entry with its SHA-256 for engine.http.tokens

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

async function replayCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        camera: { type: 'string' },
        fps: { type: 'string' },
        start: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    throw new KuzetError('KUZET_ERR_CONFIG', `replay: ${errorMessage(err)}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1 || !values.config)
    throw new KuzetError('KUZET_ERR_CONFIG', 'replay: usage: kuzet replay <video-file> --config <yaml>');
  const fps = values.fps === undefined ? undefined : Number(values.fps);
  if (fps !== undefined && !(fps > 0 && fps <= 60))
    throw new KuzetError('KUZET_ERR_CONFIG', `--fps: must be a number in (0, 60] (got ${values.fps})`);
  const startMs = values.start === undefined ? undefined : Date.parse(values.start);
  if (startMs !== undefined && !Number.isFinite(startMs))
    throw new KuzetError('KUZET_ERR_CONFIG', `--start: not a date/time (got ${values.start})`);
  const json = values.json === true;
  const out = (line: string) => process.stdout.write(line + '\n');
  const result = await replay(
    { file: positionals[0], config: loadConfig(values.config), camera: values.camera, fps, startMs },
    (f) => {
      const boxes = f.detections.map((d) => ({
        class: d.className,
        score: Number(d.score.toFixed(3)),
        track: d.trackId,
        box: [d.x1, d.y1, d.x2, d.y2].map((v) => Math.round(v)),
      }));
      if (json) out(JSON.stringify({ type: 'frame', index: f.index, time: f.timeMs, detections: boxes }));
      else
        out(
          `frame ${f.index} t=${new Date(f.timeMs).toISOString()} ${boxes.length} detections, tracks [${f.tracks.map((t) => t.id).join(',')}]`,
        );
    },
    (a) => {
      if (json) out(JSON.stringify({ type: 'alarm', ...a }));
      else
        out(
          `ALARM ${a.state} ${a.severity} ${a.kind} ${a.schoolId}/${a.cameraId}${a.zoneId ? ` zone ${a.zoneId}` : ''} tracks [${a.trackIds.join(',')}] score ${a.score.toFixed(2)} ${JSON.stringify(a.cues)}`,
        );
    },
  );
  const byKind: Record<string, number> = {};
  for (const a of result.alarms) if (a.confirmedAt !== null) byKind[a.kind] = (byKind[a.kind] ?? 0) + 1;
  if (json) out(JSON.stringify({ type: 'summary', frames: result.frames, alarms: byKind }));
  else out(`${result.frames} frames; confirmed alarms: ${JSON.stringify(byKind)}`);
  return 0;
}

function tokenCommand(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { role: { type: 'string' }, schools: { type: 'string' }, districts: { type: 'string' } },
  });
  const name = positionals[0];
  const roles = ['police', 'school-admin', 'city-operator'];
  if (!name || !values.role || !roles.includes(values.role))
    throw new KuzetError('KUZET_ERR_CONFIG', `token: usage: kuzet token <name> --role ${roles.join('|')}`);
  const token = randomBytes(24).toString('base64url');
  const list = (v: string | undefined) => (v ? `, ${JSON.stringify(v.split(',').filter(Boolean))}` : '');
  const scope =
    (values.schools ? `, schools: ${list(values.schools).slice(2)}` : '') +
    (values.districts ? `, districts: ${list(values.districts).slice(2)}` : '');
  process.stdout.write(
    `token (give it to the operator; it is not stored anywhere): ${token}\n` +
      `config entry for engine.http.tokens:\n` +
      `  - { name: ${name}, role: ${values.role}, sha256: ${sha256Hex(token)}${scope} }\n`,
  );
  return 0;
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
    case 'replay':
      if (!arg) break;
      return replayCommand(argv.slice(1));
    case 'token':
      if (!arg) break;
      return tokenCommand(argv.slice(1));
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
