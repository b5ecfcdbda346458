import { readFileSync } from 'node:fs';
import { KuzetError } from '../../engine/errors.js';
import { repoPath } from '../../engine/paths.js';

/** The class-names file shipped beside the model (80 COCO names in YOLOX order, one per line). */
export const defaultLabelsPath = repoPath('detectors', 'yolox', 'coco_classes.txt');

/**
 * Reads class names, one per line. Blank lines are dropped so a trailing newline or CRLF file is harmless;
 * a count mismatch is a model failure because every class id after the gap would be mislabelled.
 */
export function loadLabels(path: string = defaultLabelsPath, expected = 80): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KuzetError(
      'KUZET_ERR_MODEL',
      `Cannot read class names ${path}: restore it from the repository`,
      { cause: err },
    );
  }
  const labels = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (labels.length !== expected) {
    throw new KuzetError(
      'KUZET_ERR_MODEL',
      `${path}: expected ${expected} class names, found ${labels.length}`,
    );
  }
  return labels;
}
