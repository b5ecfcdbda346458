import sharp, { type Metadata, type Sharp } from 'sharp';
import { KuzetError, errorMessage } from '../../engine/errors.js';
import type { VideoCodec } from '../../engine/types.js';
import type { Box } from '../analytics/types.js';
import { decodeKeyframeRgb } from './keyframe-rgb.js';

/** A box to draw, in source-frame pixels, with its label (e.g. "intrusion 0.87"). */
export interface EvidenceBox {
  box: Box;
  label: string;
  /** `#rgb` or `#rrggbb`; default red. */
  color?: string;
}

export interface RenderEvidenceInput {
  codec: VideoCodec;
  /** One keyframe access unit with its parameter sets (h264/h265), or a JPEG. Only read, never kept. */
  data: Uint8Array;
  boxes: EvidenceBox[];
  /** A banner in the top-left corner, for alarms without a box (camera tamper, crowding). */
  caption?: string;
  /** JPEG quality 1..100; default 85. */
  quality?: number;
}

export interface RenderedEvidence {
  jpeg: Buffer;
  width: number;
  height: number;
}

export const DEFAULT_BOX_COLOR = '#ff2020';

const HEX_COLOR = /^#(?:[0-9a-fA-F]{3}){1,2}$/;

/**
 * Decodes a sampled frame at its source resolution, draws the boxes and labels as one SVG overlay (sharp
 * composites it) and encodes a JPEG. Everything heavy runs off the event loop (node-av's and sharp's async
 * calls); what stays on it is building a few lines of SVG.
 */
export async function renderEvidenceJpeg(input: RenderEvidenceInput): Promise<RenderedEvidence> {
  const quality = input.quality ?? 85;
  if (!(Number.isInteger(quality) && quality >= 1 && quality <= 100))
    throw new RangeError(`renderEvidenceJpeg: quality must be an integer 1..100, got ${quality}`);
  for (const b of input.boxes) {
    // The colour goes into SVG markup; anything but a hex colour could break out of the attribute.
    if (b.color !== undefined && !HEX_COLOR.test(b.color))
      throw new RangeError(
        `renderEvidenceJpeg: color must be #rgb or #rrggbb, got ${JSON.stringify(b.color)}`,
      );
  }
  let base: Sharp;
  let width: number;
  let height: number;
  if (input.codec === 'jpeg') {
    const bytes = Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength);
    let meta: Metadata;
    try {
      meta = await sharp(bytes).metadata();
    } catch (err) {
      throw new KuzetError('KUZET_ERR_DECODE', `Evidence image decode failed: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    if (!meta.width || !meta.height)
      throw new KuzetError('KUZET_ERR_DECODE', 'Evidence image decode failed: image has no dimensions');
    width = meta.width;
    height = meta.height;
    // Stored orientation, as the detector saw it: the boxes are in that pixel space.
    base = sharp(bytes).removeAlpha().toColourspace('srgb');
  } else {
    const pic = await decodeKeyframeRgb(input.data, input.codec);
    width = pic.width;
    height = pic.height;
    base = sharp(pic.data, { raw: { width, height, channels: 3 } });
  }
  const svg = overlaySvg(width, height, input.boxes, input.caption);
  try {
    const jpeg = await base
      .composite(svg ? [{ input: Buffer.from(svg), top: 0, left: 0 }] : [])
      // 4:4:4 keeps thin coloured lines and small label text sharp; evidence is looked at closely.
      .jpeg({ quality, chromaSubsampling: '4:4:4' })
      .toBuffer();
    return { jpeg, width, height };
  } catch (err) {
    throw new KuzetError('KUZET_ERR_DECODE', `Evidence JPEG encode failed: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/**
 * The overlay as SVG markup the size of the frame, or null when there is nothing to draw. Exported for tests.
 * Line width and text size grow with the frame so a label stays readable on 1080p and still fits on a 360p
 * frame. Boxes are clamped to the frame; one wholly outside it (or with non-finite corners) is skipped.
 */
export function overlaySvg(
  width: number,
  height: number,
  boxes: EvidenceBox[],
  caption?: string,
): string | null {
  const stroke = Math.max(3, Math.round(Math.min(width, height) / 240));
  const font = Math.max(12, Math.round(height / 36));
  const pad = Math.max(2, Math.round(font / 5));
  const labelH = font + 2 * pad;
  const parts: string[] = [];

  const label = (text: string, x: number, y: number, color: string) => {
    // Monospace bold at ~0.62 em per glyph: the width can be known without measuring text.
    const w = Math.min(width, Math.ceil(text.length * font * 0.62) + 2 * pad);
    const lx = Math.max(0, Math.min(x, width - w));
    const ly = Math.max(0, Math.min(y, height - labelH));
    parts.push(
      `<rect x="${lx}" y="${ly}" width="${w}" height="${labelH}" fill="${color}"/>`,
      `<text x="${lx + pad}" y="${ly + pad + font * 0.8}" font-family="DejaVu Sans Mono, Liberation Mono, monospace" font-weight="bold" font-size="${font}" fill="${textColor(color)}">${escapeXml(text)}</text>`,
    );
  };

  for (const { box, label: text, color = DEFAULT_BOX_COLOR } of boxes) {
    if (![box.x1, box.y1, box.x2, box.y2].every(Number.isFinite)) continue;
    const x1 = clamp(Math.round(Math.min(box.x1, box.x2)), 0, width);
    const x2 = clamp(Math.round(Math.max(box.x1, box.x2)), 0, width);
    const y1 = clamp(Math.round(Math.min(box.y1, box.y2)), 0, height);
    const y2 = clamp(Math.round(Math.max(box.y1, box.y2)), 0, height);
    if (x2 - x1 < 1 || y2 - y1 < 1) continue;
    // The stroke is centred on the path: inset by half of it so the whole line lies inside the box.
    const w = Math.max(x2 - x1 - stroke, 1);
    const h = Math.max(y2 - y1 - stroke, 1);
    parts.push(
      `<rect x="${x1 + stroke / 2}" y="${y1 + stroke / 2}" width="${w}" height="${h}" fill="none" stroke="${color}" stroke-width="${stroke}"/>`,
    );
    // Above the box when there is room, otherwise just inside its top edge.
    if (text) label(text, x1, y1 >= labelH ? y1 - labelH : y1, color);
  }
  if (caption) label(caption, 0, 0, '#000000');
  if (parts.length === 0) return null;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Black text on light colours, white on dark (ITU-R BT.601 luma of the background). */
function textColor(hex: string): string {
  const full =
    hex.length === 4
      ? hex
          .slice(1)
          .split('')
          .map((c) => c + c)
          .join('')
      : hex.slice(1);
  const n = parseInt(full, 16);
  const luma = 0.299 * ((n >> 16) & 255) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255);
  return luma > 140 ? '#000000' : '#ffffff';
}

// Control characters are not allowed in XML 1.0 at all; a label is one line anyway.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/g;
const XML_ENTITIES: Record<string, string> = {
  '<': '&lt;',
  '>': '&gt;',
  '&': '&amp;',
  '"': '&quot;',
  "'": '&apos;',
};

function escapeXml(s: string): string {
  return s.replace(CONTROL_CHARS, ' ').replace(/[<>&"']/g, (c) => XML_ENTITIES[c]);
}
