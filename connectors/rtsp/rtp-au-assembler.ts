/**
 * Codec-independent half of the H.264 / H.265 RTP depacketizers: RTP header parsing, sequence-loss
 * tracking, the access-unit state machine (keep/skip decided once, at the first slice), the reused
 * scratch buffer and Annex B output with the parameter sets prepended.
 *
 * Subclasses parse their payload formats (single NAL, aggregation, fragmentation) in `payload()`
 * and feed complete or fragmented NAL units back through the protected helpers. The per-packet path
 * allocates nothing: packets are read in place and only wanted slices are copied into `scratch`.
 */

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
  return {
    packets: 0,
    bytes: 0,
    accessUnits: 0,
    sampled: 0,
    skipped: 0,
    lossDiscarded: 0,
    noParameterSets: 0,
  };
}

/** One wanted access unit as emitted by either codec. */
export interface RtpAccessUnit {
  /** RTP timestamp, 90 kHz, as received (wraps at 2^32). */
  rtpTimestamp: number;
  keyframe: boolean;
  /** Annex B (4-byte start codes): parameter sets, then the access unit's slice NAL units. Owns its ArrayBuffer. */
  data: Uint8Array;
}

/** What both codecs' options share. */
export interface RtpAuAssemblerOptions {
  /** Payload type of the video track; packets with another type are ignored. Undefined = accept any. */
  payloadType?: number;
  /** Out-of-band parameter sets (from the SDP), NAL units without start codes. */
  parameterSets?: readonly Uint8Array[];
  /** Asked once per access unit, at its first slice: keep (copy and emit) this unit? */
  wantNext: (keyframe: boolean, rtpTimestamp: number) => boolean;
  onAccessUnit: (au: RtpAccessUnit) => void;
  counters?: DepacketizerCounters;
}

export const enum AuState {
  /** No slice seen yet in this access unit. */
  Undecided,
  Want,
  Skip,
  Damaged,
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export abstract class RtpAuAssembler {
  readonly counters: DepacketizerCounters;
  private readonly payloadType: number | undefined;
  private readonly wantNext: (keyframe: boolean, rtpTimestamp: number) => boolean;
  private readonly onAccessUnit: (au: RtpAccessUnit) => void;
  /** Smallest RTP payload worth parsing (bytes of payload header the codec needs). */
  private readonly minPayload: number;

  /** Latest parameter sets, in output order; see `parameterSetSlot()`. */
  protected readonly paramSets: (Uint8Array | undefined)[];

  private expectedSeq = -1;
  private inAu = false;
  private auTs = 0;
  protected auState = AuState.Undecided;
  private auKeyframe = false;
  private auHasSlice = false;
  /** After loss nothing is emitted until an intact keyframe: later frames reference the lost one. */
  private waitKeyframe = false;

  /** Fragment reassembly: type of the NAL being fragmented, -1 when none. */
  protected fuType = -1;
  /** Pieces of a fragmented parameter set (header first). */
  protected fuParam: Uint8Array[] = [];

  /** Slices of the wanted access unit, Annex B, reused across units. */
  private scratch = Buffer.allocUnsafe(64 * 1024);
  private scratchLen = 0;

  protected constructor(opts: RtpAuAssemblerOptions, parameterSetCount: number, minPayload: number) {
    this.payloadType = opts.payloadType;
    this.wantNext = opts.wantNext;
    this.onAccessUnit = opts.onAccessUnit;
    this.counters = opts.counters ?? newDepacketizerCounters();
    this.minPayload = minPayload;
    this.paramSets = new Array<Uint8Array | undefined>(parameterSetCount).fill(undefined);
    for (const ps of opts.parameterSets ?? []) this.trackParameterSet(ps);
  }

  /** Parses one RTP payload at pkt[off, end) (at least `minPayload` bytes). */
  protected abstract payload(pkt: Uint8Array, off: number, end: number): void;

  /** Index in `paramSets` of this complete parameter-set NAL unit, or -1 to ignore it. */
  protected abstract parameterSetSlot(nal: Uint8Array): number;

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
    if (off + this.minPayload > end) return;

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
    const sets = this.paramSets;
    let total = this.scratchLen;
    for (let i = 0; i < sets.length; i++) {
      const ps = sets[i];
      if (!ps) {
        c.noParameterSets++;
        return;
      }
      total += 4 + ps.length;
    }
    // Its own ArrayBuffer (not the Buffer pool) so the sample can be transferred to a worker.
    const out = Buffer.allocUnsafeSlow(total);
    let o = 0;
    for (let i = 0; i < sets.length; i++) {
      const ps = sets[i] as Uint8Array;
      out.writeUInt32BE(1, o);
      out.set(ps, o + 4);
      o += 4 + ps.length;
    }
    this.scratch.copy(out, o, 0, this.scratchLen);
    c.sampled++;
    this.onAccessUnit({ rtpTimestamp: this.auTs, keyframe: this.auKeyframe, data: out });
  }

  /** Takes the keep/skip decision at the first slice of the unit and returns the unit's state. */
  protected decide(keyframe: boolean): AuState {
    this.auHasSlice = true;
    if (this.auState !== AuState.Undecided) return this.auState;
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

  /** Remembers a complete parameter-set NAL unit (copied, and only when it changed). */
  protected trackParameterSet(nal: Uint8Array): void {
    const slot = this.parameterSetSlot(nal);
    if (slot < 0) return;
    if (!sameBytes(this.paramSets[slot], nal)) this.paramSets[slot] = Uint8Array.from(nal);
  }

  /** An in-band parameter set, unless the unit carrying it is damaged. */
  protected inBandParameterSet(nal: Uint8Array): void {
    if (this.auState !== AuState.Damaged) this.trackParameterSet(nal);
  }

  /**
   * Appends a start code, the NAL header (h0, then h1 unless it is negative) and pkt[body, end) to
   * the wanted unit.
   */
  protected appendNal(h0: number, h1: number, pkt: Uint8Array, body: number, end: number): void {
    const hdr = h1 < 0 ? 1 : 2;
    this.reserve(4 + hdr + end - body);
    const s = this.scratch;
    s.writeUInt32BE(1, this.scratchLen);
    s[this.scratchLen + 4] = h0;
    if (hdr === 2) s[this.scratchLen + 5] = h1;
    s.set(pkt.subarray(body, end), this.scratchLen + 4 + hdr);
    this.scratchLen += 4 + hdr + end - body;
  }

  /** Appends pkt[body, end) (a fragment continuation) to the wanted unit. */
  protected appendBytes(pkt: Uint8Array, body: number, end: number): void {
    this.reserve(end - body);
    this.scratch.set(pkt.subarray(body, end), this.scratchLen);
    this.scratchLen += end - body;
  }

  /** A fragment continuation without its start (joined mid-NAL): the unit cannot be complete. */
  protected fragmentOrphaned(): void {
    this.auState = AuState.Damaged;
    this.fuType = -1;
  }

  /** The fragment with the E bit: completes a fragmented parameter set, if that is what it was. */
  protected fragmentEnded(paramSet: boolean): void {
    if (paramSet && this.auState !== AuState.Damaged) this.trackParameterSet(Buffer.concat(this.fuParam));
    this.fuParam = [];
    this.fuType = -1;
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
