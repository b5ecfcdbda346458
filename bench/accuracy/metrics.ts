/**
 * Clip-level detection metrics for the accuracy suite: a clip is one sample, labelled fight or not, and a
 * detector either flags it or does not. Pure functions, no I/O.
 */

export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export interface Scores extends Confusion {
  /** tp / (tp + fp); 0 when nothing was flagged (zero-division counted as 0, as scikit-learn's default). */
  precision: number;
  /** tp / (tp + fn); 0 when there are no positives. */
  recall: number;
  f1: number;
}

export function confusion(truth: readonly boolean[], flagged: readonly boolean[]): Confusion {
  if (truth.length !== flagged.length) throw new RangeError('confusion: truth and flagged differ in length');
  const c: Confusion = { tp: 0, fp: 0, fn: 0, tn: 0 };
  truth.forEach((t, i) => {
    const f = flagged[i];
    if (t && f) c.tp++;
    else if (!t && f) c.fp++;
    else if (t) c.fn++;
    else c.tn++;
  });
  return c;
}

export function scores(c: Confusion): Scores {
  const precision = c.tp + c.fp > 0 ? c.tp / (c.tp + c.fp) : 0;
  const recall = c.tp + c.fn > 0 ? c.tp / (c.tp + c.fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { ...c, precision, recall, f1 };
}

export interface SweepPoint extends Scores {
  threshold: number;
}

/** Thresholds from `from` to `to` inclusive in `step`, computed in integer hundredths so 0.3 + 0.05k stays exact. */
export function thresholds(from: number, to: number, step: number): number[] {
  const a = Math.round(from * 100);
  const b = Math.round(to * 100);
  const s = Math.round(step * 100);
  if (s <= 0) throw new RangeError('thresholds: step must be positive');
  const out: number[] = [];
  for (let v = a; v <= b; v += s) out.push(v / 100);
  return out;
}

/** A clip is flagged at threshold t when its max score >= t. */
export function sweep(
  truth: readonly boolean[],
  maxScores: readonly number[],
  ts: readonly number[],
): SweepPoint[] {
  return ts.map((threshold) => ({
    threshold,
    ...scores(
      confusion(
        truth,
        maxScores.map((s) => s >= threshold),
      ),
    ),
  }));
}

/** The point with the highest F1; ties go to the higher threshold (fewer alarms for the same F1). */
export function bestF1(points: readonly SweepPoint[]): SweepPoint | undefined {
  let best: SweepPoint | undefined;
  for (const p of points) if (!best || p.f1 >= best.f1) best = p;
  return best;
}

/** Highest recall among points with precision >= minPrecision (ties: higher threshold); undefined if none. */
export function recallAtPrecision(
  points: readonly SweepPoint[],
  minPrecision: number,
): SweepPoint | undefined {
  let best: SweepPoint | undefined;
  for (const p of points) {
    if (p.tp + p.fp === 0 || p.precision < minPrecision) continue;
    if (!best || p.recall >= best.recall) best = p;
  }
  return best;
}

/** Intersection over union of two corner boxes. */
export function iou(
  a: { x1: number; y1: number; x2: number; y2: number },
  b: { x1: number; y1: number; x2: number; y2: number },
): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/** Largest IoU between any two boxes of the list (0 with fewer than two). */
export function maxPairIou(boxes: readonly { x1: number; y1: number; x2: number; y2: number }[]): number {
  let best = 0;
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) best = Math.max(best, iou(boxes[i], boxes[j]));
  }
  return best;
}
