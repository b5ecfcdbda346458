import assert from 'node:assert/strict';
import { test } from 'node:test';
import { H264Depacketizer } from '../../connectors/rtsp/index.js';
import { packetizeNal } from './rtp-packetizer.js';

test('FU-A fragments respect the size limit and reassemble to the NAL unit', () => {
  const nal = Buffer.concat([Buffer.from([0x65]), Buffer.alloc(5000, 7)]);
  const payloads = packetizeNal(nal, 1400);
  assert.ok(payloads.every((p) => p.length <= 1400));
  assert.equal(payloads[0][1] & 0x80, 0x80);
  assert.equal(payloads[payloads.length - 1][1] & 0x40, 0x40);
  const got: Uint8Array[] = [];
  const d = new H264Depacketizer({
    parameterSets: [Buffer.from([0x67, 1]), Buffer.from([0x68, 2])],
    wantNext: () => true,
    onAccessUnit: (au) => got.push(au.data),
  });
  payloads.forEach((p, i) => {
    const h = Buffer.alloc(12);
    h[0] = 0x80;
    h[1] = (i === payloads.length - 1 ? 0x80 : 0) | 96;
    h.writeUInt16BE(i, 2);
    d.push(Buffer.concat([h, p]));
  });
  assert.equal(got.length, 1);
  assert.deepEqual(Buffer.from(got[0]).subarray(-nal.length), nal);
  assert.deepEqual([...packetizeNal(Buffer.from([0x41, 1, 2]))[0]], [0x41, 1, 2]);
});
