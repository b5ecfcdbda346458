/**
 * Pixel cues the detector cannot give: a small greyscale thumbnail per sampled frame (made in the decode
 * worker from the tensor it already has) and the measures the analytics take on it — motion inside a box,
 * brightness, sharpness, and similarity to a reference view.
 */
import type { Box, FrameCues } from './types.js';

/** Thumbnail width; the height follows the frame's aspect (16:9 → 96x54), so boxes map with no distortion. */
export const THUMB_WIDTH = 96;

/** BT.601 luma weights: the usual grey of a CCTV picture, and what a monochrome (IR) camera already shows. */
const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;

/** A greyscale image in any numeric buffer: FrameCues' 8-bit thumbnail or a float running reference. */
export interface GreyImage {
  readonly thumb: ArrayLike<number>;
  readonly thumbWidth: number;
  readonly thumbHeight: number;
}

/** Thumbnail size for an image of width x height: `thumbW` wide, height by aspect, at least 1. */
export function thumbSize(
  width: number,
  height: number,
  thumbW = THUMB_WIDTH,
): { width: number; height: number } {
  return { width: thumbW, height: Math.max(1, Math.round((thumbW * height) / width)) };
}

/**
 * Area-averages the letterboxed image (top-left `geometry.width` x `geometry.height` of a square planar BGR
 * float tensor, 0..255) into an 8-bit grey thumbnail in `out`, and returns its size. Runs per frame in the
 * decode worker, so it allocates nothing: `out` is caller-owned and must hold width*height bytes
 * (`thumbSize` tells how many). The tensor side is read from its length ([1,3,S,S]).
 */
export function thumbFromTensor(
  tensor: Float32Array,
  geometry: { width: number; height: number },
  out: Uint8Array,
  thumbW = THUMB_WIDTH,
): { width: number; height: number } {
  const side = Math.round(Math.sqrt(tensor.length / 3));
  const plane = side * side;
  const { width: w, height: h } = geometry;
  if (3 * plane !== tensor.length)
    throw new RangeError(`thumbFromTensor: ${tensor.length} floats is not [1,3,S,S]`);
  if (!(w >= 1 && h >= 1 && w <= side && h <= side)) {
    throw new RangeError(`thumbFromTensor: geometry ${w}x${h} must fit inside the ${side}x${side} tensor`);
  }
  const { width: tw, height: th } = thumbSize(w, h, thumbW);
  if (out.length < tw * th)
    throw new RangeError(`thumbFromTensor: out holds ${out.length} bytes, needs ${tw * th}`);
  for (let ty = 0; ty < th; ty++) {
    // Source rows of this thumbnail row; at least one, so an image smaller than the thumbnail still fills it.
    const y0 = Math.min(h - 1, Math.floor((ty * h) / th));
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * h) / th));
    for (let tx = 0; tx < tw; tx++) {
      const x0 = Math.min(w - 1, Math.floor((tx * w) / tw));
      const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * w) / tw));
      let sum = 0;
      for (let y = y0; y < y1; y++) {
        const row = y * side;
        for (let x = x0; x < x1; x++) {
          const o = row + x;
          sum += LUMA_B * tensor[o] + LUMA_G * tensor[plane + o] + LUMA_R * tensor[2 * plane + o];
        }
      }
      const grey = sum / ((y1 - y0) * (x1 - x0));
      out[ty * tw + tx] = grey <= 0 ? 0 : grey >= 255 ? 255 : Math.round(grey);
    }
  }
  return { width: tw, height: th };
}

/** A new thumbnail of the letterboxed image, as the analytics' FrameCues (one small allocation: it leaves the thread). */
export function frameCues(tensor: Float32Array, geometry: { width: number; height: number }): FrameCues {
  const size = thumbSize(geometry.width, geometry.height);
  const thumb = new Uint8Array(size.width * size.height);
  thumbFromTensor(tensor, geometry, thumb);
  return { thumb, thumbWidth: size.width, thumbHeight: size.height };
}

