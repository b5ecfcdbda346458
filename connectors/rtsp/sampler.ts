/**
 * Per-camera sampling policies, applied at packet level (unwanted access units are never assembled).
 *
 * - `keyframes`: keyframes only, at most `maxFps` of them.
 * - `interval`: the first keyframe at or after each `everySeconds` mark. Marks are anchored on the
 *   first keyframe taken in a session and advance by whole periods, so a 2 s GOP sampled every 5 s
 *   yields samples at 0, 6, 10, 16, 20 s… (one per period, no drift), where a rate limit would give
 *   0, 6, 12, 18 s. Anchoring on the session rather than on wall-clock marks also spreads thousands
 *   of cameras over the period instead of sampling them all at :00.
 *
 * Both policies can be **boosted** for a while (an operator or an alarm wants a closer look):
 * `boost(fps, ms)` raises the rate to `fps` keyframes per second, then the base policy resumes
 * (interval marks keep their anchor). Sampling stays keyframes-only, so a boost cannot exceed the
 * camera's keyframe rate: a camera with a 2 s GOP gives 0.5 fps whatever the boost asks. A boost
 * never lowers the rate below the base policy; a new boost replaces the running one.
 *
 * Time is the stream's own (RTP timestamps, 90 kHz), not the wall clock: a 1 s GOP then yields
 * exactly one sample per second, where wall-clock arrival jitter of a millisecond would make
 * every other keyframe look "too early" and halve the rate. Some senders stamp every frame alike
 * (GStreamer fed an untimed elementary stream does), so the wall clock is a fallback: a keyframe
 * is also taken once a quarter interval more than the limit has passed in real time.
 *
 * `nowMs` arguments are `performance.now()` by default; callers that pass their own clock must pass
 * it to every method of one sampler (boost expiry is measured on it).
 */
import { performance } from 'node:perf_hooks';

export type SamplingPolicy =
  { type: 'keyframes'; maxFps: number } | { type: 'interval'; everySeconds: number };

export interface Sampler {
  readonly policy: SamplingPolicy;
  /** Should the access unit with this keyframe flag and RTP timestamp be taken? Does not commit. */
  want(keyframe: boolean, rtpTimestamp: number, nowMs?: number): boolean;
  /** Records that the unit at this timestamp was emitted (a wanted unit can still be lost in transit). */
  taken(rtpTimestamp: number, nowMs?: number): void;
  /** Forgets the last sample (new session: timestamps restart at a random base). Keeps a running boost. */
  reset(): void;
  /** Raises the rate to `maxFps` keyframes per second for `durationMs`; 0 ms cancels a running boost. */
  boost(maxFps: number, durationMs: number, nowMs?: number): void;
  /** Is a boost in effect at `nowMs`? */
  boosted(nowMs?: number): boolean;
  /** The sampling rate the policy aims at now (before the GOP caps it), in samples per second. */
  targetFps(nowMs?: number): number;
}

/** Largest interval accepted: keeps every period well inside half the 32-bit RTP timestamp space. */
export const MAX_INTERVAL_SECONDS = 3600;
/** Forward jumps longer than this (and than two periods) are treated as a resync, not as elapsed time. */
const RESYNC_SECONDS = 60;

/** Throws RangeError naming the field; the config schema validates first, so this guards programming errors. */
export function validatePolicy(p: SamplingPolicy): void {
  if (p.type === 'keyframes') {
    if (!(p.maxFps > 0) || !Number.isFinite(p.maxFps))
      throw new RangeError(`maxFps: must be > 0 (got ${p.maxFps})`);
  } else if (p.type === 'interval') {
    if (!(p.everySeconds > 0) || !(p.everySeconds <= MAX_INTERVAL_SECONDS)) {
      throw new RangeError(
        `everySeconds: must be > 0 and <= ${MAX_INTERVAL_SECONDS} (got ${p.everySeconds})`,
      );
    }
  } else {
    throw new RangeError(`sampling.type: unknown policy ${JSON.stringify((p as { type?: unknown }).type)}`);
  }
}

/** Serial-number comparison on 32-bit timestamps: a is at or after b (within half the space). */
const atOrAfter = (a: number, b: number) => (a - b) >>> 0 < 0x80000000;

