/**
 * RFC 6184 H.264 RTP depacketizer (non-interleaved mode: single NAL unit, STAP-A, FU-A) that
 * assembles access units and copies only the ones the caller wants.
 *
 * Cost model: at thousands of cameras per core almost every access unit is thrown away, so the
 * keep/skip decision is taken at the first slice NAL of an access unit (the earliest point where
 * "is this an IDR?" is known) and skipped units are never copied. RTP packets are read in place;
 * the only copies are the slices of wanted units and parameter sets when they change. The RTP and
 * access-unit side lives in rtp-au-assembler.ts; this file only parses H.264 payloads.
 */
import { AuState, RtpAuAssembler, type RtpAuAssemblerOptions } from './rtp-au-assembler.js';

export { newDepacketizerCounters, type DepacketizerCounters } from './rtp-au-assembler.js';

/** One wanted access unit, ready to decode. */
export interface H264AccessUnit {
  /** RTP timestamp, 90 kHz, as received (wraps at 2^32). */
  rtpTimestamp: number;
  keyframe: boolean;
  /** Annex B (4-byte start codes): SPS, PPS, then the access unit's slice NAL units. Owns its ArrayBuffer. */
  data: Uint8Array;
}

export interface H264DepacketizerOptions extends RtpAuAssemblerOptions {
  /** Out-of-band parameter sets (SDP sprop-parameter-sets), NAL units without start codes. */
  parameterSets?: readonly Uint8Array[];
  onAccessUnit: (au: H264AccessUnit) => void;
}

const NAL_SLICE = 1;
const NAL_IDR = 5;
const NAL_SPS = 7;
const NAL_PPS = 8;
const STAP_A = 24;
const FU_A = 28;

/** Output order of the parameter sets (slots of `paramSets`). */
const SLOT_SPS = 0;
const SLOT_PPS = 1;

const isSlice = (t: number) => t >= NAL_SLICE && t <= NAL_IDR;
const isParamSet = (t: number) => t === NAL_SPS || t === NAL_PPS;

export class H264Depacketizer extends RtpAuAssembler {
  constructor(opts: H264DepacketizerOptions) {
    super(opts, 2, 1);
  }

  /** Latest SPS (in-band or from SDP), without start code. */
  get currentSps(): Uint8Array | undefined {
    return this.paramSets[SLOT_SPS];
  }

  get currentPps(): Uint8Array | undefined {
    return this.paramSets[SLOT_PPS];
  }

  protected override payload(pkt: Uint8Array, off: number, end: number): void {
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
    if (isParamSet(type)) {
      this.inBandParameterSet(pkt.subarray(off, end));
      return;
    }
    if (!isSlice(type)) return; // SEI, AUD, filler: not needed to decode
    if (this.decide(type === NAL_IDR) === AuState.Want) this.appendNal(pkt[off], -1, pkt, off + 1, end);
  }

  private fragment(pkt: Uint8Array, off: number, end: number): void {
    if (off + 2 > end) return;
    const indicator = pkt[off];
    const header = pkt[off + 1];
    const start = (header & 0x80) !== 0;
    const stop = (header & 0x40) !== 0;
    const type = header & 0x1f;
    const body = off + 2;
    const nal0 = (indicator & 0xe0) | type;
    if (start) {
      this.fuType = type;
      if (isParamSet(type)) {
        this.fuParam = [Uint8Array.of(nal0), pkt.slice(body, end)];
      } else if (isSlice(type) && this.decide(type === NAL_IDR) === AuState.Want) {
        this.appendNal(nal0, -1, pkt, body, end);
      }
    } else {
      if (this.fuType !== type) {
        this.fragmentOrphaned();
        return;
      }
      if (isParamSet(type)) {
        this.fuParam.push(pkt.slice(body, end));
      } else if (isSlice(type) && this.auState === AuState.Want) {
        // Only slices were started in the scratch buffer: continuing a fragmented filler or SEI would corrupt the slice before it.
        this.appendBytes(pkt, body, end);
      }
    }
    if (stop) this.fragmentEnded(isParamSet(type));
  }

  protected override parameterSetSlot(nal: Uint8Array): number {
    if (nal.length === 0) return -1;
    const type = nal[0] & 0x1f;
    return type === NAL_SPS ? SLOT_SPS : type === NAL_PPS ? SLOT_PPS : -1;
  }
}
