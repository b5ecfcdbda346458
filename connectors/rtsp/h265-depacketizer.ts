/**
 * RFC 7798 H.265 RTP depacketizer: single NAL unit packets, aggregation packets (AP, type 48) and
 * fragmentation units (FU, type 49); DONL/DOND fields only when the SDP announced
 * sprop-max-don-diff > 0. PACI (type 50) is ignored.
 *
 * Same cost model and contract as the H.264 one: the keep/skip decision is taken at the first
 * slice of an access unit, skipped units are never copied, loss discards everything until the next
 * IRAP picture (NAL types 16–21), and wanted units come out as Annex B with VPS, SPS and PPS first.
 * The RTP and access-unit side lives in rtp-au-assembler.ts; this file only parses H.265 payloads.
 */
import { AuState, RtpAuAssembler, type RtpAuAssemblerOptions } from './rtp-au-assembler.js';

/** One wanted access unit, ready to decode. */
export interface H265AccessUnit {
  /** RTP timestamp, 90 kHz, as received (wraps at 2^32). */
  rtpTimestamp: number;
  /** An IRAP picture (IDR, CRA or BLA). */
  keyframe: boolean;
  /** Annex B (4-byte start codes): VPS, SPS, PPS, then the access unit's slice NAL units. Owns its ArrayBuffer. */
  data: Uint8Array;
}

export interface H265DepacketizerOptions extends RtpAuAssemblerOptions {
  /** Out-of-band parameter sets (SDP sprop-vps/sps/pps), NAL units without start codes. */
  parameterSets?: readonly Uint8Array[];
  /** SDP sprop-max-don-diff: when > 0 every packet carries DONL (and APs DOND) fields. */
  maxDonDiff?: number;
  onAccessUnit: (au: H265AccessUnit) => void;
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
/** Output order of the parameter sets (slots of `paramSets`). */
const SLOT_VPS = 0;
const SLOT_SPS = 1;
const SLOT_PPS = 2;

export class H265Depacketizer extends RtpAuAssembler {
  private readonly donl: boolean;

  constructor(opts: H265DepacketizerOptions) {
    super(opts, 3, 3);
    this.donl = (opts.maxDonDiff ?? 0) > 0;
  }

  get currentVps(): Uint8Array | undefined {
    return this.paramSets[SLOT_VPS];
  }

  /** Latest SPS (in-band or from SDP), without start code. */
  get currentSps(): Uint8Array | undefined {
    return this.paramSets[SLOT_SPS];
  }

  get currentPps(): Uint8Array | undefined {
    return this.paramSets[SLOT_PPS];
  }

  protected override payload(pkt: Uint8Array, off: number, end: number): void {
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
    if (this.decide(isIrap(type)) === AuState.Want) this.appendNal(pkt[hdr], pkt[hdr + 1], pkt, body, end);
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
      } else if (isSlice(type) && this.decide(isIrap(type)) === AuState.Want) {
        this.appendNal(nal0, h1, pkt, body, end);
      }
    } else {
      if (this.fuType !== type) {
        this.fragmentOrphaned();
        return;
      }
      if (isParamSet(type)) {
        this.fuParam.push(pkt.slice(body, end));
      } else if (this.auState === AuState.Want && isSlice(type)) {
        this.appendBytes(pkt, body, end);
      }
    }
    if (stop) this.fragmentEnded(isParamSet(type));
  }

  protected override parameterSetSlot(nal: Uint8Array): number {
    if (nal.length < 3) return -1;
    const type = (nal[0] >> 1) & 0x3f;
    return type === NAL_VPS ? SLOT_VPS : type === NAL_SPS ? SLOT_SPS : type === NAL_PPS ? SLOT_PPS : -1;
  }
}
