/**
 * Default pool sizes for `auto`: one inference worker per core (YOLOX inference is the heavy stage) and one
 * decode worker per 4 cores (a keyframe decodes ~4x faster than the model infers it). On 2 cores that is
 * 1 decode + 2 infer, which `npm run bench -- pipeline` measured at 88 samples/s against 64 for 1 + 1.
 */
export function autoPoolThreads(cores: number): { decodeThreads: number; inferThreads: number } {
  const n = Math.max(1, Math.floor(cores));
  return { decodeThreads: Math.max(1, Math.round(n / 4)), inferThreads: n };
}
