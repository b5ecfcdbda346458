import { KuzetError } from '../../engine/errors.js';
import type { Detection } from '../../engine/types.js';
import type { DetectorHead, FrameGeometry, HeadDecodeOptions } from '../head.js';
import { Candidates, ThresholdTable } from '../nms.js';

/**
 * YOLOv8 (and later Ultralytics) ONNX export head: output [N, 4 + classes, anchors], transposed: plane 0..3
 * hold cx, cy, w, h in input pixels, then one plane of sigmoid-ed scores per class; there is no objectness.
 * Every class above its threshold becomes a candidate (multi-label, like the other heads).
 */
export class Yolov8Head implements DetectorHead {
  readonly kind = 'yolov8' as const;
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
    const planes = dims[dims.length - 2];
    const anchors = dims[dims.length - 1];
    const numClasses = this.labels.length;
    if (dims.length < 2 || planes !== 4 + numClasses) {
      throw new KuzetError(
        'KUZET_ERR_MODEL',
        `yolov8 head: output dims [${dims.join(',')}] do not match [N, 4 + ${numClasses} labels, anchors]`,
      );
    }
    if (output.length !== anchors * planes)
      throw new RangeError(`yolov8 head: output has ${output.length} floats, expected ${planes}x${anchors}`);
    const table = this.thresholds.for(opts);
    const inv = 1 / geom.scale;
    const cand = this.candidates;
    cand.reset();
    // Class-major walk: each class plane is contiguous, so this reads memory in order (anchor-major would
    // stride by `anchors` floats for every class score).
    for (let c = 0; c < numClasses; c++) {
      const thr = table[c];
      if (thr >= 1) continue; // filtered out by keepClasses
      const plane = (4 + c) * anchors;
      for (let a = 0; a < anchors; a++) {
        const score = output[plane + a];
        if (score <= thr) continue;
        const cx = output[a];
        const cy = output[anchors + a];
        const hw = output[2 * anchors + a] / 2;
        const hh = output[3 * anchors + a] / 2;
        cand.add(score, c, (cx - hw) * inv, (cy - hh) * inv, (cx + hw) * inv, (cy + hh) * inv);
      }
    }
    return cand.select(opts.iouThreshold, this.labels, geom.srcWidth, geom.srcHeight);
  }
}
