/**
 * Annex B H.264 / H.265 elementary stream → access units, for the demo camera fleet. Done once per
 * clip file; every virtual camera playing that clip shares the result.
 */

export type ClipCodec = 'h264' | 'h265';

export interface ClipAccessUnit {
  /** NAL units without start codes, in stream order. */
  nalus: Buffer[];
  /** Contains an IDR slice (H.265: an IRAP picture, NAL types 16–23). */
  keyframe: boolean;
}

/** Splits at 3- or 4-byte start codes. Trailing zero bytes before a start code are dropped. */
export function splitNalUnits(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = -1;
  let i = 0;
  const n = buf.length;
  while (i + 2 < n) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      if (start >= 0) {
        let end = i;
        while (end > start && buf[end - 1] === 0) end--;
        if (end > start) out.push(buf.subarray(start, end));
      }
      i += 3;
      start = i;
      continue;
    }
    i++;
  }
  if (start >= 0 && start < n) out.push(buf.subarray(start, n));
  return out;
}

const isVcl = (t: number) => t >= 1 && t <= 5;

/**
 * Groups NAL units into access units (H.264 §7.4.1.2.3): a new unit begins at an AUD/SPS/PPS/SEI
 * (types 6–9, 14–18) after a slice, or at a slice whose first_mb_in_slice is 0 after a slice.
 */
export function accessUnits(nalus: Buffer[]): ClipAccessUnit[] {
  const out: ClipAccessUnit[] = [];
  let cur: ClipAccessUnit = { nalus: [], keyframe: false };
  let curHasSlice = false;
  for (const nal of nalus) {
    const t = nal[0] & 0x1f;
    const startsNew =
      curHasSlice &&
      (t === 6 ||
        t === 7 ||
        t === 8 ||
        t === 9 ||
        (t >= 14 && t <= 18) ||
        (isVcl(t) && nal.length > 1 && (nal[1] & 0x80) !== 0));
    if (startsNew) {
      out.push(cur);
      cur = { nalus: [], keyframe: false };
      curHasSlice = false;
    }
    cur.nalus.push(nal);
    if (isVcl(t)) curHasSlice = true;
    if (t === 5) cur.keyframe = true;
  }
  if (cur.nalus.length > 0 && curHasSlice) out.push(cur);
  return out;
}

/** NAL unit type of an H.265 NAL unit (2-byte header). */
export const h265Type = (nal: Buffer): number => (nal[0] >> 1) & 0x3f;

/**
 * H.265 access units (H.265 §7.4.2.4.4): a new unit begins at a VPS/SPS/PPS/AUD/prefix SEI or
 * reserved 41–44/48–55 NAL after a slice, or at a slice with first_slice_segment_in_pic_flag set
 * after a slice.
 */
export function accessUnitsH265(nalus: Buffer[]): ClipAccessUnit[] {
  const out: ClipAccessUnit[] = [];
  let cur: ClipAccessUnit = { nalus: [], keyframe: false };
  let curHasSlice = false;
  for (const nal of nalus) {
    if (nal.length < 2) continue;
    const t = h265Type(nal);
    const vcl = t < 32;
    const prefix = (t >= 32 && t <= 35) || t === 39 || (t >= 41 && t <= 44) || (t >= 48 && t <= 55);
    const startsNew = curHasSlice && (prefix || (vcl && nal.length > 2 && (nal[2] & 0x80) !== 0));
    if (startsNew) {
      out.push(cur);
      cur = { nalus: [], keyframe: false };
      curHasSlice = false;
    }
    cur.nalus.push(nal);
    if (vcl) curHasSlice = true;
    if (t >= 16 && t <= 23) cur.keyframe = true;
  }
  if (cur.nalus.length > 0 && curHasSlice) out.push(cur);
  return out;
}
