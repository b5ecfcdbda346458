/**
 * RFC 6184 H.264 RTP depacketizer (non-interleaved mode: single NAL unit, STAP-A, FU-A) that
 * assembles access units and copies only the ones the caller wants.
 *
 * Cost model: at thousands of cameras per core almost every access unit is thrown away, so the
 * keep/skip decision is taken at the first slice NAL of an access unit (the earliest point where
 * "is this an IDR?" is known) and skipped units are never copied. RTP packets are read in place;
 * the only copies are the slices of wanted units and parameter sets when they change.
 */

/** One wanted access unit, ready to decode. */
export interface H264AccessUnit {
  /** RTP timestamp, 90 kHz, as received (wraps at 2^32). */
  rtpTimestamp: number;
  keyframe: boolean;
  /** Annex B (4-byte start codes): SPS, PPS, then the access unit's slice NAL units. Owns its ArrayBuffer. */
  data: Uint8Array;
}

/** Monotonic counters; the caller may share one object across sessions to keep totals over reconnects. */
export interface DepacketizerCounters {
  packets: number;
  bytes: number;
  accessUnits: number;
  sampled: number;
  skipped: number;
  /** Access units damaged by packet loss, or dropped while waiting for a keyframe after loss. */
  lossDiscarded: number;
  /** Wanted keyframes dropped because no SPS/PPS was known yet. */
  noParameterSets: number;
}

export function newDepacketizerCounters(): DepacketizerCounters {
  return { packets: 0, bytes: 0, accessUnits: 0, sampled: 0, skipped: 0, lossDiscarded: 0, noParameterSets: 0 };
}

export interface H264DepacketizerOptions {
  /** Payload type of the H.264 track; packets with another type are ignored. Undefined = accept any. */
  payloadType?: number;
  /** Out-of-band parameter sets (SDP sprop-parameter-sets), NAL units without start codes. */
  parameterSets?: readonly Uint8Array[];
  /** Asked once per access unit, at its first slice: keep (copy and emit) this unit? */
  wantNext: (keyframe: boolean, rtpTimestamp: number) => boolean;
  onAccessUnit: (au: H264AccessUnit) => void;
  counters?: DepacketizerCounters;
}

const enum AuState {
  /** No slice seen yet in this access unit. */
  Undecided,
  Want,
  Skip,
  Damaged,
}

