import type { Sample, VideoCodec } from '../../engine/types.js';

/** A sample as the ring holds it. `data` is a view of the ring's own buffer: valid until that slot is reused. */
export interface HeldSample {
  seq: number;
  codec: VideoCodec;
  captureTimeMs: number;
  data: Uint8Array;
}

interface Slot {
  seq: number;
  codec: VideoCodec;
  captureTimeMs: number;
  buf: Uint8Array;
  length: number;
}

/** Growth step: keyframe sizes wander by a few percent, so a slot gets headroom instead of reallocating each time. */
const ROUND = 4096;
const headroom = (n: number) => Math.ceil((n * 1.25) / ROUND) * ROUND;

/**
 * The last `capacity` samples of one camera, copied into buffers the ring owns. The engine transfers each
 * sample's bytes to a decode worker, so evidence needs its own copy; once every slot has grown to the camera's
 * keyframe size a sample costs one memcpy and no allocation.
 */
export class SampleRing {
  private readonly slots: Slot[] = [];
  private next = 0;
  private allocated = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1))
      throw new RangeError(`SampleRing: capacity must be an integer >= 1, got ${capacity}`);
  }

  put(sample: Sample): void {
    const n = sample.data.byteLength;
    let slot = this.slots[this.next];
    if (!slot) {
      slot = { seq: -1, codec: sample.codec, captureTimeMs: 0, buf: new Uint8Array(headroom(n)), length: 0 };
      this.allocated += slot.buf.byteLength;
      this.slots[this.next] = slot;
    } else if (slot.buf.byteLength < n) {
      this.allocated -= slot.buf.byteLength;
      slot.buf = new Uint8Array(headroom(n));
      this.allocated += slot.buf.byteLength;
    }
    slot.buf.set(sample.data);
    slot.length = n;
    slot.seq = sample.seq;
    slot.codec = sample.codec;
    slot.captureTimeMs = sample.captureTimeMs;
    this.next = (this.next + 1) % this.capacity;
  }

  get(seq: number): HeldSample | undefined {
    for (const s of this.slots) {
      if (s.seq === seq && s.length > 0)
        return { seq, codec: s.codec, captureTimeMs: s.captureTimeMs, data: s.buf.subarray(0, s.length) };
    }
    return undefined;
  }

  /** Bytes of buffer the ring holds (its slots' capacity, not the samples' sizes). */
  get bytes(): number {
    return this.allocated;
  }
}
