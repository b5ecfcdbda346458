/**
 * H.265 cameras: clip parsing, RFC 7798 packetization and the SDP a client sees. Independent of
 * any H.265 depacketizer in connectors/rtsp: reassembly here is the test's own.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { test } from 'node:test';
import { parseSdp } from '../../connectors/rtsp/sdp.js';
import { createLogger } from '../../engine/log.js';
import { repoPath } from '../../engine/paths.js';
import { accessUnitsH265, h265Type, splitNalUnits } from './annexb.js';
import { ensureClip } from './clips.js';
import { H265_FU, packetizeNalH265 } from './rtp-packetizer.js';
import { startFleet } from './server.js';

test('H.265 FU: fragments fit, carry S/E and the type, and reassemble to the NAL unit', () => {
  const nal = Buffer.concat([Buffer.from([19 << 1, 1]), Buffer.alloc(4000, 9)]);
  const ps = packetizeNalH265(nal, 1400);
  assert.ok(ps.length === 3 && ps.every((p) => p.length <= 1400));
  assert.ok(ps.every((p) => ((p[0] >> 1) & 0x3f) === H265_FU && p[1] === 1 && (p[2] & 0x3f) === 19));
  assert.equal(ps[0][2] & 0xc0, 0x80);
  assert.equal(ps[1][2] & 0xc0, 0);
  assert.equal(ps[2][2] & 0xc0, 0x40);
  const back = Buffer.concat([
    Buffer.from([(ps[0][0] & 0x81) | ((ps[0][2] & 0x3f) << 1), ps[0][1]]),
    ...ps.map((p) => p.subarray(3)),
  ]);
  assert.deepEqual(back, nal);
  const small = Buffer.from([1 << 1, 1, 5]);
  assert.deepEqual(packetizeNalH265(small), [small]);
});

async function describe(port: number, url: string): Promise<string> {
  const sock = connect(port, '127.0.0.1');
  try {
    await new Promise((r) => sock.once('connect', r));
    sock.write(`DESCRIBE ${url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n`);
    let text = '';
    for await (const chunk of sock) {
      text += (chunk as Buffer).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const len = Number(/Content-Length: (\d+)/i.exec(text)?.[1] ?? -1);
      if (end >= 0 && len >= 0 && text.length >= end + 4 + len) return text.slice(end + 4, end + 4 + len);
    }
    throw new Error('connection closed before the SDP');
  } finally {
    sock.destroy();
  }
}

test('H.265 camera: clip from ensureClip, access units, SDP with H265/90000 and sprop-vps/sps/pps that parseSdp reads', async () => {
  const clip = await ensureClip({
    codec: 'h265',
    width: 320,
    height: 180,
    fps: 25,
    gop: 25,
    kbps: 300,
    seconds: 2,
  });
  const aus = accessUnitsH265(splitNalUnits(readFileSync(clip)));
  assert.equal(aus.length, 50);
  aus.forEach((au, i) => assert.equal(au.keyframe, i % 25 === 0, `unit ${i}`));
  const keyTypes = aus[0].nalus.map(h265Type);
  assert.ok(keyTypes.includes(32) && keyTypes.includes(33) && keyTypes.includes(34), keyTypes.join(','));

  const fleet = await startFleet({
    port: 0,
    cameras: [
      { path: 'hevc01', clip },
      { path: 'avc01', clip: repoPath('bench/fixtures/clips/person-640x424.h264') },
    ],
    log: createLogger('test', 'error'),
  });
  try {
    const sdp = parseSdp(await describe(fleet.port, fleet.urls[0]), fleet.urls[0] + '/');
    const v = sdp.media.find((m) => m.kind === 'video');
    assert.ok(v);
    assert.equal(v.encoding, 'H265');
    assert.equal(v.codec, 'h265');
    assert.equal(v.clockRate, 90000);
    assert.deepEqual(
      v.parameterSets.map((p) => (p[0] >> 1) & 0x3f),
      [32, 33, 34],
    );
    const avc = parseSdp(await describe(fleet.port, fleet.urls[1]), fleet.urls[1] + '/').media[0];
    assert.equal(avc.codec, 'h264');
  } finally {
    await fleet.stop();
  }
});
