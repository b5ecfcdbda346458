import type { Detection } from '../engine/types.js';

/**
 * Candidate boxes of one frame, shared by every detector head: heads add (score, class, box in source pixels),
 * then class-wise NMS picks the survivors. Buffers grow by doubling and are reused across frames, so a frame
 * allocates only the Detection objects it returns.
 */
export class Candidates {
  /** Candidates added since the last reset(). */
  count = 0;
  private cap = 0;
  private score = new Float32Array(0);
  private cls = new Int32Array(0);
  private box = new Float32Array(0);
  private order = new Uint32Array(0);
  private kept = new Uint32Array(0);

  constructor(initialCapacity = 256) {
    this.grow(initialCapacity);
  }

  reset(): void {
    this.count = 0;
  }

  add(score: number, classId: number, x1: number, y1: number, x2: number, y2: number): void {
    const n = this.count;
    if (n === this.cap) this.grow(this.cap * 2);
    this.score[n] = score;
    this.cls[n] = classId;
    const b = n * 4;
    this.box[b] = x1;
    this.box[b + 1] = y1;
    this.box[b + 2] = x2;
    this.box[b + 3] = y2;
    this.count = n + 1;
  }

  /**
   * Class-wise NMS, best score first: a box is dropped when it overlaps a kept box of the same class by more
   * than `iouThreshold`. Boxes are compared unclipped (as YOLOX and Ultralytics do) and clipped to the source
   * frame only in the returned detections.
   */
  select(iouThreshold: number, labels: readonly string[], srcWidth: number, srcHeight: number): Detection[] {
    const n = this.count;
    if (n === 0) return [];
    const { score, box, cls, kept } = this;
    for (let i = 0; i < n; i++) this.order[i] = i;
    const order = this.order.subarray(0, n).sort((i, j) => score[j] - score[i]);
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
        if (inter / (areaI + areaJ - inter) > iouThreshold) {
          suppressed = true;
          break;
        }
      }
      if (!suppressed) kept[k++] = i;
    }
    const out: Detection[] = new Array<Detection>(k);
    for (let ki = 0; ki < k; ki++) {
      const i = kept[ki];
      const b = i * 4;
      out[ki] = {
        classId: cls[i],
        className: labels[cls[i]],
        score: score[i],
        x1: clamp(box[b], srcWidth),
        y1: clamp(box[b + 1], srcHeight),
        x2: clamp(box[b + 2], srcWidth),
        y2: clamp(box[b + 3], srcHeight),
        trackId: null,
      };
    }
    return out;
  }

  private grow(cap: number): void {
    const score = new Float32Array(cap);
    const cls = new Int32Array(cap);
    const box = new Float32Array(cap * 4);
    score.set(this.score);
    cls.set(this.cls);
    box.set(this.box);
    this.score = score;
    this.cls = cls;
    this.box = box;
    this.order = new Uint32Array(cap);
    this.kept = new Uint32Array(cap);
    this.cap = cap;
  }
}

function clamp(v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v;
}

/** What a head needs to decide whether a class score is kept. */
export interface ClassFilter {
  scoreThreshold: number;
  /** Per class id; overrides scoreThreshold for that class. */
  classThresholds?: ReadonlyMap<number, number>;
  /** Only these class ids are reported; absent or null: all. */
  keepClasses?: ReadonlySet<number> | null;
}

/** A threshold no sigmoid score can pass: marks a class that is filtered out. */
export const NEVER = 2;

/**
 * Per-class score thresholds as a flat table, rebuilt only when the options object's parts change (the worker
 * passes the same Map/Set every frame), so the per-frame cost is three identity checks.
 */
export class ThresholdTable {
  private table: Float64Array;
  private lastScore = Number.NaN;
  private lastClass: ReadonlyMap<number, number> | undefined = undefined;
  private lastKeep: ReadonlySet<number> | null | undefined = undefined;
  /** The lowest threshold of any class: an anchor whose best possible score is below it can be skipped. */
  min = 0;

  constructor(readonly numClasses: number) {
    this.table = new Float64Array(numClasses);
  }

  for(opts: ClassFilter): Float64Array {
    if (
      opts.scoreThreshold === this.lastScore &&
      opts.classThresholds === this.lastClass &&
      opts.keepClasses === this.lastKeep
    )
      return this.table;
    const t = this.table;
    t.fill(opts.scoreThreshold);
    if (opts.classThresholds)
      for (const [c, thr] of opts.classThresholds) if (c >= 0 && c < this.numClasses) t[c] = thr;
    if (opts.keepClasses)
      for (let c = 0; c < this.numClasses; c++) if (!opts.keepClasses.has(c)) t[c] = NEVER;
    let min = NEVER;
    for (let c = 0; c < this.numClasses; c++) if (t[c] < min) min = t[c];
    this.min = min;
    this.lastScore = opts.scoreThreshold;
    this.lastClass = opts.classThresholds;
    this.lastKeep = opts.keepClasses;
    return t;
  }
}
