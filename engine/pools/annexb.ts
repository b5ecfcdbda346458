import type { VideoCodec } from '../types.js';

/**
 * NAL unit types present in an Annex B access unit. Scanning the start codes is cheap next to a decode and lets
 * a non-keyframe be refused with a clear reason instead of decoding into a grey, reference-less picture.
 */
export function nalTypes(data: Uint8Array, codec: VideoCodec): number[] {
  const types: number[] = [];
  const n = data.length;
  for (let i = 0; i + 3 < n; i++) {
    // 00 00 01 also covers the 4-byte 00 00 00 01 form (its last three bytes).
    if (data[i] !== 0 || data[i + 1] !== 0 || data[i + 2] !== 1) continue;
    const h = data[i + 3];
    types.push(codec === 'h264' ? h & 0x1f : (h >> 1) & 0x3f);
    i += 3;
  }
  return types;
}

/** H.264 IDR slice (5); H.265 IRAP pictures (BLA/IDR/CRA, 16..21). */
export function isKeyframeNal(type: number, codec: VideoCodec): boolean {
  return codec === 'h264' ? type === 5 : type >= 16 && type <= 21;
}

/** Short human description of an access unit's NAL types, for error messages. */
export function describeAccessUnit(
  data: Uint8Array,
  codec: VideoCodec,
): { keyframe: boolean; summary: string } {
  const types = nalTypes(data, codec);
  const keyframe = types.some((t) => isKeyframeNal(t, codec));
  const summary =
    types.length === 0
      ? 'no Annex B start code'
      : `NAL types [${types.slice(0, 12).join(',')}${types.length > 12 ? ',…' : ''}]`;
  return { keyframe, summary };
}
