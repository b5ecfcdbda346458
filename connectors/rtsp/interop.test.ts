/**
 * Interop with third-party RTSP implementations. As server: GStreamer's gst-rtsp-server (through
 * python3-gi) with rtph264pay and rtph265pay, over TCP interleaved and UDP, which exercises
 * another implementation's SDP, Session, transports, RTP framing and RTCP. As client: ffprobe
 * pulling from the bench fleet, which shows the fleet speaks standard RTSP. (ffmpeg cannot be the
 * server: `-f rtsp -rtsp_flags listen` as an output still connects out as a publisher, and listen
 * mode as an input only accepts ANNOUNCE/RECORD, answering a DESCRIBE with "Unexpected command".)
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startFleet } from '../../bench/fleet/server.js';
import { createLogger } from '../../engine/log.js';
import { repoPath } from '../../engine/paths.js';
import type { CameraStatus, Sample, VideoCodec } from '../../engine/types.js';
import type { RtspTransport } from './client.js';
import { probeCamera } from './probe.js';
import { RtspCameraSource } from './source.js';

const execFileP = promisify(execFile);

const SERVER = `
import sys, gi
gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0')
from gi.repository import Gst, GstRtspServer, GLib
Gst.init(None)
server = GstRtspServer.RTSPServer(); server.set_address('127.0.0.1'); server.set_service(sys.argv[1])
f = GstRtspServer.RTSPMediaFactory()
codec = sys.argv[3] if len(sys.argv) > 3 else 'h264'
if sys.argv[2].endswith('.mp4'):
    # A container gives real timestamps (raw Annex B through multifilesrc has none: every RTP
    # timestamp would be equal); each client gets its own pipeline from the start of the file.
    f.set_launch('( filesrc location=%s ! qtdemux ! %sparse ! identity sync=true ! rtp%spay name=pay0 pt=96 config-interval=-1 )' % (sys.argv[2], codec, codec))
    f.set_shared(False)
else:
    f.set_launch('( multifilesrc location=%s loop=true ! h264parse ! video/x-h264,framerate=25/1 ! identity sync=true ! rtph264pay name=pay0 pt=96 config-interval=-1 )' % sys.argv[2])
    f.set_shared(True)
server.get_mount_points().add_factory('/live', f)
server.attach(None)
print('ready', flush=True)
GLib.MainLoop().run()
`;

// The system interpreter: python version managers (pyenv) shadow python3 without the apt-installed gi bindings.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

test('GStreamer gst-rtsp-server camera: online, samples SPS+PPS+IDR', async () => {
  const probe = spawnSync(PYTHON, [
    '-c',
    "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
  ]);
  assert.equal(
    probe.status,
    0,
    'GStreamer RTSP server bindings missing: run `node deploy/setup.mjs` (needs apt packages python3-gi gir1.2-gst-rtsp-server-1.0 ' +
      'gstreamer1.0-plugins-good gstreamer1.0-plugins-bad) and rerun. ' +
      probe.stderr?.toString(),
  );
  const port = await freePort();
  const child = spawn(
    PYTHON,
    ['-c', SERVER, String(port), repoPath('bench/fixtures/clips/demo-640x360.h264')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const samples: Sample[] = [];
  const statuses: CameraStatus[] = [];
  const source = new RtspCameraSource({
    schoolId: 's',
    cameraId: 'gst',
    url: `rtsp://127.0.0.1:${port}/live`,
    onSample: (s) => samples.push(s),
    onStatus: (s) => statuses.push(s),
    log: createLogger('test', 'error'),
    reconnect: { initialMs: 200, maxMs: 500 },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('gst-rtsp-server did not start: ' + stderr)), 5000);
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(t);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`gst-rtsp-server exited ${code}: ${stderr}`)));
    });
    source.start();
    const t0 = Date.now();
    while (samples.length < 2 && Date.now() - t0 < 6000) await new Promise((r) => setTimeout(r, 50));
    assert.ok(samples.length >= 2, `samples: ${samples.length}, statuses: ${JSON.stringify(statuses)}`);
    for (const s of samples) {
      const d = s.data;
      assert.deepEqual([d[4] & 0x1f], [7], 'starts with SPS');
      let types = '';
      for (let i = 0; i + 3 < d.length; i++)
        if (d[i] === 0 && d[i + 1] === 0 && d[i + 2] === 1) types += (d[i + 3] & 0x1f) + ',';
      assert.match(types, /^7,8,5,/);
    }
    assert.equal(source.counters.lossDiscarded, 0);
  } finally {
    await source.stop();
    child.kill('SIGTERM');
  }
});

/** Starts gst-rtsp-server on a free port serving `clip` at /live; resolves once it listens. */
async function startGst(clip: string, codec: VideoCodec): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(PYTHON, ['-c', SERVER, String(port), clip, codec], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('gst-rtsp-server did not start: ' + stderr)), 5000);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`gst-rtsp-server exited ${code}: ${stderr}`)));
  });
  return { url: `rtsp://127.0.0.1:${port}/live`, child };
}

