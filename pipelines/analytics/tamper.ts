/**
 * Camera tamper: a covered, sprayed, defocused or turned-away camera, judged from the frame thumbnail alone
 * (frame.cues; a frame without cues is skipped and changes nothing). Three reasons, each raised once it has
 * held for `minSamples` (3) consecutive samples, at most one candidate per frame in this order:
 *   blackout   — mean brightness below `blackoutBrightness` (0.06 of white).
 *   blur       — sharpness below `blurRatio` (20 %) of this camera's running median sharpness over its last
 *                `sharpnessHistory` (30) healthy samples. Scenes differ too much for a fixed threshold, so
 *                the camera is compared with itself; samples judged blurred or dark are kept out of the
 *                history, so a lens that stays covered keeps alarming instead of becoming the new normal.
 *                Not judged until `minSharpnessHistory` (5) healthy samples are in.
 *   view-moved — normalised cross-correlation with a reference view below `minViewSimilarity` (0.5).
 *                The reference is the per-pixel median of the first `referenceFrames` (10) healthy samples
 *                (a median ignores people walking through), then follows slow change — daylight, shadows,
 *                a moved chair — by blending in `referenceRefreshRate` (5 %) of each sample whose similarity
 *                is above `refreshSimilarity` (0.9); a sudden change never feeds it. A camera that stays
 *                moved for `adoptViewAfterSamples` (600, about 10 minutes at one sample a second) has
 *                presumably been re-aimed on purpose: its new view becomes the reference.
 * A dark frame is only judged for blackout and a blurred one not for view-moved, so one cause gives one reason.
 */
import { brightness, sharpness, viewSimilarity, type GreyImage } from './cues.js';
import type { AlarmCandidate, Analytic, AnalyticsFrame, FrameCues } from './types.js';

export type TamperReason = 'blackout' | 'blur' | 'view-moved';

export interface TamperOptions {
  schoolId: string;
  cameraId: string;
  blackoutBrightness?: number;
  blurRatio?: number;
  sharpnessHistory?: number;
  minSharpnessHistory?: number;
  minViewSimilarity?: number;
  referenceFrames?: number;
  refreshSimilarity?: number;
  referenceRefreshRate?: number;
  adoptViewAfterSamples?: number;
  /** Consecutive samples a reason must hold before a candidate (default 3). */
  minSamples?: number;
}

export class CameraTamper implements Analytic {
  readonly kind = 'camera-tamper' as const;
  private readonly schoolId: string;
  private readonly cameraId: string;
  private readonly blackoutBrightness: number;
  private readonly blurRatio: number;
  private readonly sharpnessHistory: number;
  private readonly minSharpnessHistory: number;
  private readonly minViewSimilarity: number;
  private readonly referenceFrames: number;
  private readonly refreshSimilarity: number;
  private readonly referenceRefreshRate: number;
  private readonly adoptViewAfterSamples: number;
  private readonly minSamples: number;

  private readonly streaks: Record<TamperReason, number> = { blackout: 0, blur: 0, 'view-moved': 0 };
  /** Sharpness of the last healthy samples, oldest first. */
  private sharpHistory: number[] = [];
  /** Healthy thumbnails gathered for the reference, until there are `referenceFrames`. */
  private pending: Uint8Array[] = [];
  private reference: { thumb: Float32Array; thumbWidth: number; thumbHeight: number } | null = null;
  private thumbWidth = 0;
  private thumbHeight = 0;

  constructor(cfg: TamperOptions) {
    this.schoolId = cfg.schoolId;
    this.cameraId = cfg.cameraId;
    this.blackoutBrightness = cfg.blackoutBrightness ?? 0.06;
    this.blurRatio = cfg.blurRatio ?? 0.2;
    this.sharpnessHistory = cfg.sharpnessHistory ?? 30;
    this.minSharpnessHistory = Math.min(cfg.minSharpnessHistory ?? 5, this.sharpnessHistory);
    this.minViewSimilarity = cfg.minViewSimilarity ?? 0.5;
    this.referenceFrames = Math.max(1, cfg.referenceFrames ?? 10);
    this.refreshSimilarity = cfg.refreshSimilarity ?? 0.9;
    this.referenceRefreshRate = cfg.referenceRefreshRate ?? 0.05;
    this.adoptViewAfterSamples = cfg.adoptViewAfterSamples ?? 600;
    this.minSamples = Math.max(1, cfg.minSamples ?? 3);
  }

  /** True once the reference view is built (for tests and status). */
  get hasReference(): boolean {
    return this.reference !== null;
  }

