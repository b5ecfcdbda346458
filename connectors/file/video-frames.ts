import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { KuzetError } from '../../engine/errors.js';

export interface VideoFrame {
  /** One JPEG image. */
  jpeg: Uint8Array;
  /** Media time of the frame, ms from the start of the file. */
  ptsMs: number;
  index: number;
}

/**
 * Frames of a recorded video file (any container or codec FFmpeg reads) sampled at `fps`, as JPEG stills, as
 * fast as FFmpeg decodes them. For offline replay: the engine's analytics then see the file the way they see
 * a camera sampled at that rate. Frames are split on the JPEG end-of-image marker, which cannot occur inside
 * entropy-coded data (0xFF is always stuffed there).
 */
export async function* videoFrames(file: string, fps: number): AsyncGenerator<VideoFrame> {
  if (!existsSync(file)) throw new KuzetError('KUZET_ERR_CONFIG', `replay: no such file ${file}`);
  if (!(fps > 0 && fps <= 60))
    throw new KuzetError('KUZET_ERR_CONFIG', `replay: --fps must be in (0, 60], got ${fps}`);
  const ff = spawn(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', '-nostdin', '-i', file],
      ...['-vf', `fps=${fps}`, '-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', '2', '-'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  ff.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 4000) stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => ff.on('close', (code) => resolve(code)));
  const spawnError = new Promise<Error>((resolve) => ff.on('error', resolve));
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  try {
    for await (const chunk of ff.stdout as AsyncIterable<Buffer>) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        const end = pending.indexOf(EOI);
        if (end < 0) break;
        const jpeg = new Uint8Array(pending.subarray(0, end + 2));
        pending = pending.subarray(end + 2);
        yield { jpeg, ptsMs: (index * 1000) / fps, index };
        index++;
      }
    }
  } finally {
    if (ff.exitCode === null) ff.kill('SIGKILL');
  }
  const code = await Promise.race([exited, spawnError.then((e) => e)]);
  if (code instanceof Error)
    throw new KuzetError('KUZET_ERR_CONFIG', `replay: cannot run ffmpeg: ${code.message}`);
  if (code !== 0 || index === 0)
    throw new KuzetError(
      'KUZET_ERR_DECODE',
      `replay: ffmpeg could not read ${file} (exit ${code}): ${stderr.trim() || 'no frames'}`,
    );
}

const EOI = Buffer.from([0xff, 0xd9]);