class PolicySampler implements Sampler {
  /** Base spacing in RTP ticks: the rate limit (keyframes) or the period between marks (interval). */
  private readonly baseTicks: number;
  private readonly baseFps: number;
  private readonly marks: boolean;
  private readonly resyncTicks: number;
  private lastTaken: number | undefined;
  private lastTakenWallMs = 0;
  /** Interval policy: the next mark, as an RTP timestamp. */
  private nextMark: number | undefined;
  private boostFps = 0;
  private boostUntilMs = -Infinity;

  constructor(
    readonly policy: SamplingPolicy,
    private readonly clockRate = 90000,
  ) {
    validatePolicy(policy);
    this.marks = policy.type === 'interval';
    this.baseFps = policy.type === 'interval' ? 1 / policy.everySeconds : policy.maxFps;
    this.baseTicks = Math.round(clockRate / this.baseFps);
    this.resyncTicks = Math.max(clockRate * RESYNC_SECONDS, this.baseTicks * 2);
  }

  targetFps(nowMs = performance.now()): number {
    return this.boosted(nowMs) ? Math.max(this.boostFps, this.baseFps) : this.baseFps;
  }

  boosted(nowMs = performance.now()): boolean {
    return nowMs < this.boostUntilMs;
  }

  boost(maxFps: number, durationMs: number, nowMs = performance.now()): void {
    if (!(maxFps > 0) || !Number.isFinite(maxFps))
      throw new RangeError(`boost fps: must be > 0 (got ${maxFps})`);
    if (!(durationMs >= 0) || !Number.isFinite(durationMs))
      throw new RangeError(`boost duration: must be >= 0 ms (got ${durationMs})`);
    this.boostFps = maxFps;
    this.boostUntilMs = nowMs + durationMs;
  }

  want(keyframe: boolean, rtpTimestamp: number, nowMs = performance.now()): boolean {
    if (!keyframe) return false;
    if (this.lastTaken === undefined) return true;
    const ts = rtpTimestamp >>> 0;
    const elapsed = (ts - this.lastTaken) >>> 0;
    // Backwards or far-forward jumps (stream restarted, timestamp reset, long gap): take it and resync.
    if (elapsed >= 0x80000000 || elapsed > this.resyncTicks) return true;
    const wallElapsed = nowMs - this.lastTakenWallMs;
    if (this.boosted(nowMs) && this.boostFps > this.baseFps) {
      const ticks = this.clockRate / this.boostFps;
      if (elapsed >= ticks || wallElapsed >= 1250 / this.boostFps) return true;
    }
    if (this.marks && this.nextMark !== undefined) {
      if (atOrAfter(ts, this.nextMark)) return true;
    } else if (elapsed >= this.baseTicks) {
      return true;
    }
    return wallElapsed >= 1250 / this.baseFps;
  }

  taken(rtpTimestamp: number, nowMs = performance.now()): void {
    const ts = rtpTimestamp >>> 0;
    const prev = this.lastTaken;
    this.lastTaken = ts;
    this.lastTakenWallMs = nowMs;
    if (!this.marks) return;
    const resync =
      prev === undefined ||
      this.nextMark === undefined ||
      (ts - prev) >>> 0 >= 0x80000000 ||
      (ts - prev) >>> 0 > this.resyncTicks;
    if (resync) {
      this.nextMark = (ts + this.baseTicks) >>> 0;
      return;
    }
    // Advance to the first mark after this sample, by whole periods, so marks never drift.
    let mark = this.nextMark as number;
    if (atOrAfter(ts, mark)) {
      const behind = (ts - mark) >>> 0;
      mark = (mark + (Math.floor(behind / this.baseTicks) + 1) * this.baseTicks) >>> 0;
    }
    this.nextMark = mark;
  }

  reset(): void {
    this.lastTaken = undefined;
    this.nextMark = undefined;
  }
}

/** Builds the sampler for one camera's policy. */
export function createSampler(policy: SamplingPolicy, clockRate = 90000): Sampler {
  return new PolicySampler(policy, clockRate);
}

/** The original keyframes-at-most-maxFps sampler, kept for `new KeyframeSampler(maxFps)` callers. */
export class KeyframeSampler extends PolicySampler {
  constructor(
    readonly maxFps = 1,
    clockRate = 90000,
  ) {
    super({ type: 'keyframes', maxFps }, clockRate);
  }
}
