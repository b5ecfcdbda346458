import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { createLogger } from '../../engine/log.js';
import { repoPath } from '../../engine/paths.js';
import { startFleet } from './server.js';

test('a client that stops reading costs skipped frames, not unbounded memory', async () => {
  // 10x real time on the largest clip fills the kernel socket buffers within seconds.
  const fleet = await startFleet({
    port: 0,
    cameras: [{ path: 'cam01', clip: repoPath('bench/fixtures/clips/bus-810x1080.h264'), fps: 250 }],
    maxBufferedBytes: 256 * 1024,
    log: createLogger('test', 'error'),
  });
  const sock = connect(fleet.port, '127.0.0.1');
  try {
    await new Promise((r) => sock.once('connect', r));
    const url = fleet.urls[0];
    let text = '';
    sock.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('Session: ') && !text.includes('PLAYSENT')) {
        const id = /Session: ([0-9a-f]+)/.exec(text)?.[1];
        text += 'PLAYSENT';
        sock.write(`PLAY ${url}/ RTSP/1.0\r\nCSeq: 2\r\nSession: ${id}\r\n\r\n`);
        setTimeout(() => sock.pause(), 100);
      }
    });
    sock.write(
      `SETUP ${url}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n`,
    );
    const t0 = Date.now();
    while (fleet.stats().framesSkipped === 0 && Date.now() - t0 < 10_000)
      await new Promise((r) => setTimeout(r, 100));
    const s = fleet.stats();
    assert.ok(s.framesSkipped > 0, JSON.stringify(s));
    assert.ok(process.memoryUsage().rss < 1024 * 1024 * 1024);
  } finally {
    sock.destroy();
    await fleet.stop();
  }
});
