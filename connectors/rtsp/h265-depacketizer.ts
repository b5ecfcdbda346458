/**
 * RFC 7798 H.265 RTP depacketizer: single NAL unit packets, aggregation packets (AP, type 48) and
 * fragmentation units (FU, type 49); DONL/DOND fields only when the SDP announced
 * sprop-max-don-diff > 0. PACI (type 50) is ignored.
 *
 * Same cost model and contract as the H.264 one: the keep/skip decision is taken at the first
 * slice of an access unit, skipped units are never copied, loss discards everything until the next
 * IRAP picture (NAL types 16–21), and wanted units come out as Annex B with VPS, SPS and PPS first.
 */
import { newDepacketizerCounters, type DepacketizerCounters } from './h264-depacketizer.js';

/** One wanted access unit, ready to decode. */
export interface H265AccessUnit {
  /** RTP timestamp, 90 kHz, as received (wraps at 2^32). */
  rtpTimestamp: number;
  /** An IRAP picture (IDR, CRA or BLA). */
  keyframe: boolean;
  /** Annex B (4-byte start codes): VPS, SPS, PPS, then the access unit's slice NAL units. Owns its ArrayBuffer. */
  data: Uint8Array;
}

export interface H265DepacketizerOptions {
  /** Payload type of the H.265 track; packets with another type are ignored. Undefined = accept any. */
  payloadType?: number;
  /** Out-of-band parameter sets (SDP sprop-vps/sps/pps), NAL units without start codes. */
  parameterSets?: readonly Uint8Array[];
  /** SDP sprop-max-don-diff: when > 0 every packet carries DONL (and APs DOND) fields. */
  maxDonDiff?: number;
  /** Asked once per access unit, at its first slice: keep (copy and emit) this unit? */
  wantNext: (keyframe: boolean, rtpTimestamp: number) => boolean;
  onAccessUnit: (au: H265AccessUnit) => void;
  counters?: DepacketizerCounters;
}

const enum AuState {
  Undecided,
  Want,
  Skip,
  Damaged,
}

