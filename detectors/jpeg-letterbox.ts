import sharp from 'sharp';
import { KuzetError, errorMessage } from '../engine/errors.js';
import { letterboxGeometry, packPlanarBgr, tensorLength, type LetterboxGeometry } from './letterbox.js';

export type ResizeKernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';

export interface LetterboxedImage {
  /** Planar BGR float32 [1,3,size,size], pad 114. */
  tensor: Float32Array;
  geometry: LetterboxGeometry;
}

/**
 * Decodes a JPEG (or any format sharp reads) and letterboxes it for the detector. The resize goes straight to
 * the letterbox size, so libvips shrinks on load for large JPEGs instead of decoding every pixel.
 * Orientation is left as stored (no EXIF auto-rotate): camera snapshots carry none, and it keeps boxes in the
 * same pixel space as an H.264 frame of the same camera.
 */
export async function letterboxJpeg(
  input: Uint8Array,
  out: Float32Array = new Float32Array(tensorLength()),
  size = 416,
  kernel: ResizeKernel = 'cubic',
): Promise<LetterboxedImage> {
  let geometry: LetterboxGeometry;
  let data: Buffer;
  let channels: number;
  try {
    const meta = await sharp(input).metadata();
    if (!meta.width || !meta.height) throw new Error('image has no dimensions');
    geometry = letterboxGeometry(meta.width, meta.height, size);
    const res = await sharp(input)
      .resize(geometry.width, geometry.height, { fit: 'fill', kernel })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    data = res.data;
    channels = res.info.channels;
    if (res.info.width !== geometry.width || res.info.height !== geometry.height) {
      throw new Error(
        `resize gave ${res.info.width}x${res.info.height}, expected ${geometry.width}x${geometry.height}`,
      );
    }
  } catch (err) {
    throw new KuzetError(
      'KUZET_ERR_DECODE',
      `Image decode failed (${input.byteLength} bytes): ${errorMessage(err)}`,
      { cause: err },
    );
  }
  if (channels !== 3)
    throw new KuzetError('KUZET_ERR_DECODE', `Image decode gave ${channels} channels, expected 3`);
  packPlanarBgr(
    { data, width: geometry.width, height: geometry.height, channels: 3, order: 'rgb' },
    out,
    size,
  );
  return { tensor: out, geometry };
}
