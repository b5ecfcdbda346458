#!/usr/bin/env node
// Installs the Debian packages Kuzet needs when they are missing, idempotently.
// Runs from `npm ci` (postinstall) where the registries are reachable; `--check` (before start/test)
// only verifies and tries an install when something is missing, so an offline machine gets one clear line.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

// binary -> Debian package. nats-server: the embedded broker when none answers at NATS_URL.
// ffmpeg/ffprobe: fixture tools, interop tests and bench baselines (the engine decodes in-process).
// GStreamer's RTSP server (through python3-gi): the third-party server of the RTSP interop tests.
// ffmpeg also transcodes live views (node-rtsp-stream) for the console.
const gstProbe =
  "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer";
const required = [
  { bin: 'nats-server', pkgs: ['nats-server'], paths: ['/usr/sbin/nats-server', '/usr/bin/nats-server'] },
  { bin: 'ffmpeg', pkgs: ['ffmpeg'], paths: ['/usr/bin/ffmpeg'] },
  // PostgreSQL server binaries: tests start a private server without TimescaleDB (the external-database path).
  {
    bin: 'postgres (server binaries)',
    pkgs: ['postgresql'],
    probe: () =>
      existsSync('/usr/lib/postgresql') &&
      readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)),
  },
  // Headless Chromium: the operators' console end-to-end test drives it through playwright-core.
  { bin: 'chromium', pkgs: ['chromium'], paths: ['/usr/bin/chromium'] },
  {
    bin: 'gst-rtsp-server (python3-gi)',
    pkgs: [
      'python3-gi',
      'gir1.2-gst-rtsp-server-1.0',
      'gstreamer1.0-plugins-good',
      'gstreamer1.0-plugins-bad',
      'gstreamer1.0-rtsp',
    ],
    probe: () =>
      existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', gstProbe]).status === 0,
  },
];

const checkOnly = process.argv.includes('--check');
const has = (r) =>
  r.probe
    ? r.probe()
    : r.paths.some((p) => existsSync(p)) || spawnSync('sh', ['-c', `command -v ${r.bin}`]).status === 0;
const missing = required.filter((r) => !has(r));

if (missing.length === 0) process.exit(0);
if (process.env.KUZET_SKIP_SETUP === '1') {
  console.error(
    `kuzet setup: skipped (KUZET_SKIP_SETUP=1); missing: ${missing.map((m) => m.bin).join(', ')}`,
  );
  process.exit(0);
}
if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get')) {
  console.error(
    `kuzet setup: please install ${missing.flatMap((m) => m.pkgs).join(', ')} with your package manager`,
  );
  process.exit(checkOnly ? 1 : 0);
}
const asRoot = process.getuid && process.getuid() === 0 ? [] : ['sudo', '-n'];
const pkgs = missing.flatMap((m) => m.pkgs);
console.error(`kuzet setup: installing Debian packages: ${pkgs.join(' ')}`);
try {
  const run = (args) =>
    execFileSync(asRoot[0] ?? args[0], asRoot.length ? [...asRoot.slice(1), ...args] : args.slice(1), {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  try {
    run(['apt-get', 'install', '-y', '--no-install-recommends', ...pkgs]);
  } catch {
    run(['apt-get', 'update']);
    run(['apt-get', 'install', '-y', '--no-install-recommends', ...pkgs]);
  }
} catch (err) {
  console.error(
    `kuzet setup: could not install ${pkgs.join(' ')} (${err.message.split('\n')[0]}); install them by hand: apt-get install ${pkgs.join(' ')}`,
  );
  process.exit(checkOnly ? 1 : 0);
}
const still = required.filter((r) => !has(r));
if (still.length) {
  console.error(`kuzet setup: still missing after install: ${still.map((m) => m.bin).join(', ')}`);
  process.exit(checkOnly ? 1 : 0);
}
console.error('kuzet setup: done');
