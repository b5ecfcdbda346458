import type { VideoCodec } from '../types.js';
import { KeyframeDecoder } from './keyframe-decoder.js';

/**
 * Per-stream keyframe decoders, least recently used evicted first. Bounded because a city fleet has thousands
 * of cameras and each open H.264 context holds native memory; a camera that comes back after eviction only
 * pays one codec open.
 */
export class DecoderCache {
  private readonly map = new Map<string, KeyframeDecoder>();

  constructor(
    readonly capacity = 256,
    private readonly size = 416,
  ) {
    if (!(capacity >= 1)) throw new RangeError(`DecoderCache: capacity must be >= 1, got ${capacity}`);
  }

  get(stream: string, codec: VideoCodec): KeyframeDecoder {
    let dec = this.map.get(stream);
    if (dec) {
      this.map.delete(stream);
      if (dec.codec !== codec) {
        dec.close();
        dec = undefined;
      }
    }
    dec ??= new KeyframeDecoder(codec, this.size);
    this.map.set(stream, dec);
    while (this.map.size > this.capacity) {
      const [oldest, old] = this.map.entries().next().value as [string, KeyframeDecoder];
      this.map.delete(oldest);
      old.close();
    }
    return dec;
  }

  /** Drops a stream's decoder, e.g. after it failed, so the next keyframe starts from a fresh context. */
  drop(stream: string): void {
    const dec = this.map.get(stream);
    if (!dec) return;
    this.map.delete(stream);
    dec.close();
  }

  get count(): number {
    return this.map.size;
  }

  close(): void {
    for (const dec of this.map.values()) dec.close();
    this.map.clear();
  }
}
