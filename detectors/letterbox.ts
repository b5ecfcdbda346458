/**
 * Letterbox geometry and tensor packing for square-input detectors (YOLOX: 416x416, BGR 0..255, pad 114).
 * The resized image sits in the TOP-LEFT corner, so mapping a box back to the source is a single division
 * by `scale` (no offset): that is how YOLOX was trained and how its reference detections were made.
 */

export const LETTERBOX_PAD = 114;

export interface LetterboxGeometry {
  /** Source frame size in pixels. */
  srcWidth: number;
  srcHeight: number;
  /** r = min(size/W, size/H); source pixels = letterbox pixels / r. */
  scale: number;
  /** Size of the resized image inside the square, round(W*r) x round(H*r). */
  width: number;
  height: number;
  /** Side of the square model input. */
  size: number;
}

export function letterboxGeometry(srcWidth: number, srcHeight: number, size = 416): LetterboxGeometry {
  if (!(srcWidth > 0 && srcHeight > 0) || !Number.isFinite(srcWidth) || !Number.isFinite(srcHeight)) {
    throw new RangeError(`letterboxGeometry: source size must be positive, got ${srcWidth}x${srcHeight}`);
  }
  const scale = Math.min(size / srcWidth, size / srcHeight);
  // Clamp to [1, size]: rounding can never push past the square, but a 1-pixel-wide source could round to 0.
  const width = Math.min(size, Math.max(1, Math.round(srcWidth * scale)));
  const height = Math.min(size, Math.max(1, Math.round(srcHeight * scale)));
  return { srcWidth, srcHeight, scale, width, height, size };
}

/** Number of float32 elements of a [1,3,size,size] tensor. */
export function tensorLength(size = 416): number {
  return 3 * size * size;
}

export type ChannelOrder = 'bgr' | 'rgb';

export interface PackedImage {
  /** Interleaved 8-bit pixels, `channels` bytes per pixel (3, or 4 with a trailing alpha/padding byte). */
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
  order: ChannelOrder;
  /** Bytes per row; defaults to width*channels (decoders and scalers may pad rows). */
  stride?: number;
}

/**
 * Writes `img` into `out` as a planar BGR float32 [1,3,size,size] tensor, image at the top-left and 114
 * everywhere else. `out` is caller-owned so a worker can reuse one buffer per frame; every element is
 * written, so it need not be zeroed or pre-filled.
 */
export function packPlanarBgr(img: PackedImage, out: Float32Array, size = 416): Float32Array {
  const { data, width, height, channels } = img;
  const stride = img.stride ?? width * channels;
  const plane = size * size;
  if (out.length < 3 * plane)
    throw new RangeError(`packPlanarBgr: output holds ${out.length} floats, needs ${3 * plane}`);
  if (width > size || height > size)
    throw new RangeError(`packPlanarBgr: image ${width}x${height} exceeds ${size}x${size}`);
  if (data.length < (height - 1) * stride + width * channels) {
    throw new RangeError(
      `packPlanarBgr: ${data.length} bytes is too small for ${width}x${height}x${channels} (stride ${stride})`,
    );
  }
  // Source byte offsets of B, G, R inside a pixel.
  const bOff = img.order === 'bgr' ? 0 : 2;
  const rOff = 2 - bOff;
  for (let y = 0; y < height; y++) {
    const row = y * size;
    let s = y * stride;
    for (let x = 0; x < width; x++, s += channels) {
      const o = row + x;
      out[o] = data[s + bOff];
      out[plane + o] = data[s + 1];
      out[2 * plane + o] = data[s + rOff];
    }
    if (width < size) {
      out.fill(LETTERBOX_PAD, row + width, row + size);
      out.fill(LETTERBOX_PAD, plane + row + width, plane + row + size);
      out.fill(LETTERBOX_PAD, 2 * plane + row + width, 2 * plane + row + size);
    }
  }
  if (height < size) {
    for (let c = 0; c < 3; c++) out.fill(LETTERBOX_PAD, c * plane + height * size, (c + 1) * plane);
  }
  return out;
}