async function waitFor(what: string, pred: () => boolean, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const workDir = mkdtempSync(join(tmpdir(), 'kuzet-interop-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

/** MP4 clips of ~12 s made at test time: H.264 remuxed from the demo clip, H.265 encoded with libx265. */
function ffmpegOrFail(args: string[], what: string): void {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', ...args]);
  assert.equal(r.status, 0, `ffmpeg failed to make ${what}: ${r.stderr?.toString() ?? r.error?.message}`);
}
const CLIPS: Record<Exclude<VideoCodec, 'jpeg'>, { width: number; height: number; make: () => string }> = {
  h264: {
    width: 640,
    height: 360,
    make: () => {
      const file = join(workDir, 'demo-640x360.mp4');
      ffmpegOrFail(
        [
          '-r',
          '25',
          '-f',
          'h264',
          '-i',
          repoPath('bench/fixtures/clips/demo-640x360.h264'),
          '-c',
          'copy',
          file,
        ],
        'the H.264 MP4',
      );
      return file;
    },
  },
  h265: {
    // 180 is not a multiple of the 8-pixel minimum coding block: exercises the conformance window.
    width: 320,
    height: 180,
    make: () => {
      const file = join(workDir, 'clip-320x180.mp4');
      ffmpegOrFail(
        [
          '-f',
          'lavfi',
          '-i',
          'testsrc=size=320x180:rate=25',
          '-t',
          '12',
          '-c:v',
          'libx265',
          '-preset',
          'ultrafast',
          '-x265-params',
          'keyint=25:min-keyint=25:log-level=error',
          '-pix_fmt',
          'yuv420p',
          '-tag:v',
          'hvc1',
          file,
        ],
        'the H.265 clip (needs libx265)',
      );
      return file;
    },
  },
};

for (const codec of ['h264', 'h265'] as const) {
  describe(`gst-rtsp-server ${codec}`, () => {
    let gst: { url: string; child: ChildProcess };
    const clip = CLIPS[codec];
    before(async () => {
      gst = await startGst(clip.make(), codec);
    });
    after(() => {
      gst.child.kill('SIGTERM');
    });

    for (const transport of ['tcp', 'udp'] as const) {
      test(
        `${transport}: probe reports codec and size; samples decode with ffmpeg; RTCP RRs sent`,
        { timeout: 20_000 },
        async () => {
          const result = await probeCamera(gst.url, { seconds: 2, transport });
          assert.equal(result.codec, codec);
          assert.equal(result.transport, transport);
          assert.deepEqual([result.width, result.height], [clip.width, clip.height]);
          assert.equal(result.profile, 'Main');
          assert.ok(result.accessUnits >= 30, `access units in 2 s: ${result.accessUnits}`);
          assert.ok(result.fps !== null && Math.abs(result.fps - 25) < 1, `fps ${result.fps}`);
          assert.ok(result.keyframes >= 1);
          assert.ok(result.bitrateKbps > 0);

          const samples: Sample[] = [];
          const source = new RtspCameraSource({
            schoolId: 's',
            cameraId: `gst-${codec}-${transport}`,
            url: gst.url,
            transport,
            rtcpIntervalMs: 300,
            onSample: (s) => samples.push(s),
            onStatus: () => {},
            log: createLogger('test', 'error'),
            reconnect: { initialMs: 200, maxMs: 500 },
          });
          try {
            source.start();
            await waitFor('a sample', () => samples.length >= 1, 6000);
            // RTCP counters are folded in by the watchdog and by stop(); 300 ms period → a few RRs by now.
            await new Promise((r) => setTimeout(r, 700));
          } finally {
            await source.stop();
          }
          assert.ok(
            source.counters.rtcpReportsSent >= 1,
            `RTCP RRs sent: ${source.counters.rtcpReportsSent}`,
          );
          assert.equal(source.counters.lossDiscarded, 0);
          const s = samples[0];
          assert.equal(s.codec, codec);
          const file = join(workDir, `sample-${codec}-${transport}.${codec}`);
          writeFileSync(file, s.data);
          const fmt = codec === 'h264' ? 'h264' : 'hevc';
          await execFileP('ffmpeg', [
            '-v',
            'error',
            '-xerror',
            '-f',
            fmt,
            '-i',
            file,
            '-frames:v',
            '1',
            '-f',
            'null',
            '-',
          ]);
          const { stdout } = await execFileP('ffprobe', [
            '-v',
            'error',
            '-f',
            fmt,
            '-show_entries',
            'stream=width,height',
            '-of',
            'csv=p=0',
            file,
          ]);
          assert.equal(stdout.trim(), `${clip.width},${clip.height}`);
        },
      );
    }

    test('auto: UDP works here, so UDP is kept', { timeout: 20_000 }, async () => {
      const result = await probeCamera(gst.url, { seconds: 1, transport: 'auto' satisfies RtspTransport });
      assert.equal(result.transport, 'udp');
      assert.equal(result.codec, codec);
    });
  });
}

describe('bench fleet with third-party tools', () => {
  const log = createLogger('test', 'error');
  const clip = repoPath('bench/fixtures/clips/demo-640x360.h264');

  test(
    'ffprobe as the client (RTSP over TCP) reads codec and size from the fleet',
    { timeout: 20_000 },
    async () => {
      const fleet = await startFleet({ port: 0, cameras: [{ path: 'cam01', clip }], log });
      try {
        const { stdout } = await execFileP(
          'ffprobe',
          [
            '-v',
            'error',
            '-rtsp_transport',
            'tcp',
            '-show_entries',
            'stream=codec_name,width,height',
            '-of',
            'csv=p=0',
            fleet.urls[0],
          ],
          { timeout: 15_000 },
        );
        assert.equal(stdout.trim(), 'h264,640,360');
      } finally {
        await fleet.stop();
      }
    },
  );

  test(
    'auto falls back to TCP when the fleet refuses UDP (461); udp alone fails',
    { timeout: 20_000 },
    async () => {
      const fleet = await startFleet({ port: 0, cameras: [{ path: 'cam01', clip }], log });
      try {
        const result = await probeCamera(fleet.urls[0], { seconds: 1, transport: 'auto' });
        assert.equal(result.transport, 'tcp');
        assert.deepEqual([result.codec, result.width, result.height], ['h264', 640, 360]);
        await assert.rejects(
          probeCamera(fleet.urls[0], { seconds: 1, transport: 'udp' }),
          /SETUP answered 461/,
        );
      } finally {
        await fleet.stop();
      }
    },
  );
});
