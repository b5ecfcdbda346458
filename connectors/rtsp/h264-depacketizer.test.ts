import assert from 'node:assert/strict';
import { test } from 'node:test';
import { H264Depacketizer, type H264AccessUnit } from './h264-depacketizer.js';

const SPS = Buffer.from([0x67, 0x42, 0xc0, 0x1e, 0xaa]);
const PPS = Buffer.from([0x68, 0xce, 0x3c, 0x80]);
const idr = (n: number, fill = 0x11) => Buffer.concat([Buffer.from([0x65, 0x88]), Buffer.alloc(n, fill)]);
const slice = (n: number) => Buffer.concat([Buffer.from([0x41, 0x9a]), Buffer.alloc(n, 0x22)]);

let seq = 1000;
function rtp(payload: Buffer, ts: number, marker: boolean, s = seq++): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = (marker ? 0x80 : 0) | 96;
  h.writeUInt16BE(s & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(0x1234, 8);
  return Buffer.concat([h, payload]);
}
function stapA(...nals: Buffer[]): Buffer {
  return Buffer.concat([
    Buffer.from([0x18]),
    ...nals.flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n]),
  ]);
}
function fuA(nal: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 1; off < nal.length; off += size) {
    const end = Math.min(nal.length, off + size);
    const hdr = Buffer.from([
      (nal[0] & 0xe0) | 28,
      (off === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | (nal[0] & 0x1f),
    ]);
    out.push(Buffer.concat([hdr, nal.subarray(off, end)]));
  }
  return out;
}
const annexB = (...nals: Buffer[]) => Buffer.concat(nals.flatMap((n) => [Buffer.from([0, 0, 0, 1]), n]));

function setup(want: (key: boolean) => boolean = (k) => k, parameterSets: Buffer[] = []) {
  const out: H264AccessUnit[] = [];
  const asked: boolean[] = [];
  const d = new H264Depacketizer({
    payloadType: 96,
    parameterSets,
    wantNext: (k) => {
      asked.push(k);
      return want(k);
    },
    onAccessUnit: (au) => out.push(au),
  });
  return { d, out, asked };
}

test('single NAL units: in-band SPS/PPS and IDR become one Annex B keyframe', () => {
  const { d, out } = setup();
  const key = idr(100);
  d.push(rtp(SPS, 9000, false));
  d.push(rtp(PPS, 9000, false));
  d.push(rtp(key, 9000, true));
  assert.equal(out.length, 1);
  assert.equal(out[0].keyframe, true);
  assert.equal(out[0].rtpTimestamp, 9000);
  assert.deepEqual(Buffer.from(out[0].data), annexB(SPS, PPS, key));
});

test('STAP-A with SPS+PPS, then the IDR; SDP parameter sets are used when none come in-band', () => {
  const a = setup();
  const key = idr(50);
  a.d.push(rtp(stapA(SPS, PPS), 1, false));
  a.d.push(rtp(key, 1, true));
  assert.deepEqual(Buffer.from(a.out[0].data), annexB(SPS, PPS, key));

  const b = setup((k) => k, [SPS, PPS]);
  b.d.push(rtp(key, 2, true));
  assert.deepEqual(Buffer.from(b.out[0].data), annexB(SPS, PPS, key));
});

test('FU-A fragments are reassembled, and a multi-slice IDR keeps all its slices', () => {
  const { d, out } = setup((k) => k, [SPS, PPS]);
  const big = idr(5000, 0x33);
  const second = idr(3000, 0x44);
  second[1] = 0x00; // first_mb_in_slice != 0: a second slice of the same picture
  const frags = fuA(big, 1400);
  assert.ok(frags.length > 3);
  frags.forEach((f) => d.push(rtp(f, 3000, false)));
  const frags2 = fuA(second, 1400);
  frags2.forEach((f, i) => d.push(rtp(f, 3000, i === frags2.length - 1)));
  assert.equal(out.length, 1);
  assert.deepEqual(Buffer.from(out[0].data), annexB(SPS, PPS, big, second));
});

test('unwanted units are skipped after one question each, and counted', () => {
  const { d, out, asked } = setup(() => false, [SPS, PPS]);
  for (let i = 0; i < 5; i++)
    fuA(slice(3000), 1000).forEach((f, j, all) => d.push(rtp(f, 100 * i, j === all.length - 1)));
  assert.equal(out.length, 0);
  assert.deepEqual(asked, [false, false, false, false, false]);
  assert.equal(d.counters.skipped, 5);
  assert.equal(d.counters.accessUnits, 5);
});

test('loss: the damaged unit is discarded and nothing is emitted until the next intact keyframe', () => {
  const { d, out, asked } = setup(() => true, [SPS, PPS]);
  const key = idr(4000);
  let f = fuA(key, 1000);
  d.push(rtp(f[0], 0, false));
  seq++; // f[1] lost
  for (let i = 2; i < f.length; i++) d.push(rtp(f[i], 0, i === f.length - 1));
  assert.equal(out.length, 0, 'damaged keyframe must not be emitted');
  d.push(rtp(slice(100), 3600, true)); // P-frame after loss: references the lost frame
  d.push(rtp(slice(100), 7200, true));
  assert.equal(out.length, 0);
  assert.equal(d.counters.lossDiscarded, 3);
  assert.deepEqual(asked, [true], 'waiting for a keyframe does not ask the sampler');
  f = fuA(key, 1000);
  f.forEach((p, i) => d.push(rtp(p, 10800, i === f.length - 1)));
  d.push(rtp(slice(100), 14400, true));
  assert.equal(out.length, 2);
  assert.equal(out[0].keyframe, true);
  assert.equal(out[1].keyframe, false);
});

test('loss of the marker packet: a new timestamp closes the unit as damaged', () => {
  const { d, out } = setup(() => true, [SPS, PPS]);
  const f = fuA(idr(3000), 1000);
  d.push(rtp(f[0], 0, false));
  d.push(rtp(f[1], 0, false));
  seq++; // last fragment (with marker) lost
  d.push(rtp(idr(10), 3600, true));
  assert.equal(out.length, 0);
  assert.equal(d.counters.lossDiscarded, 2);
  d.push(rtp(idr(10), 7200, true));
  assert.equal(out.length, 1);
});

test('sequence numbers wrap at 65535 without being taken as loss', () => {
  const { d, out } = setup(() => true, [SPS, PPS]);
  d.push(rtp(idr(10), 0, true, 65535));
  d.push(rtp(idr(10), 3600, true, 0));
  assert.equal(out.length, 2);
  assert.equal(d.counters.lossDiscarded, 0);
});

test('RTP padding and header extension are skipped; other payload types ignored', () => {
  const { d, out } = setup(() => true, [SPS, PPS]);
  const key = idr(20);
  const ext = Buffer.from([0xbe, 0xde, 0x00, 0x01, 1, 2, 3, 4]);
  const pkt = rtp(Buffer.concat([ext, key, Buffer.from([0, 0, 3])]), 0, true);
  pkt[0] |= 0x30; // X and P
  d.push(pkt);
  const other = rtp(key, 1, true);
  other[1] = 0x80 | 97;
  d.push(other);
  assert.equal(out.length, 1);
  assert.deepEqual(Buffer.from(out[0].data), annexB(SPS, PPS, key));
});
