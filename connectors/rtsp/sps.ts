/**
 * Just enough of the H.264 (ITU-T H.264 §7.3.2.1.1) and H.265 (ITU-T H.265 §7.3.2.2) sequence
 * parameter sets to report a camera's profile and picture size, cropping applied. Runs once per
 * probe or session, never per frame, so clarity wins over speed here.
 */

export interface SpsInfo {
  /** profile_idc (H.264) or general_profile_idc (H.265). */
  profileIdc: number;
  /** Human name, e.g. 'High', 'Main 10'; 'unknown(N)' when not recognised. */
  profile: string;
  /** level_idc (H.264: 31 = 3.1) or general_level_idc (H.265: 93 = 3.1). */
  levelIdc: number;
  width: number;
  height: number;
}

/** Removes emulation-prevention bytes (00 00 03 → 00 00): the RBSP. */
export function unescapeRbsp(nal: Uint8Array, from = 0): Uint8Array {
  const out = new Uint8Array(nal.length - from);
  let o = 0;
  let zeros = 0;
  for (let i = from; i < nal.length; i++) {
    const b = nal[i];
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    zeros = b === 0 ? zeros + 1 : 0;
    out[o++] = b;
  }
  return out.subarray(0, o);
}

/** MSB-first bit reader with Exp-Golomb codes; reading past the end throws. */
export class BitReader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  bit(): number {
    const byte = this.pos >> 3;
    if (byte >= this.buf.length) throw new RangeError('SPS truncated');
    const v = (this.buf[byte] >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return v;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  skip(n: number): void {
    this.pos += n;
    if (this.pos > this.buf.length * 8) throw new RangeError('SPS truncated');
  }

  /** ue(v) */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new RangeError('SPS: invalid Exp-Golomb code');
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  /** se(v) */
  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -(k / 2);
  }
}

const H264_PROFILES: Record<number, string> = {
  44: 'CAVLC 4:4:4 Intra',
  66: 'Baseline',
  77: 'Main',
  88: 'Extended',
  100: 'High',
  110: 'High 10',
  122: 'High 4:2:2',
  244: 'High 4:4:4 Predictive',
  118: 'Multiview High',
  128: 'Stereo High',
};

/** Profiles whose SPS carries chroma_format_idc and bit depths (§7.3.2.1.1). */
const H264_HIGH = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Parses an H.264 SPS NAL unit (with its 1-byte header, without start code). */
export function parseH264Sps(nal: Uint8Array): SpsInfo {
  if (nal.length < 4 || (nal[0] & 0x1f) !== 7) throw new RangeError('not an H.264 SPS NAL unit');
  const r = new BitReader(unescapeRbsp(nal, 1));
  const profileIdc = r.bits(8);
  const constraints = r.bits(8);
  const levelIdc = r.bits(8);
  r.ue(); // seq_parameter_set_id
  let chroma = 1;
  let separateColourPlane = 0;
  if (H264_HIGH.has(profileIdc)) {
    chroma = r.ue();
    if (chroma === 3) separateColourPlane = r.bit();
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.bit(); // qpprime_y_zero_transform_bypass_flag
    if (r.bit()) {
      // seq_scaling_matrix_present_flag: skip the lists, whose length depends on their content.
      const lists = chroma !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) {
        if (!r.bit()) continue;
        const size = i < 6 ? 16 : 64;
        let last = 8;
        let next = 8;
        for (let j = 0; j < size; j++) {
          if (next !== 0) {
            next = (last + r.se() + 256) % 256;
          }
          last = next === 0 ? last : next;
        }
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) {
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    r.bit(); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const n = r.ue();
    for (let i = 0; i < n; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.bit(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (!frameMbsOnly) r.bit(); // mb_adaptive_frame_field_flag
  r.bit(); // direct_8x8_inference_flag
  let cropL = 0;
  let cropR = 0;
  let cropT = 0;
  let cropB = 0;
  if (r.bit()) {
    cropL = r.ue();
    cropR = r.ue();
    cropT = r.ue();
    cropB = r.ue();
  }
  const chromaArray = separateColourPlane ? 0 : chroma;
  const subW = chromaArray === 1 || chromaArray === 2 ? 2 : 1;
  const subH = chromaArray === 1 ? 2 : 1;
  const cropUnitX = chromaArray === 0 ? 1 : subW;
  const cropUnitY = (chromaArray === 0 ? 1 : subH) * (2 - frameMbsOnly);
  let profile = H264_PROFILES[profileIdc] ?? `unknown(${profileIdc})`;
  if (profileIdc === 66 && constraints & 0x40) profile = 'Constrained Baseline';
  return {
    profileIdc,
    profile,
    levelIdc,
    width: widthMbs * 16 - cropUnitX * (cropL + cropR),
    height: (2 - frameMbsOnly) * heightMapUnits * 16 - cropUnitY * (cropT + cropB),
  };
}

const H265_PROFILES: Record<number, string> = {
  1: 'Main',
  2: 'Main 10',
  3: 'Main Still Picture',
  4: 'Range Extensions',
  5: 'High Throughput',
  9: 'Screen Content Coding',
};

/** Parses an H.265 SPS NAL unit (with its 2-byte header, without start code). */
export function parseH265Sps(nal: Uint8Array): SpsInfo {
  if (nal.length < 4 || ((nal[0] >> 1) & 0x3f) !== 33) throw new RangeError('not an H.265 SPS NAL unit');
  const r = new BitReader(unescapeRbsp(nal, 2));
  r.bits(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.bits(3);
  r.bit(); // sps_temporal_id_nesting_flag
  // profile_tier_level(1, maxSubLayersMinus1)
  r.bits(2); // general_profile_space
  r.bit(); // general_tier_flag
  const profileIdc = r.bits(5);
  r.skip(32); // general_profile_compatibility_flag[32]
  r.skip(48); // progressive, interlaced, non_packed, frame_only + 43 reserved + 1
  const levelIdc = r.bits(8);
  const subProfile: number[] = [];
  const subLevel: number[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    subProfile.push(r.bit());
    subLevel.push(r.bit());
  }
  if (maxSubLayersMinus1 > 0) r.skip(2 * (8 - maxSubLayersMinus1));
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (subProfile[i]) r.skip(88);
    if (subLevel[i]) r.skip(8);
  }
  r.ue(); // sps_seq_parameter_set_id
  const chroma = r.ue();
  let separateColourPlane = 0;
  if (chroma === 3) separateColourPlane = r.bit();
  let width = r.ue();
  let height = r.ue();
  if (r.bit()) {
    // conformance_window_flag: offsets are in chroma sample units.
    const chromaArray = separateColourPlane ? 0 : chroma;
    const subW = chromaArray === 1 || chromaArray === 2 ? 2 : 1;
    const subH = chromaArray === 1 ? 2 : 1;
    const l = r.ue();
    const rt = r.ue();
    const t = r.ue();
    const b = r.ue();
    width -= subW * (l + rt);
    height -= subH * (t + b);
  }
  return {
    profileIdc,
    profile: H265_PROFILES[profileIdc] ?? `unknown(${profileIdc})`,
    levelIdc,
    width,
    height,
  };
}
