import type { Detection } from '../../engine/types.js';
import { Candidates, ThresholdTable } from '../nms.js';
import { YOLOX_INPUT_SIZE, YOLOX_NUM_CLASSES, YOLOX_STRIDES } from './model.js';

export interface DecodeOptions {
  /** Keep class scores (objectness x class probability) strictly above this. */
  scoreThreshold: number;
  /** Class-wise NMS: a box is dropped when it overlaps a better box of the same class by more than this. */
  iouThreshold: number;
  /** Per class id, overrides scoreThreshold for that class (e.g. a lower bar for "knife"). */
  classThresholds?: ReadonlyMap<number, number>;
  /** Only these class ids are reported; absent or null: all. */
  keepClasses?: ReadonlySet<number> | null;
}

export interface FrameGeometry {
  /** Letterbox scale r; source pixels = letterbox pixels / r. */
  scale: number;
  /** Source frame size, for clipping. */
  srcWidth: number;
  srcHeight: number;
}

export const defaultDecodeOptions: DecodeOptions = { scoreThreshold: 0.35, iouThreshold: 0.45 };

/**
 * Turns the raw YOLOX head output [1, anchors, 5 + classes] into detections in source pixels.
 * One instance per thread: the anchor grid is computed once and candidate buffers (detectors/nms.ts) are
 * reused across frames, so a frame allocates only the Detection objects it returns.
 */
export class YoloxDecoder {
  readonly anchors: number;
  private readonly gridX: Float32Array;
  private readonly gridY: Float32Array;
  private readonly stride: Float32Array;
  private readonly row: number;
  private readonly candidates = new Candidates();
  private readonly thresholds: ThresholdTable;

  constructor(
    readonly labels: readonly string[],
    readonly inputSize: number = YOLOX_INPUT_SIZE,
    readonly numClasses: number = YOLOX_NUM_CLASSES,
    strides: readonly number[] = YOLOX_STRIDES,
  ) {
    if (labels.length !== numClasses)
      throw new RangeError(`YoloxDecoder: ${labels.length} labels for ${numClasses} classes`);
    this.row = 5 + numClasses;
    this.thresholds = new ThresholdTable(numClasses);
    let n = 0;
    for (const s of strides) n += Math.floor(inputSize / s) ** 2;
    this.anchors = n;
    this.gridX = new Float32Array(n);
    this.gridY = new Float32Array(n);
    this.stride = new Float32Array(n);
    let i = 0;
    for (const s of strides) {
      const g = Math.floor(inputSize / s);
      for (let gy = 0; gy < g; gy++) {
        for (let gx = 0; gx < g; gx++, i++) {
          this.gridX[i] = gx;
          this.gridY[i] = gy;
          this.stride[i] = s;
        }
      }
    }
  }

  decode(output: Float32Array, geom: FrameGeometry, opts: DecodeOptions = defaultDecodeOptions): Detection[] {
    const { row, anchors, numClasses } = this;
    if (output.length !== anchors * row) {
      throw new RangeError(`YoloxDecoder: output has ${output.length} floats, expected ${anchors}x${row}`);
    }
    // Per-class thresholds only when asked for: the default path compares against one number.
    const table = opts.classThresholds || opts.keepClasses ? this.thresholds.for(opts) : null;
    const thr = opts.scoreThreshold;
    const minThr = table === null ? thr : this.thresholds.min;
    const inv = 1 / geom.scale;
    const cand = this.candidates;
    cand.reset();
    for (let a = 0; a < anchors; a++) {
      const base = a * row;
      const obj = output[base + 4];
      // Class probabilities are <= 1, so a weak objectness rules out every class of this anchor.
      if (obj <= minThr) continue;
      let boxDone = false;
      let x1 = 0;
      let y1 = 0;
      let x2 = 0;
      let y2 = 0;
      for (let c = 0; c < numClasses; c++) {
        const score = obj * output[base + 5 + c];
        if (score <= (table === null ? thr : table[c])) continue;
        if (!boxDone) {
          const s = this.stride[a];
          const cx = (output[base] + this.gridX[a]) * s;
          const cy = (output[base + 1] + this.gridY[a]) * s;
          const hw = (Math.exp(output[base + 2]) * s) / 2;
          const hh = (Math.exp(output[base + 3]) * s) / 2;
          x1 = (cx - hw) * inv;
          y1 = (cy - hh) * inv;
          x2 = (cx + hw) * inv;
          y2 = (cy + hh) * inv;
          boxDone = true;
        }
        cand.add(score, c, x1, y1, x2, y2);
      }
    }
    return cand.select(opts.iouThreshold, this.labels, geom.srcWidth, geom.srcHeight);
  }
}