const NAL_VPS = 32;
const NAL_SPS = 33;
const NAL_PPS = 34;
const AP = 48;
const FU = 49;
/** VCL types 0–9 and 16–21 (22–31 are reserved). */
const isSlice = (t: number) => t <= 9 || (t >= 16 && t <= 21);
const isIrap = (t: number) => t >= 16 && t <= 21;
const isParamSet = (t: number) => t >= NAL_VPS && t <= NAL_PPS;

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class H265Depacketizer {
  readonly counters: DepacketizerCounters;
  private readonly payloadType: number | undefined;
  private readonly donl: boolean;
  private readonly wantNext: H265DepacketizerOptions['wantNext'];
  private readonly onAccessUnit: H265DepacketizerOptions['onAccessUnit'];

  private vps: Uint8Array | undefined;
  private sps: Uint8Array | undefined;
  private pps: Uint8Array | undefined;

  private expectedSeq = -1;
  private inAu = false;
  private auTs = 0;
  private auState = AuState.Undecided;
  private auKeyframe = false;
  private auHasSlice = false;
  private waitKeyframe = false;

  /** FU reassembly: type of the NAL being fragmented, -1 when none. */
  private fuType = -1;
  private fuParam: Uint8Array[] = [];

  private scratch = Buffer.allocUnsafe(64 * 1024);
  private scratchLen = 0;

  constructor(opts: H265DepacketizerOptions) {
    this.payloadType = opts.payloadType;
    this.donl = (opts.maxDonDiff ?? 0) > 0;
    this.wantNext = opts.wantNext;
    this.onAccessUnit = opts.onAccessUnit;
    this.counters = opts.counters ?? newDepacketizerCounters();
    for (const ps of opts.parameterSets ?? []) this.trackParameterSet(ps);
  }

  get currentVps(): Uint8Array | undefined {
    return this.vps;
  }

  /** Latest SPS (in-band or from SDP), without start code. */
  get currentSps(): Uint8Array | undefined {
    return this.sps;
  }

  get currentPps(): Uint8Array | undefined {
    return this.pps;
  }

  /** Feeds one RTP packet; the bytes are only read during the call. */
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
    if (off + 2 >= end) return;

    this.counters.packets++;
    this.counters.bytes += len;

    let lost = false;
    if (this.expectedSeq >= 0 && seq !== this.expectedSeq) lost = true;
    this.expectedSeq = (seq + 1) & 0xffff;

    if (this.inAu && ts !== this.auTs) {
      if (lost) this.auState = AuState.Damaged;
      this.finishAu();
    }
    if (lost) {
      this.waitKeyframe = true;
      this.fuType = -1;
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
    if (!this.auHasSlice && this.auState !== AuState.Damaged) return;
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
      c.lossDiscarded++;
      return;
    }
    const { vps, sps, pps } = this;
    if (!vps || !sps || !pps) {
      c.noParameterSets++;
      return;
    }
    const out = Buffer.allocUnsafeSlow(12 + vps.length + sps.length + pps.length + this.scratchLen);
    let o = 0;
    for (const ps of [vps, sps, pps]) {
      out.writeUInt32BE(1, o);
      out.set(ps, o + 4);
      o += 4 + ps.length;
    }
    this.scratch.copy(out, o, 0, this.scratchLen);
    c.sampled++;
    this.onAccessUnit({ rtpTimestamp: this.auTs, keyframe: this.auKeyframe, data: out });
  }

  private payload(pkt: Uint8Array, off: number, end: number): void {
    const type = (pkt[off] >> 1) & 0x3f;
    if (type < AP) {
      this.fuType = -1;
      if (this.donl) this.nalSplit(pkt, off, off + 4, end);
      else this.nalSplit(pkt, off, off + 2, end);
    } else if (type === AP) {
      this.fuType = -1;
      let p = off + 2 + (this.donl ? 2 : 0);
      let first = true;
      while (p + 2 <= end) {
        if (!first && this.donl) p += 1; // DOND
        first = false;
        if (p + 2 > end) break;
        const size = (pkt[p] << 8) | pkt[p + 1];
        p += 2;
        if (size < 2 || p + size > end) break;
        this.nalSplit(pkt, p, p + 2, p + size);
        p += size;
      }
    } else if (type === FU) {
      this.fragment(pkt, off, end);
    }
  }

  /** A complete NAL unit whose 2-byte header is at pkt[hdr] and body at pkt[body, end) (DONL may sit between). */
  private nalSplit(pkt: Uint8Array, hdr: number, body: number, end: number): void {
    if (body > end) return;
    const type = (pkt[hdr] >> 1) & 0x3f;
    if (isParamSet(type)) {
      if (this.auState !== AuState.Damaged) {
        if (body === hdr + 2) this.trackParameterSet(pkt.subarray(hdr, end));
        else this.trackParameterSet(Buffer.concat([pkt.subarray(hdr, hdr + 2), pkt.subarray(body, end)]));
      }
      return;
    }
    if (!isSlice(type)) return; // SEI, AUD, EOS …: not needed to decode one picture
    if (this.decide(type) === AuState.Want) {
      this.reserve(6 + end - body);
      const s = this.scratch;
      s.writeUInt32BE(1, this.scratchLen);
      s[this.scratchLen + 4] = pkt[hdr];
      s[this.scratchLen + 5] = pkt[hdr + 1];
      s.set(pkt.subarray(body, end), this.scratchLen + 6);
      this.scratchLen += 6 + end - body;
    }
  }

  private fragment(pkt: Uint8Array, off: number, end: number): void {
    if (off + 3 > end) return;
    const h0 = pkt[off];
    const h1 = pkt[off + 1];
    const fu = pkt[off + 2];
    const start = (fu & 0x80) !== 0;
    const stop = (fu & 0x40) !== 0;
    const type = fu & 0x3f;
    let body = off + 3;
    if (start && this.donl) body += 2;
    if (body > end) return;
    const nal0 = (h0 & 0x81) | (type << 1);
    if (start) {
      this.fuType = type;
      if (isParamSet(type)) {
        this.fuParam = [Uint8Array.of(nal0, h1), pkt.slice(body, end)];
      } else if (isSlice(type) && this.decide(type) === AuState.Want) {
        this.reserve(6 + end - body);
        const s = this.scratch;
        s.writeUInt32BE(1, this.scratchLen);
        s[this.scratchLen + 4] = nal0;
        s[this.scratchLen + 5] = h1;
        s.set(pkt.subarray(body, end), this.scratchLen + 6);
        this.scratchLen += 6 + end - body;
      }
    } else {
      if (this.fuType !== type) {
        this.auState = AuState.Damaged;
        this.fuType = -1;
        return;
      }
      if (isParamSet(type)) {
        this.fuParam.push(pkt.slice(body, end));
      } else if (this.auState === AuState.Want && isSlice(type)) {
        this.reserve(end - body);
        this.scratch.set(pkt.subarray(body, end), this.scratchLen);
        this.scratchLen += end - body;
      }
    }
    if (stop) {
      if (isParamSet(type) && this.auState !== AuState.Damaged)
        this.trackParameterSet(Buffer.concat(this.fuParam));
      this.fuParam = [];
      this.fuType = -1;
    }
  }

  private decide(nalType: number): AuState {
    this.auHasSlice = true;
    if (this.auState !== AuState.Undecided) return this.auState;
    const keyframe = isIrap(nalType);
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
    if (nal.length < 3) return;
    const type = (nal[0] >> 1) & 0x3f;
    if (type === NAL_VPS) {
      if (!sameBytes(this.vps, nal)) this.vps = Uint8Array.from(nal);
    } else if (type === NAL_SPS) {
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
