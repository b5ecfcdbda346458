import assert from 'node:assert/strict';
import { test } from 'node:test';
import { H265Depacketizer, type H265AccessUnit } from './h265-depacketizer.js';

/** NAL unit of type t: 2-byte header (layer 0, TID 1) and a body. */
const nal = (t: number, n: number, fill: number) =>
  Buffer.concat([Buffer.from([t << 1, 0x01]), Buffer.alloc(n, fill)]);
const VPS = nal(32, 6, 0x0c);
const SPS = nal(33, 8, 0x0d);
const PPS = nal(34, 3, 0x0e);
const idr = (n = 40) => nal(19, n, 0x11); // IDR_W_RADL
const cra = (n = 40) => nal(21, n, 0x12);
const trail = (n = 30) => nal(1, n, 0x22); // TRAIL_R

let seq = 65530; // wraps during the tests
function rtp(payload: Buffer, ts: number, marker: boolean, s = seq++): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = (marker ? 0x80 : 0) | 97;
  h.writeUInt16BE(s & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(0xabcd, 8);
  return Buffer.concat([h, payload]);
}
/** Aggregation packet; with `donl`, DONL before the first unit and DOND before each later one. */
function ap(nals: Buffer[], donl = false): Buffer {
  const parts: Buffer[] = [Buffer.from([48 << 1, 0x01])];
  nals.forEach((n, i) => {
    if (donl) parts.push(i === 0 ? Buffer.from([0, 7]) : Buffer.from([0]));
    parts.push(Buffer.from([n.length >> 8, n.length & 0xff]), n);
  });
  return Buffer.concat(parts);
}
function fu(n: Buffer, size: number, donl = false): Buffer[] {
  const out: Buffer[] = [];
  const type = (n[0] >> 1) & 0x3f;
  for (let off = 2; off < n.length; off += size) {
    const end = Math.min(n.length, off + size);
    const first = off === 2;
    const hdr = Buffer.from([
      (n[0] & 0x81) | (49 << 1),
      n[1],
      (first ? 0x80 : 0) | (end === n.length ? 0x40 : 0) | type,
    ]);
    out.push(
      Buffer.concat([hdr, first && donl ? Buffer.from([0, 9]) : Buffer.alloc(0), n.subarray(off, end)]),
    );
  }
  return out;
}
const annexB = (...nals: Buffer[]) => Buffer.concat(nals.flatMap((n) => [Buffer.from([0, 0, 0, 1]), n]));

function setup(
  opts: { want?: (key: boolean) => boolean; parameterSets?: Buffer[]; maxDonDiff?: number } = {},
) {
  const out: H265AccessUnit[] = [];
  const asked: boolean[] = [];
  const want = opts.want ?? ((k) => k);
  const d = new H265Depacketizer({
    payloadType: 97,
    parameterSets: opts.parameterSets ?? [],
    maxDonDiff: opts.maxDonDiff,
    wantNext: (k) => {
      asked.push(k);
      return want(k);
    },
    onAccessUnit: (au) => out.push(au),
  });
  return { d, out, asked };
}

test('AP with VPS/SPS/PPS + FU-fragmented IDR → Annex B VPS, SPS, PPS, IDR; P-frames skipped uncopied', () => {
  const { d, out, asked } = setup();
  const key = idr(3000);
  d.push(rtp(ap([VPS, SPS, PPS]), 1000, false));
  const frags = fu(key, 1000);
  frags.forEach((f, i) => d.push(rtp(f, 1000, i === frags.length - 1)));
  d.push(rtp(trail(), 4600, true));
  d.push(rtp(trail(), 8200, true));
  assert.equal(out.length, 1);
  assert.equal(out[0].keyframe, true);
  assert.equal(out[0].rtpTimestamp, 1000);
  assert.deepEqual(Buffer.from(out[0].data), annexB(VPS, SPS, PPS, key));
  assert.deepEqual(asked, [true, false, false]);
  assert.equal(d.counters.accessUnits, 3);
  assert.equal(d.counters.skipped, 2);
  assert.equal(d.counters.sampled, 1);
  assert.deepEqual(d.currentSps, new Uint8Array(SPS));
});

test('single NAL packets; parameter sets from SDP; CRA counts as keyframe; multi-slice unit', () => {
  const { d, out } = setup({ parameterSets: [VPS, SPS, PPS] });
  const a = cra(50);
  const b = nal(21, 20, 0x13);
  d.push(rtp(a, 0, false));
  d.push(rtp(b, 0, true));
  assert.equal(out.length, 1);
  assert.deepEqual(Buffer.from(out[0].data), annexB(VPS, SPS, PPS, a, b));
});

test('no parameter sets known: the keyframe is counted, not emitted', () => {
  const { d, out } = setup();
  d.push(rtp(idr(), 0, true));
  assert.equal(out.length, 0);
  assert.equal(d.counters.noParameterSets, 1);
});

test('loss: the damaged unit and everything until the next IRAP are discarded', () => {
  const { d, out, asked } = setup({ want: () => true, parameterSets: [VPS, SPS, PPS] });
  d.push(rtp(idr(), 0, true));
  const frags = fu(trail(2500), 1000);
  d.push(rtp(frags[0], 3600, false));
  seq++; // frags[1] lost
  d.push(rtp(frags[2], 3600, true));
  d.push(rtp(trail(), 7200, true)); // references the lost frame
  d.push(rtp(idr(), 10800, true));
  d.push(rtp(trail(), 14400, true));
  assert.deepEqual(
    out.map((a) => [a.rtpTimestamp, a.keyframe]),
    [
      [0, true],
      [10800, true],
      [14400, false],
    ],
  );
  assert.equal(d.counters.lossDiscarded, 2);
  assert.deepEqual(asked, [true, false, true, false]);
});

test('DONL (sprop-max-don-diff > 0): fields skipped in single NAL, AP and FU packets', () => {
  const { d, out } = setup({ maxDonDiff: 2 });
  d.push(rtp(ap([VPS, SPS, PPS], true), 0, false));
  const key = idr(1500);
  const frags = fu(key, 700, true);
  frags.forEach((f) => d.push(rtp(f, 0, false)));
  const extra = nal(19, 10, 0x14);
  d.push(rtp(Buffer.concat([extra.subarray(0, 2), Buffer.from([0, 11]), extra.subarray(2)]), 0, true));
  assert.equal(out.length, 1);
  assert.deepEqual(Buffer.from(out[0].data), annexB(VPS, SPS, PPS, key, extra));
});

test('in-band parameter set change is picked up; other payload types and garbage ignored', () => {
  const { d, out } = setup({ parameterSets: [VPS, SPS, PPS] });
  const sps2 = nal(33, 9, 0x3d);
  d.push(rtp(sps2, 0, false));
  d.push(rtp(idr(), 0, true));
  const other = rtp(idr(), 3600, true);
  other[1] = 0x80 | 96;
  d.push(other);
  d.push(Buffer.from([1, 2, 3]));
  assert.equal(out.length, 1);
  assert.deepEqual(Buffer.from(out[0].data), annexB(VPS, sps2, PPS, idr()));
});
