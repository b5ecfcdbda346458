/**
 * Per-camera sampling policy: keyframes only, at most `maxFps` of them.
 *
 * Time is the stream's own (RTP timestamps, 90 kHz), not the wall clock: a 1 s GOP then yields
 * exactly one sample per second, where wall-clock arrival jitter of a millisecond would make
 * every other keyframe look "too early" and halve the rate. Some senders stamp every frame alike
 * (GStreamer fed an untimed elementary stream does), so the wall clock is a fallback: a keyframe
 * is also taken once a quarter interval more than the limit has passed in real time.
 */
import { performance } from 'node:perf_hooks';

export class KeyframeSampler {
  private readonly minTicks: number;
  private lastTaken: number | undefined;
  private lastTakenWallMs = 0;
  private readonly wallMs: number;

  constructor(
    readonly maxFps = 1,
    private readonly clockRate = 90000,
  ) {
    if (!(maxFps > 0)) throw new RangeError(`maxFps: must be > 0 (got ${maxFps})`);
    this.minTicks = clockRate / maxFps;
    this.wallMs = 1250 / maxFps;
  }

  /** Should the access unit with this keyframe flag and RTP timestamp be taken? Does not commit. */
  want(keyframe: boolean, rtpTimestamp: number, nowMs = performance.now()): boolean {
    if (!keyframe) return false;
    if (this.lastTaken === undefined) return true;
    const elapsed = (rtpTimestamp - this.lastTaken) >>> 0;
    // Backwards or far-forward jumps (stream restarted, timestamp reset, long gap): take it and resync.
    if (elapsed >= 0x80000000 || elapsed > this.clockRate * 60) return true;
    return elapsed >= this.minTicks || nowMs - this.lastTakenWallMs >= this.wallMs;
  }

  /** Records that the unit at this timestamp was emitted (a wanted unit can still be lost in transit). */
  taken(rtpTimestamp: number, nowMs = performance.now()): void {
    this.lastTaken = rtpTimestamp >>> 0;
    this.lastTakenWallMs = nowMs;
  }

  /** Forgets the last sample (new session: timestamps restart at a random base). */
  reset(): void {
    this.lastTaken = undefined;
  }
}
