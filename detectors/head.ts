/**
 * The detector adapter contract (README, Detector adapters). A head knows one model family's input convention and how to
 * turn its raw output tensor into detections in source pixels; everything else (decoding frames, letterboxing,
 * ONNX sessions, batching) is shared. Adding a family is one class implementing DetectorHead plus a case below.
 */
import { readFileSync } from 'node:fs';
import { KuzetError } from '../engine/errors.js';
import type { Detection } from '../engine/types.js';
import { YoloxDecoder, type DecodeOptions, type FrameGeometry } from './yolox/decode.js';
import { Yolov5Head } from './yolov5/head.js';
import { Yolov8Head } from './yolov8/head.js';

export type { FrameGeometry } from './yolox/decode.js';

export type HeadKind = 'yolox' | 'yolov5' | 'yolov8';
export const headKinds: readonly HeadKind[] = ['yolox', 'yolov5', 'yolov8'];

/**
 * scoreThreshold / iouThreshold, plus optional classThresholds (per class id, overriding scoreThreshold) and
 * keepClasses (only these class ids; null or absent: all). A score is kept when strictly above its threshold.
 */
export type HeadDecodeOptions = DecodeOptions;

export interface DetectorHead {
  readonly kind: HeadKind;
  /** Side of the square model input. */
  readonly inputSize: number;
  /** What the model was trained on; prepareInput converts the pipeline's BGR 0..255 tensor to it. */
  readonly input: { readonly order: 'bgr' | 'rgb'; readonly scale: number };
  readonly labels: readonly string[];
  /**
   * One image's slice of the model output to detections in source pixels. `dims` is the output tensor's shape
   * (batch dim included; heads read the trailing dims). Throws KUZET_ERR_MODEL when the shape does not fit
   * the head and the label count.
   */
  decode(
    output: Float32Array,
    dims: readonly number[],
    geometry: FrameGeometry,
    opts: HeadDecodeOptions,
  ): Detection[];
}

/** YOLOX: raw grid-relative boxes decoded by YoloxDecoder; BGR 0..255 input, as the pipeline produces. */
export class YoloxHead implements DetectorHead {
  readonly kind = 'yolox' as const;
  readonly input = { order: 'bgr', scale: 1 } as const;
  private readonly decoder: YoloxDecoder;

  constructor(
    readonly labels: readonly string[],
    readonly inputSize = 416,
  ) {
    // The class count comes from the labels file, so a custom YOLOX model with its own classes fits too.
    this.decoder = new YoloxDecoder(labels, inputSize, labels.length);
  }

  decode(
    output: Float32Array,
    dims: readonly number[],
    geometry: FrameGeometry,
    opts: HeadDecodeOptions,
  ): Detection[] {
    const row = dims[dims.length - 1];
    if (row !== 5 + this.labels.length || dims[dims.length - 2] !== this.decoder.anchors) {
      throw new KuzetError(
        'KUZET_ERR_MODEL',
        `yolox head: output dims [${dims.join(',')}] do not match [N, ${this.decoder.anchors}, 5 + ${this.labels.length} labels] at input ${this.inputSize}`,
      );
    }
    return this.decoder.decode(output, geometry, opts);
  }
}

export function createHead(kind: HeadKind, labels: readonly string[], inputSize: number): DetectorHead {
  switch (kind) {
    case 'yolox':
      return new YoloxHead(labels, inputSize);
    case 'yolov5':
      return new Yolov5Head(labels, inputSize);
    case 'yolov8':
      return new Yolov8Head(labels, inputSize);
  }
}

/**
 * Converts one planar BGR 0..255 [3,S,S] tensor (what the decode pool makes) in place to the head's channel
 * order and scale: one pass, a swap of the B and R planes and a multiply, no allocation. A no-op for YOLOX.
 */
export function prepareInput(tensor: Float32Array, head: DetectorHead): Float32Array {
  const plane = head.inputSize * head.inputSize;
  if (tensor.length < 3 * plane)
    throw new RangeError(`prepareInput: tensor holds ${tensor.length} floats, needs ${3 * plane}`);
  const swap = head.input.order === 'rgb';
  const k = head.input.scale;
  if (swap) {
    const r = 2 * plane;
    for (let i = 0; i < plane; i++) {
      const b = tensor[i];
      tensor[i] = tensor[r + i] * k;
      tensor[r + i] = b * k;
    }
    if (k !== 1) for (let i = plane; i < r; i++) tensor[i] *= k;
  } else if (k !== 1) {
    for (let i = 0; i < 3 * plane; i++) tensor[i] *= k;
  }
  return tensor;
}

/**
 * Reads a labels file: one class name per line, line i = class id i. Blank lines are dropped so a trailing
 * newline or a CRLF file is harmless. The count is checked against the model output by the head.
 */
export function readLabels(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KuzetError('KUZET_ERR_MODEL', `Cannot read class names ${path}`, { cause: err });
  }
  const labels = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (labels.length === 0) throw new KuzetError('KUZET_ERR_MODEL', `${path}: no class names`);
  return labels;
}

export interface ClassFilterByName {
  /** Class name -> threshold, overriding the detector's scoreThreshold. */
  classThresholds?: Readonly<Record<string, number>>;
  /** Report only these class names. */
  classes?: readonly string[];
}

export interface ClassFilterById {
  classThresholds: Array<[number, number]>;
  keepClasses: number[] | null;
}

/** Maps class names from config to ids of the labels file; an unknown name is a RangeError naming it. */
export function classFilterIds(labels: readonly string[], byName: ClassFilterByName): ClassFilterById {
  const idOf = (name: string, key: string): number => {
    const i = labels.indexOf(name);
    if (i < 0)
      throw new RangeError(
        `${key}: unknown class "${name}" (the labels file has ${labels.length}: ${labels.slice(0, 12).join(', ')}${labels.length > 12 ? ', ...' : ''})`,
      );
    return i;
  };
  const classThresholds: Array<[number, number]> = Object.entries(byName.classThresholds ?? {}).map(
    ([name, thr]) => [idOf(name, 'classThresholds'), thr],
  );
  const keepClasses = byName.classes ? byName.classes.map((n) => idOf(n, 'classes')) : null;
  return { classThresholds, keepClasses };
}