const NAL_SLICE = 1;
const NAL_IDR = 5;
const NAL_SPS = 7;
const NAL_PPS = 8;
const STAP_A = 24;
const FU_A = 28;

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class H264Depacketizer {
  readonly counters: DepacketizerCounters;
  private readonly payloadType: number | undefined;
  private readonly wantNext: H264DepacketizerOptions['wantNext'];
  private readonly onAccessUnit: H264DepacketizerOptions['onAccessUnit'];

  private sps: Uint8Array | undefined;
  private pps: Uint8Array | undefined;

  private expectedSeq = -1;
  private inAu = false;
  private auTs = 0;
  private auState = AuState.Undecided;
  private auKeyframe = false;
  private auHasSlice = false;
  /** After loss nothing is emitted until an intact keyframe: later frames reference the lost one. */
  private waitKeyframe = false;

  /** FU-A reassembly: type of the NAL being fragmented, -1 when none. */
  private fuType = -1;
  private fuParam: Uint8Array[] = [];

  /** Slices of the wanted access unit, Annex B, reused across units. */
  private scratch = Buffer.allocUnsafe(64 * 1024);
  private scratchLen = 0;

  constructor(opts: H264DepacketizerOptions) {
    this.payloadType = opts.payloadType;
    this.wantNext = opts.wantNext;
    this.onAccessUnit = opts.onAccessUnit;
    this.counters = opts.counters ?? newDepacketizerCounters();
    for (const ps of opts.parameterSets ?? []) this.trackParameterSet(ps);
  }

  /** Latest SPS (in-band or from SDP), without start code. */
  get currentSps(): Uint8Array | undefined {
    return this.sps;
  }

  get currentPps(): Uint8Array | undefined {
    return this.pps;
  }

  /**
   * Feeds one RTP packet. The bytes are only read during the call (they may be a view into a
   * reused receive buffer).
   */
  push(pkt: Uint8Array): void {
    const len = pkt.length;
    if (len < 12 || pkt[0] >> 6 !== 2) return;
    const pt = pkt[1] & 0x7f;
    if (this.payloadType !== undefined && pt !== this.payloadType) return;
    const marker = (pkt[1] & 0x80) !== 0;
    const seq = (pkt[2] << 8) | pkt[3];
    const ts = ((pkt[4] << 24) | (pkt[5] << 16) | (pkt[6] << 8) | pkt[7]) >>> 0;
    let off = 12 + (pkt[0] & 0x0f) * 4;
    let end = len;
    if (pkt[0] & 0x10) {
      if (off + 4 > len) return;
      off += 4 + ((pkt[off + 2] << 8) | pkt[off + 3]) * 4;
    }
    if (pkt[0] & 0x20) end -= pkt[len - 1];
    if (off >= end) return;

    this.counters.packets++;
    this.counters.bytes += len;

    let lost = false;
    if (this.expectedSeq >= 0 && seq !== this.expectedSeq) lost = true;
    this.expectedSeq = (seq + 1) & 0xffff;

    if (this.inAu && ts !== this.auTs) {
      // A new timestamp without a marker on the previous packet: that unit ended (some senders never set M).
      if (lost) this.auState = AuState.Damaged;
      this.finishAu();
    }
    if (lost) {
      this.waitKeyframe = true;
      this.fuType = -1;
      // The missing packets may have been the head of this unit, so it is damaged too.
      if (!this.inAu) this.startAu(ts);
      this.auState = AuState.Damaged;
    } else if (!this.inAu) {
      this.startAu(ts);
    }

    this.payload(pkt, off, end);
    if (marker) this.finishAu();
  }

  private startAu(ts: number): void {
    this.inAu = true;
    this.auTs = ts;
    this.auState = AuState.Undecided;
    this.auKeyframe = false;
    this.auHasSlice = false;
    this.scratchLen = 0;
    this.fuType = -1;
  }

  private finishAu(): void {
    if (!this.inAu) return;
    this.inAu = false;
    const c = this.counters;
    if (!this.auHasSlice && this.auState !== AuState.Damaged) return; // parameter sets only: not a picture
    c.accessUnits++;
    switch (this.auState) {
      case AuState.Damaged:
        c.lossDiscarded++;
        return;
      case AuState.Skip:
        c.skipped++;
        return;
      case AuState.Want:
        break;
      default:
        return;
    }
    if (this.fuType >= 0) {
      // Marker on a fragment without the E bit: malformed; do not emit half a slice.
      c.lossDiscarded++;
      return;
    }
    const sps = this.sps;
    const pps = this.pps;
    if (!sps || !pps) {
      c.noParameterSets++;
      return;
    }
    const total = 8 + sps.length + pps.length + this.scratchLen;
    // Its own ArrayBuffer (not the Buffer pool) so the sample can be transferred to a worker.
    const out = Buffer.allocUnsafeSlow(total);
    let o = 0;
    out.writeUInt32BE(1, o);
    out.set(sps, o + 4);
    o += 4 + sps.length;
    out.writeUInt32BE(1, o);
    out.set(pps, o + 4);
    o += 4 + pps.length;
    this.scratch.copy(out, o, 0, this.scratchLen);
    c.sampled++;
    this.onAccessUnit({ rtpTimestamp: this.auTs, keyframe: this.auKeyframe, data: out });
  }

  private payload(pkt: Uint8Array, off: number, end: number): void {
    const type = pkt[off] & 0x1f;
    if (type >= 1 && type <= 23) {
      this.fuType = -1;
      this.nal(pkt, off, end);
    } else if (type === STAP_A) {
      this.fuType = -1;
      let p = off + 1;
      while (p + 2 <= end) {
        const size = (pkt[p] << 8) | pkt[p + 1];
        p += 2;
        if (size === 0 || p + size > end) break;
        this.nal(pkt, p, p + size);
        p += size;
      }
    } else if (type === FU_A) {
      this.fragment(pkt, off, end);
    }
    // STAP-B, MTAP, FU-B belong to interleaved mode, which is never negotiated here.
  }

  /** A complete NAL unit at pkt[off, end). */
  private nal(pkt: Uint8Array, off: number, end: number): void {
    const type = pkt[off] & 0x1f;
    if (type === NAL_SPS || type === NAL_PPS) {
      if (this.auState !== AuState.Damaged) this.trackParameterSet(pkt.subarray(off, end));
      return;
    }
    if (type < NAL_SLICE || type > NAL_IDR) return; // SEI, AUD, filler: not needed to decode
    if (this.decide(type) === AuState.Want) {
      this.reserve(4 + end - off);
      this.scratch.writeUInt32BE(1, this.scratchLen);
      this.scratch.set(pkt.subarray(off, end), this.scratchLen + 4);
      this.scratchLen += 4 + end - off;
    }
  }

  private fragment(pkt: Uint8Array, off: number, end: number): void {
    if (off + 2 > end) return;
    const indicator = pkt[off];
    const header = pkt[off + 1];
    const start = (header & 0x80) !== 0;
    const stop = (header & 0x40) !== 0;
    const type = header & 0x1f;
    const body = off + 2;
    if (start) {
      this.fuType = type;
      if (type === NAL_SPS || type === NAL_PPS) {
        this.fuParam = [Uint8Array.of((indicator & 0xe0) | type), pkt.slice(body, end)];
      } else if (type >= NAL_SLICE && type <= NAL_IDR && this.decide(type) === AuState.Want) {
        this.reserve(5 + end - body);
        this.scratch.writeUInt32BE(1, this.scratchLen);
        this.scratch[this.scratchLen + 4] = (indicator & 0xe0) | type;
        this.scratch.set(pkt.subarray(body, end), this.scratchLen + 5);
        this.scratchLen += 5 + end - body;
      }
    } else {
      if (this.fuType !== type) {
        // A continuation without its start (joined mid-NAL): the unit cannot be complete.
        this.auState = AuState.Damaged;
        this.fuType = -1;
        return;
      }
      if (type === NAL_SPS || type === NAL_PPS) {
        this.fuParam.push(pkt.slice(body, end));
      } else if (this.auState === AuState.Want) {
        this.reserve(end - body);
        this.scratch.set(pkt.subarray(body, end), this.scratchLen);
        this.scratchLen += end - body;
      }
    }
    if (stop) {
      if ((type === NAL_SPS || type === NAL_PPS) && this.auState !== AuState.Damaged) {
        this.trackParameterSet(Buffer.concat(this.fuParam));
      }
      this.fuParam = [];
      this.fuType = -1;
    }
  }

  /** Takes the keep/skip decision at the first slice of the unit and returns the unit's state. */
  private decide(nalType: number): AuState {
    this.auHasSlice = true;
    if (this.auState !== AuState.Undecided) return this.auState;
    const keyframe = nalType === NAL_IDR;
    this.auKeyframe = keyframe;
    if (this.waitKeyframe) {
      if (!keyframe) {
        this.auState = AuState.Damaged;
        return this.auState;
      }
      this.waitKeyframe = false;
    }
    this.auState = this.wantNext(keyframe, this.auTs) ? AuState.Want : AuState.Skip;
    return this.auState;
  }

  private trackParameterSet(nal: Uint8Array): void {
    if (nal.length === 0) return;
    const type = nal[0] & 0x1f;
    if (type === NAL_SPS) {
      if (!sameBytes(this.sps, nal)) this.sps = Uint8Array.from(nal);
    } else if (type === NAL_PPS) {
      if (!sameBytes(this.pps, nal)) this.pps = Uint8Array.from(nal);
    }
  }

  private reserve(n: number): void {
    const need = this.scratchLen + n;
    if (need <= this.scratch.length) return;
    let size = this.scratch.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.scratch.copy(next, 0, 0, this.scratchLen);
    this.scratch = next;
  }
}
