/**
 * Session and inputs of the bare onnxruntime-node baseline: plain ORT calls only, no Kuzet code, with the
 * session options Kuzet's inference workers use (detectors/yolox/session.ts) so only the surrounding code differs.
 */
import * as ort from 'onnxruntime-node';

// Same as Kuzet: a GPU provider that cannot load would otherwise print a raw native error.
ort.env.logLevel = 'fatal';

export type OrtProvider = 'cpu' | 'cuda';

export interface OrtLoopConfig {
  modelPath: string;
  intraOpNumThreads: number;
  /** ['cpu'] or ['cuda', 'cpu']; if CUDA cannot load, the session is opened on CPU and says so. */
  executionProviders: OrtProvider[];
  /** Images per session.run: inputs are [batch, 3, size, size]. */
  batch: number;
  size: number;
  /** Letterboxed [1,3,size,size] tensors; a batch takes them in turn. */
  images: Float32Array[];
}

export async function createOrtSession(
  cfg: OrtLoopConfig,
): Promise<{ session: ort.InferenceSession; provider: string }> {
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: cfg.intraOpNumThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  const gpu = cfg.executionProviders.some((p) => p !== 'cpu');
  try {
    const session = await ort.InferenceSession.create(cfg.modelPath, {
      ...base,
      executionProviders: cfg.executionProviders,
    });
    return { session, provider: gpu ? cfg.executionProviders.join('+') : 'cpu' };
  } catch (err) {
    if (!gpu) throw err;
    const session = await ort.InferenceSession.create(cfg.modelPath, {
      ...base,
      executionProviders: ['cpu'],
    });
    return {
      session,
      provider: `cpu (${cfg.executionProviders.join('+')} failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)})`,
    };
  }
}

/** One prepared input per image, each a [batch,3,size,size] tensor starting at a different image. */
export function ortInputs(cfg: OrtLoopConfig): ort.Tensor[] {
  const one = 3 * cfg.size * cfg.size;
  return cfg.images.map((_, first) => {
    const data = new Float32Array(cfg.batch * one);
    for (let b = 0; b < cfg.batch; b++) data.set(cfg.images[(first + b) % cfg.images.length], b * one);
    return new ort.Tensor('float32', data, [cfg.batch, 3, cfg.size, cfg.size]);
  });
}
