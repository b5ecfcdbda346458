import { repoPath } from '../../engine/paths.js';

/** Facts about the shipped YOLOX-Nano export (see PROVENANCE.md); the decoder and session read them from here. */
export const YOLOX_INPUT_SIZE = 416;
export const YOLOX_INPUT_NAME = 'images';
export const YOLOX_OUTPUT_NAME = 'output';
export const YOLOX_NUM_CLASSES = 80;
export const YOLOX_STRIDES: readonly number[] = [8, 16, 32];
export const defaultModelPath = repoPath('detectors', 'yolox', 'yolox_nano.onnx');
/** Same weights with a symbolic batch dim 0 on `images` and `output` (made by make-dynamic-batch.py). */
export const dynamicBatchModelPath = repoPath('detectors', 'yolox', 'yolox_nano_dynamic.onnx');
