/**
 * Interop with a third-party RTSP server: GStreamer's gst-rtsp-server (through python3-gi), serving
 * the demo clip with rtph264pay. Exercises another implementation's SDP, Session and RTP framing.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { createLogger } from '../../engine/log.js';
import { repoPath } from '../../engine/paths.js';
import type { CameraStatus, Sample } from '../../engine/types.js';
import { RtspCameraSource } from './source.js';

const SERVER = `
import sys, gi
gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0')
from gi.repository import Gst, GstRtspServer, GLib
Gst.init(None)
server = GstRtspServer.RTSPServer(); server.set_address('127.0.0.1'); server.set_service(sys.argv[1])
f = GstRtspServer.RTSPMediaFactory()
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
  const probe = spawnSync(PYTHON, ['-c', "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"]);
  assert.equal(
    probe.status,
    0,
    'GStreamer RTSP server bindings missing: run `node deploy/setup.mjs` (needs apt packages python3-gi gir1.2-gst-rtsp-server-1.0 ' +
      'gstreamer1.0-plugins-good gstreamer1.0-plugins-bad) and rerun. ' +
      probe.stderr?.toString(),
  );
  const port = await freePort();
  const child = spawn(PYTHON, ['-c', SERVER, String(port), repoPath('bench/fixtures/clips/demo-640x360.h264')], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      for (let i = 0; i + 3 < d.length; i++) if (d[i] === 0 && d[i + 1] === 0 && d[i + 2] === 1) types += (d[i + 3] & 0x1f) + ',';
      assert.match(types, /^7,8,5,/);
    }
    assert.equal(source.counters.lossDiscarded, 0);
  } finally {
    await source.stop();
    child.kill('SIGTERM');
  }
});
