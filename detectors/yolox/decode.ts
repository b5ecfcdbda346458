import type { Detection } from '../../engine/types.js';
import { YOLOX_INPUT_SIZE, YOLOX_NUM_CLASSES, YOLOX_STRIDES } from './model.js';

export interface DecodeOptions {
  /** Keep class scores (objectness x class probability) strictly above this. */
  scoreThreshold: number;
  /** Class-wise NMS: a box is dropped when it overlaps a better box of the same class by more than this. */
  iouThreshold: number;
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
 * One instance per thread: the anchor grid is computed once and candidate buffers are reused across frames,
 * so a frame allocates only the Detection objects it returns.
 */
export class YoloxDecoder {
  readonly anchors: number;
  private readonly gridX: Float32Array;
  private readonly gridY: Float32Array;
  private readonly stride: Float32Array;
  private readonly row: number;
  // Candidate scratch (grown by doubling, never shrunk).
  private cap = 0;
  private cScore = new Float32Array(0);
  private cClass = new Int32Array(0);
  private cBox = new Float32Array(0);
  private order = new Uint32Array(0);
  private kept = new Uint32Array(0);

  constructor(
    readonly labels: readonly string[],
    readonly inputSize: number = YOLOX_INPUT_SIZE,
    readonly numClasses: number = YOLOX_NUM_CLASSES,
    strides: readonly number[] = YOLOX_STRIDES,
  ) {
    if (labels.length !== numClasses)
      throw new RangeError(`YoloxDecoder: ${labels.length} labels for ${numClasses} classes`);
    this.row = 5 + numClasses;
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
    this.grow(256);
  }

  decode(output: Float32Array, geom: FrameGeometry, opts: DecodeOptions = defaultDecodeOptions): Detection[] {
    const { row, anchors, numClasses } = this;
    if (output.length !== anchors * row) {
      throw new RangeError(`YoloxDecoder: output has ${output.length} floats, expected ${anchors}x${row}`);
    }
    const thr = opts.scoreThreshold;
    const inv = 1 / geom.scale;
    let n = 0;
    for (let a = 0; a < anchors; a++) {
      const base = a * row;
      const obj = output[base + 4];
      // Class probabilities are <= 1, so a weak objectness rules out every class of this anchor.
      if (obj <= thr) continue;
      let boxDone = false;
      let x1 = 0;
      let y1 = 0;
      let x2 = 0;
      let y2 = 0;
      for (let c = 0; c < numClasses; c++) {
        const score = obj * output[base + 5 + c];
        if (score <= thr) continue;
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
        if (n === this.cap) this.grow(this.cap * 2);
        this.cScore[n] = score;
        this.cClass[n] = c;
        const b = n * 4;
        this.cBox[b] = x1;
        this.cBox[b + 1] = y1;
        this.cBox[b + 2] = x2;
        this.cBox[b + 3] = y2;
        n++;
      }
    }
    if (n === 0) return [];

    const scores = this.cScore;
    for (let i = 0; i < n; i++) this.order[i] = i;
    const order = this.order.subarray(0, n).sort((i, j) => scores[j] - scores[i]);
    const box = this.cBox;
    const cls = this.cClass;
    const kept = this.kept;
    let k = 0;
    for (let oi = 0; oi < n; oi++) {
      const i = order[oi];
      const bi = i * 4;
      const areaI = (box[bi + 2] - box[bi]) * (box[bi + 3] - box[bi + 1]);
      let suppressed = false;
      for (let ki = 0; ki < k; ki++) {
        const j = kept[ki];
        if (cls[j] !== cls[i]) continue;
        const bj = j * 4;
        const iw = Math.min(box[bi + 2], box[bj + 2]) - Math.max(box[bi], box[bj]);
        if (iw <= 0) continue;
        const ih = Math.min(box[bi + 3], box[bj + 3]) - Math.max(box[bi + 1], box[bj + 1]);
        if (ih <= 0) continue;
        const inter = iw * ih;
        const areaJ = (box[bj + 2] - box[bj]) * (box[bj + 3] - box[bj + 1]);
        if (inter / (areaI + areaJ - inter) > opts.iouThreshold) {
          suppressed = true;
          break;
        }
      }
      if (!suppressed) kept[k++] = i;
    }

    const W = geom.srcWidth;
    const H = geom.srcHeight;
    const out: Detection[] = new Array<Detection>(k);
    for (let ki = 0; ki < k; ki++) {
      const i = kept[ki];
      const b = i * 4;
      out[ki] = {
        classId: cls[i],
        className: this.labels[cls[i]],
        score: scores[i],
        // NMS ran on unclipped boxes (as YOLOX does); clipping only shapes what leaves the detector.
        x1: clamp(box[b], W),
        y1: clamp(box[b + 1], H),
        x2: clamp(box[b + 2], W),
        y2: clamp(box[b + 3], H),
        trackId: null,
      };
    }
    return out;
  }

  private grow(cap: number): void {
    const score = new Float32Array(cap);
    const cls = new Int32Array(cap);
    const box = new Float32Array(cap * 4);
    score.set(this.cScore);
    cls.set(this.cClass);
    box.set(this.cBox);
    this.cScore = score;
    this.cClass = cls;
    this.cBox = box;
    this.order = new Uint32Array(cap);
    this.kept = new Uint32Array(cap);
    this.cap = cap;
  }
}

function clamp(v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v;
}
