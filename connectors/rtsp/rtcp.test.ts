import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtpReceiverStats } from './rtcp.js';

function rtp(seq: number, ssrc = 0x11223344): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = 96;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ssrc, 8);
  return h;
}

function senderReport(ntpSec: number, ntpFrac: number): Buffer {
  const b = Buffer.alloc(28);
  b[0] = 0x80;
  b[1] = 200;
  b.writeUInt16BE(6, 2);
  b.writeUInt32BE(0x11223344, 4);
  b.writeUInt32BE(ntpSec, 8);
  b.writeUInt32BE(ntpFrac, 12);
  return b;
}

test('no report before the first RTP packet', () => {
  assert.equal(new RtpReceiverStats().report(0), undefined);
});

test('RR + SDES: SSRCs, loss, extended highest sequence across a wrap, LSR/DLSR', () => {
  const st = new RtpReceiverStats('kuzet-test');
  // 65530 … 65535, 0 … 9 with 3 and 4 lost: 16 expected, 14 received.
  for (let s = 65530; s < 65536 + 10; s++) if (s !== 65536 + 3 && s !== 65536 + 4) st.onRtp(rtp(s));
  st.onRtcp(senderReport(0xaabbccdd, 0xeeff0011), 1000);
  const rr = Buffer.from(st.report(1500)!);
  assert.equal(rr[0], 0x81); // V=2, RC=1
  assert.equal(rr[1], 201);
  assert.equal(rr.readUInt16BE(2), 7);
  assert.equal(rr.readUInt32BE(4), st.ssrc);
  assert.equal(rr.readUInt32BE(8), 0x11223344);
  assert.equal(rr[12], Math.floor((2 * 256) / 16), 'fraction lost');
  assert.equal(rr.readUInt32BE(12) & 0xffffff, 2, 'cumulative lost');
  assert.equal(rr.readUInt32BE(16), 65536 + 9, 'extended highest sequence');
  assert.equal(rr.readUInt32BE(20), 0, 'jitter');
  assert.equal(rr.readUInt32BE(24), 0xccddeeff, 'LSR = middle 32 bits of the SR NTP time');
  assert.equal(rr.readUInt32BE(28), 32768, 'DLSR = 0.5 s in 1/65536 s');
  // SDES CNAME follows, padded to a word.
  assert.equal(rr[32], 0x81);
  assert.equal(rr[33], 202);
  assert.equal((rr.readUInt16BE(34) + 1) * 4, rr.length - 32);
  assert.equal(rr[40], 1);
  assert.equal(rr.toString('utf8', 42, 42 + rr[41]), 'kuzet-test');
  assert.equal(rr.length % 4, 0);
  assert.equal(st.senderReports, 1);

  // Next interval without loss: fraction 0, cumulative unchanged.
  for (let s = 10; s < 20; s++) st.onRtp(rtp(s));
  const rr2 = st.report(2000)!;
  assert.equal(rr2[12], 0);
  assert.equal(rr2.readUInt32BE(12) & 0xffffff, 2);
  assert.equal(st.reportsSent, 2);
  assert.equal(st.cumulativeLost, 2);
});

test('duplicates do not count as negative loss in the fraction; no SR gives LSR = DLSR = 0', () => {
  const st = new RtpReceiverStats();
  for (let s = 100; s < 110; s++) st.onRtp(rtp(s));
  st.onRtp(rtp(105));
  const rr = st.report(0)!;
  assert.equal(rr[12], 0);
  assert.equal(rr.readUInt32BE(24), 0);
  assert.equal(rr.readUInt32BE(28), 0);
});
