import { KuzetError } from '../../engine/errors.js';
import type { Detection } from '../../engine/types.js';
import type { DetectorHead, FrameGeometry, HeadDecodeOptions } from '../head.js';
import { Candidates, ThresholdTable } from '../nms.js';

/**
 * YOLOv5 ONNX export head: output [N, anchors, 5 + classes], each row (cx, cy, w, h) in input pixels,
 * objectness, then per-class scores, all already sigmoid-ed. Score = objectness x class score, as in
 * YOLOv5's own NMS. Every class above its threshold becomes a candidate (multi-label, like the YOLOX head).
 */
export class Yolov5Head implements DetectorHead {
  readonly kind = 'yolov5' as const;
  /** Ultralytics trains on RGB scaled to 0..1. */
  readonly input = { order: 'rgb', scale: 1 / 255 } as const;
  private readonly candidates = new Candidates();
  private readonly thresholds: ThresholdTable;

  constructor(
    readonly labels: readonly string[],
    readonly inputSize = 640,
  ) {
    this.thresholds = new ThresholdTable(labels.length);
  }

  decode(
    output: Float32Array,
    dims: readonly number[],
    geom: FrameGeometry,
    opts: HeadDecodeOptions,
  ): Detection[] {
    const row = dims[dims.length - 1];
    const anchors = dims[dims.length - 2];
    const numClasses = this.labels.length;
    if (dims.length < 2 || row !== 5 + numClasses) {
      throw new KuzetError(
        'KUZET_ERR_MODEL',
        `yolov5 head: output dims [${dims.join(',')}] do not match [N, anchors, 5 + ${numClasses} labels]`,
      );
    }
    if (output.length !== anchors * row)
      throw new RangeError(`yolov5 head: output has ${output.length} floats, expected ${anchors}x${row}`);
    const table = this.thresholds.for(opts);
    const minThr = this.thresholds.min;
    const inv = 1 / geom.scale;
    const cand = this.candidates;
    cand.reset();
    for (let a = 0; a < anchors; a++) {
      const base = a * row;
      const obj = output[base + 4];
      // Class scores are <= 1, so a weak objectness rules out every class of this anchor.
      if (obj <= minThr) continue;
      const hw = output[base + 2] / 2;
      const hh = output[base + 3] / 2;
      const x1 = (output[base] - hw) * inv;
      const y1 = (output[base + 1] - hh) * inv;
      const x2 = (output[base] + hw) * inv;
      const y2 = (output[base + 1] + hh) * inv;
      for (let c = 0; c < numClasses; c++) {
        const score = obj * output[base + 5 + c];
        if (score > table[c]) cand.add(score, c, x1, y1, x2, y2);
      }
    }
    return cand.select(opts.iouThreshold, this.labels, geom.srcWidth, geom.srcHeight);
  }
}