/**
 * Mean absolute grey difference (0..1) between two thumbnails inside `box` (source-frame pixels of a
 * frameW x frameH frame, mapped onto the thumbnail; at least one thumbnail pixel). 0 when the thumbnails
 * differ in size (the camera changed resolution: there is nothing to compare).
 */
export function motionEnergy(
  prev: GreyImage,
  cur: GreyImage,
  box: Box,
  frameW: number,
  frameH: number,
): number {
  const tw = cur.thumbWidth;
  const th = cur.thumbHeight;
  if (prev.thumbWidth !== tw || prev.thumbHeight !== th || !(frameW > 0 && frameH > 0)) return 0;
  const x0 = clampInt(Math.floor((box.x1 / frameW) * tw), 0, tw - 1);
  const y0 = clampInt(Math.floor((box.y1 / frameH) * th), 0, th - 1);
  const x1 = clampInt(Math.ceil((box.x2 / frameW) * tw), x0 + 1, tw);
  const y1 = clampInt(Math.ceil((box.y2 / frameH) * th), y0 + 1, th);
  let sum = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const o = y * tw + x;
      sum += Math.abs(cur.thumb[o] - prev.thumb[o]);
    }
  }
  return sum / ((y1 - y0) * (x1 - x0) * 255);
}

/** Mean grey level, 0 (black) .. 1 (white). */
export function brightness(cues: GreyImage): number {
  const n = cues.thumbWidth * cues.thumbHeight;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += cues.thumb[i];
  return sum / (n * 255);
}

/**
 * Variance of the 4-neighbour 3x3 Laplacian over the thumbnail's interior, in grey levels squared. Edges give
 * it; a defocused, fogged or covered lens loses them. Absolute values depend on the scene, so compare a camera
 * with itself, not with a fixed threshold. 0 for thumbnails under 3x3.
 */
export function sharpness(cues: GreyImage): number {
  const w = cues.thumbWidth;
  const h = cues.thumbHeight;
  if (w < 3 || h < 3) return 0;
  const t = cues.thumb;
  let sum = 0;
  let sumSq = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const o = y * w + x;
      const lap = t[o - w] + t[o + w] + t[o - 1] + t[o + 1] - 4 * t[o];
      sum += lap;
      sumSq += lap * lap;
    }
  }
  const n = (w - 2) * (h - 2);
  const mean = sum / n;
  return Math.max(0, sumSq / n - mean * mean);
}

/**
 * Normalised cross-correlation of two thumbnails, -1..1: 1 for the same view (whatever the exposure, since
 * mean and contrast are divided out), near 0 for an unrelated one. 0 when the sizes differ or either image is
 * flat (no structure to compare: a black or covered frame, which brightness and sharpness report instead).
 */
export function viewSimilarity(ref: GreyImage, cur: GreyImage): number {
  if (ref.thumbWidth !== cur.thumbWidth || ref.thumbHeight !== cur.thumbHeight) return 0;
  const n = cur.thumbWidth * cur.thumbHeight;
  if (n === 0) return 0;
  let sumA = 0;
  let sumB = 0;
  for (let i = 0; i < n; i++) {
    sumA += ref.thumb[i];
    sumB += cur.thumb[i];
  }
  const meanA = sumA / n;
  const meanB = sumB / n;
  let cov = 0;
  let varA = 0;
  let varB = 0;
  for (let i = 0; i < n; i++) {
    const a = ref.thumb[i] - meanA;
    const b = cur.thumb[i] - meanB;
    cov += a * b;
    varA += a * a;
    varB += b * b;
  }
  // Below ~0.5 grey level of standard deviation there is only quantisation noise to correlate.
  const flat = 0.25 * n;
  if (varA < flat || varB < flat) return 0;
  return Math.max(-1, Math.min(1, cov / Math.sqrt(varA * varB)));
}

function clampInt(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