  update(frame: AnalyticsFrame): AlarmCandidate[] {
    const cues = frame.cues;
    if (!cues) return [];
    if (cues.thumbWidth !== this.thumbWidth || cues.thumbHeight !== this.thumbHeight) {
      // New resolution or aspect: sharpness scale and reference no longer apply.
      this.thumbWidth = cues.thumbWidth;
      this.thumbHeight = cues.thumbHeight;
      this.sharpHistory = [];
      this.pending = [];
      this.reference = null;
    }

    const light = brightness(cues);
    const dark = light < this.blackoutBrightness;
    this.streaks.blackout = dark ? this.streaks.blackout + 1 : 0;

    const sharp = sharpness(cues);
    const median = this.sharpHistory.length >= this.minSharpnessHistory ? medianOf(this.sharpHistory) : null;
    const blurred = !dark && median !== null && sharp < this.blurRatio * median;
    this.streaks.blur = blurred ? this.streaks.blur + 1 : 0;
    if (!dark && !blurred) {
      this.sharpHistory.push(sharp);
      if (this.sharpHistory.length > this.sharpnessHistory) this.sharpHistory.shift();
    }

    let similarity: number | null = null;
    if (!dark && !blurred) similarity = this.judgeView(cues);
    else this.streaks['view-moved'] = 0;

    const reason: TamperReason | null =
      this.streaks.blackout >= this.minSamples
        ? 'blackout'
        : this.streaks.blur >= this.minSamples
          ? 'blur'
          : this.streaks['view-moved'] >= this.minSamples
            ? 'view-moved'
            : null;
    if (!reason) return [];

    let value: number;
    let threshold: number;
    let excess: number;
    if (reason === 'blackout') {
      value = light;
      threshold = this.blackoutBrightness;
      excess = 1 - light / threshold;
    } else if (reason === 'blur') {
      value = median ? sharp / median : 0;
      threshold = this.blurRatio;
      excess = 1 - value / threshold;
    } else {
      value = similarity ?? 0;
      threshold = this.minViewSimilarity;
      excess = (threshold - value) / (threshold + 1);
    }
    return [
      {
        kind: this.kind,
        severity: 'medium',
        schoolId: this.schoolId,
        cameraId: this.cameraId,
        zoneId: null,
        trackIds: [],
        // 0.5 at the threshold, 1 at the extreme (pitch black, no edges left, inverted view).
        score: clip01(0.5 + 0.5 * excess),
        cues: {
          reason,
          value: round3(value),
          threshold,
          samples: this.streaks[reason],
          brightness: round3(light),
          sharpness: round3(sharp),
        },
        timeMs: frame.timeMs,
        evidenceSeq: frame.seq,
      },
    ];
  }

  /** Builds or compares with the reference view; returns the similarity, or null while building. */
  private judgeView(cues: FrameCues): number | null {
    if (!this.reference) {
      this.pending.push(cues.thumb.slice(0, cues.thumbWidth * cues.thumbHeight));
      if (this.pending.length >= this.referenceFrames) {
        this.reference = {
          thumb: medianImage(this.pending),
          thumbWidth: cues.thumbWidth,
          thumbHeight: cues.thumbHeight,
        };
        this.pending = [];
      }
      this.streaks['view-moved'] = 0;
      return null;
    }
    const ref: GreyImage = this.reference;
    const similarity = viewSimilarity(ref, cues);
    if (similarity < this.minViewSimilarity) {
      this.streaks['view-moved']++;
      if (this.streaks['view-moved'] >= this.adoptViewAfterSamples) {
        this.reference = null;
        this.streaks['view-moved'] = 0;
      }
      return similarity;
    }
    this.streaks['view-moved'] = 0;
    if (similarity > this.refreshSimilarity) {
      const r = this.reference.thumb;
      const a = this.referenceRefreshRate;
      for (let i = 0; i < r.length; i++) r[i] += a * (cues.thumb[i] - r[i]);
    }
    return similarity;
  }
}

/** Per-pixel median of equally sized images. */
function medianImage(images: readonly Uint8Array[]): Float32Array {
  const out = new Float32Array(images[0].length);
  const column = new Float64Array(images.length);
  const mid = images.length >> 1;
  for (let i = 0; i < out.length; i++) {
    for (let k = 0; k < images.length; k++) column[k] = images[k][i];
    column.sort();
    out[i] = images.length % 2 ? column[mid] : (column[mid - 1] + column[mid]) / 2;
  }
  return out;
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function clip01(v: number): number {
  return v <= 0 ? 0 : v >= 1 ? 1 : v;
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
