/**
 * RTCP receiver side (RFC 3550 §6.4.2, A.1, A.3): per-packet sequence bookkeeping without
 * allocation or clock reads, Sender Report parsing for LSR/DLSR, and compound RR + SDES CNAME
 * packets written into a buffer reused for the session's life. Jitter is reported as 0: computing it
 * needs an arrival clock read per packet, a cost thousands of cameras per core do not pay for it.
 */
import { randomBytes } from 'node:crypto';

const RTP_SEQ_MOD = 0x10000;
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;

export class RtpReceiverStats {
  /** Our SSRC (random per session, RFC 3550 §8.1). */
  readonly ssrc = randomBytes(4).readUInt32BE(0);
  /** The sender's SSRC, from its first RTP packet; undefined until then. */
  sourceSsrc: number | undefined;
  received = 0;
  senderReports = 0;
  reportsSent = 0;
  private baseSeq = 0;
  private maxSeq = 0;
  private cycles = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  /** Middle 32 bits of the last SR's NTP timestamp, and when it arrived (ms). */
  private lsr = 0;
  private lsrAtMs = 0;
  private readonly out: Buffer;
  private readonly cname: Buffer;

  constructor(cname = 'kuzet') {
    this.cname = Buffer.from(cname.slice(0, 255), 'utf8');
    this.out = Buffer.alloc(32 + 8 + ((2 + this.cname.length + 1 + 3) & ~3));
  }

  /** Call for every RTP packet of the tracked stream. */
  onRtp(pkt: Uint8Array): void {
    if (pkt.length < 12) return;
    const seq = (pkt[2] << 8) | pkt[3];
    if (this.sourceSsrc === undefined) {
      this.sourceSsrc = ((pkt[8] << 24) | (pkt[9] << 16) | (pkt[10] << 8) | pkt[11]) >>> 0;
      this.baseSeq = seq;
      this.maxSeq = seq;
      this.received = 1;
      return;
    }
    this.received++;
    const delta = (seq - this.maxSeq + RTP_SEQ_MOD) % RTP_SEQ_MOD;
    if (delta < MAX_DROPOUT) {
      if (seq < this.maxSeq) this.cycles += RTP_SEQ_MOD;
      this.maxSeq = seq;
    } else if (delta <= RTP_SEQ_MOD - MAX_MISORDER) {
      // A large jump: the sender restarted its sequence; start counting again.
      this.baseSeq = seq;
      this.maxSeq = seq;
      this.cycles = 0;
      this.received = 1;
      this.expectedPrior = 0;
      this.receivedPrior = 0;
    }
    // else: duplicate or reordered, counted as received only.
  }

  /** Call for every RTCP compound packet from the sender; remembers the last Sender Report. */
  onRtcp(buf: Uint8Array, nowMs: number): void {
    let p = 0;
    while (p + 8 <= buf.length) {
      const pt = buf[p + 1];
      const words = (buf[p + 2] << 8) | buf[p + 3];
      if (buf[p] >> 6 !== 2) return;
      if (pt === 200 && p + 28 <= buf.length) {
        // NTP timestamp at p+8 (seconds) and p+12 (fraction): LSR is the middle 32 bits.
        this.lsr =
          (((buf[p + 10] << 24) | (buf[p + 11] << 16) | (buf[p + 12] << 8) | buf[p + 13]) >>> 0) >>> 0;
        this.lsrAtMs = nowMs;
        this.senderReports++;
      }
      p += (words + 1) * 4;
    }
  }

  /** Writes RR + SDES(CNAME) and returns a view valid until the next call; undefined before any RTP arrived. */
  report(nowMs: number): Buffer | undefined {
    if (this.sourceSsrc === undefined) return undefined;
    const o = this.out;
    const extMax = this.cycles + this.maxSeq;
    const expected = extMax - this.baseSeq + 1;
    const lost = Math.max(-0x800000, Math.min(0x7fffff, expected - this.received));
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.received - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fraction =
      expectedInterval === 0 || lostInterval <= 0
        ? 0
        : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    // RR with one report block: 8 words.
    o[0] = 0x81;
    o[1] = 201;
    o.writeUInt16BE(7, 2);
    o.writeUInt32BE(this.ssrc, 4);
    o.writeUInt32BE(this.sourceSsrc, 8);
    o.writeUInt32BE((((fraction & 0xff) << 24) | (lost & 0xffffff)) >>> 0, 12);
    o.writeUInt32BE(extMax >>> 0, 16);
    o.writeUInt32BE(0, 20); // interarrival jitter: not measured
    o.writeUInt32BE(this.lsr, 24);
    const dlsr =
      this.lsrAtMs === 0 ? 0 : Math.min(0xffffffff, Math.round(((nowMs - this.lsrAtMs) * 65536) / 1000));
    o.writeUInt32BE(dlsr >>> 0, 28);
    // SDES with one chunk: SSRC, CNAME item, END, padded to a word.
    const sdesLen = o.length - 32;
    o[32] = 0x81;
    o[33] = 202;
    o.writeUInt16BE(sdesLen / 4 - 1, 34);
    o.writeUInt32BE(this.ssrc, 36);
    o[40] = 1;
    o[41] = this.cname.length;
    this.cname.copy(o, 42);
    o.fill(0, 42 + this.cname.length);
    this.reportsSent++;
    return o;
  }

  /** Packets lost so far (expected − received, RFC 3550 A.3). */
  get cumulativeLost(): number {
    if (this.sourceSsrc === undefined) return 0;
    return this.cycles + this.maxSeq - this.baseSeq + 1 - this.received;
  }
}
