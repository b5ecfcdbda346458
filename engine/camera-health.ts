/**
 * Per-camera health from the sources' own counters: state (online / degraded / offline), bitrate,
 * stream frame rate, loss, sample age, reconnects.
 *
 * Fed by periodic `update(key, counters, nowMs)` (the engine polls every source's counters, say every
 * 5 s: no per-packet work here), `onSample` and `onStatus`. Rates and loss are computed over a sliding
 * window of those updates. Times are wall-clock ms (`Date.now()`), the clock the metrics use.
 *
 * Prometheus export is aggregated per school (labels school and state only, never camera), so
 * 15 000 cameras cost a few series per school. Per-camera detail is in `snapshot()` and in the
 * degraded/recovered transitions, which the engine publishes on `kuzet.cam.<school>.<camera>`.
 */
import { Gauge, type Registry } from 'prom-client';
import type { CameraStatus } from './types.js';

/** The RTSP source's counters (`RtspSourceCounters`); the HTTP snapshot source fills the same fields. */
export interface CameraCounters {
  packets: number;
  bytes: number;
  /** Pictures seen in the stream (sampled or not): the stream's frame rate. */
  accessUnits: number;
  sampled: number;
  skipped: number;
  /** Pictures lost to packet loss. */
  lossDiscarded: number;
  reconnects: number;
  /** RTP packets missing by sequence number, when the source counts them (preferred loss measure). */
  packetsLost?: number;
}

export type CameraHealthState = 'online' | 'degraded' | 'offline';
export type DegradedReason = 'loss' | 'low-fps' | 'stale-samples';

export interface CameraInfo {
  schoolId: string;
  cameraId: string;
  /** The stream's nominal frame rate; without it the low-fps check is off. */
  expectedFps?: number;
  /** Expected time between samples (the sampling policy's interval); without it the stale check is off. */
  sampleIntervalMs?: number;
}

export interface CameraHealthSnapshot {
  key: string;
  schoolId: string;
  cameraId: string;
  state: CameraHealthState;
  reasons: DegradedReason[];
  /** Since when in the current state (ms since epoch). */
  since: number;
  /** Ms since the last sample (or since online when none yet); null while offline with no sample ever. */
  sampleAgeMs: number | null;
  bitrateBps: number | null;
  fps: number | null;
  /** Lost fraction over the window: packets when counted, else pictures. Null without traffic. */
  lossRatio: number | null;
  reconnects: number;
}

export type CameraHealthTransition =
  | {
      type: 'camera-degraded';
      schoolId: string;
      cameraId: string;
      at: number;
      reasons: DegradedReason[];
      lossRatio: number | null;
      fps: number | null;
      sampleAgeMs: number | null;
    }
  | { type: 'camera-recovered'; schoolId: string; cameraId: string; at: number; degradedSince: number };

export interface CameraHealthOptions {
  /** Window for rates and loss (default 30 000 ms). */
  windowMs?: number;
  /** Degraded above this loss ratio (default 0.02). */
  maxLossRatio?: number;
  /** Degraded below this fraction of expectedFps (default 0.5). */
  minFpsRatio?: number;
  /** Degraded when the last sample is older than this many sampling intervals (default 3). */
  maxSampleAgeIntervals?: number;
  /** Called on degraded and recovered transitions; must not throw (it is caught and ignored). */
  onTransition?: (t: CameraHealthTransition) => void;
  /** Wall clock for scrapes and defaults (tests inject one); default Date.now. */
  now?: () => number;
}

interface Point {
  at: number;
  c: CameraCounters;
}

interface Camera {
  info: CameraInfo;
  key: string;
  /** Source-reported connectivity; degraded is derived on top of online. */
  connected: boolean;
  state: CameraHealthState;
  since: number;
  reasons: DegradedReason[];
  history: Point[];
  lastSampleAt: number | undefined;
  onlineAt: number | undefined;
}

export function cameraKey(schoolId: string, cameraId: string): string {
  return `${schoolId}.${cameraId}`;
}

const STATES: readonly CameraHealthState[] = ['online', 'degraded', 'offline'];

export class CameraHealth {
  private readonly cams = new Map<string, Camera>();
  private readonly windowMs: number;
  private readonly maxLoss: number;
  private readonly minFpsRatio: number;
  private readonly maxAgeIntervals: number;
  private readonly now: () => number;

  constructor(
    registry: Registry,
    private readonly opts: CameraHealthOptions = {},
  ) {
    this.windowMs = opts.windowMs ?? 30_000;
    this.maxLoss = opts.maxLossRatio ?? 0.02;
    this.minFpsRatio = opts.minFpsRatio ?? 0.5;
    this.maxAgeIntervals = opts.maxSampleAgeIntervals ?? 3;
    this.now = opts.now ?? Date.now;
    const states: Gauge<'school' | 'state'> = new Gauge({
      name: 'kuzet_cameras',
      help: 'Cameras per school and health state (online, degraded, offline)',
      labelNames: ['school', 'state'] as const,
      registers: [registry],
      collect: () => {
        states.reset();
        const now = this.now();
        for (const [school, list] of this.bySchool()) {
          const counts: Record<CameraHealthState, number> = { online: 0, degraded: 0, offline: 0 };
          for (const c of list) counts[this.evaluate(c, now)]++;
          for (const state of STATES) states.set({ school, state }, counts[state]);
        }
      },
    });
    const bitrate: Gauge<'school'> = new Gauge({
      name: 'kuzet_camera_bitrate_bits',
      help: 'Sum of camera bitrates per school, bits per second over the health window',
      labelNames: ['school'] as const,
      registers: [registry],
      collect: () => {
        bitrate.reset();
        for (const [school, list] of this.bySchool()) {
          let sum = 0;
          for (const c of list) sum += c.connected ? (this.rates(c).bitrateBps ?? 0) : 0;
          bitrate.set({ school }, sum);
        }
      },
    });
    const loss: Gauge<'school'> = new Gauge({
      name: 'kuzet_camera_loss_ratio',
      help: 'Mean loss ratio of the school cameras with traffic in the health window',
      labelNames: ['school'] as const,
      registers: [registry],
      collect: () => {
        loss.reset();
        for (const [school, list] of this.bySchool()) {
          const losses = list.flatMap((c) => {
            const l = c.connected ? this.rates(c).lossRatio : null;
            return l === null ? [] : [l];
          });
          loss.set({ school }, losses.length === 0 ? 0 : losses.reduce((a, b) => a + b, 0) / losses.length);
        }
      },
    });
    const age: Gauge<'school'> = new Gauge({
      name: 'kuzet_camera_sample_age_seconds',
      help: 'Oldest last-sample age among the school cameras that are online or degraded',
      labelNames: ['school'] as const,
      registers: [registry],
      collect: () => {
        age.reset();
        const now = this.now();
        for (const [school, list] of this.bySchool()) {
          let max = 0;
          for (const c of list) if (c.connected) max = Math.max(max, this.sampleAge(c, now) ?? 0);
          age.set({ school }, max / 1000);
        }
      },
    });
  }

  /** Declares a camera (it counts as offline until its source reports online). Re-registering updates its info. */
  register(info: CameraInfo, nowMs = this.now()): string {
    return this.add(cameraKey(info.schoolId, info.cameraId), info, nowMs);
  }

  private add(key: string, info: CameraInfo, nowMs: number): string {
    const existing = this.cams.get(key);
    if (existing) existing.info = { ...info };
    else
      this.cams.set(key, {
        info: { ...info },
        key,
        connected: false,
        state: 'offline',
        since: nowMs,
        reasons: [],
        history: [],
        lastSampleAt: undefined,
        onlineAt: undefined,
      });
    return key;
  }

  /** Forgets a camera (removed from the configuration). */
  remove(key: string): void {
    this.cams.delete(key);
  }

  update(key: string, counters: CameraCounters, nowMs = this.now()): void {
    const c = this.camera(key, nowMs);
    const last = c.history.at(-1);
    // A counter going down means a new source object: rates restart rather than go negative.
    if (
      last &&
      (counters.bytes < last.c.bytes ||
        counters.accessUnits < last.c.accessUnits ||
        counters.packets < last.c.packets ||
        (counters.packetsLost ?? 0) < (last.c.packetsLost ?? 0))
    )
      c.history = [];
    c.history.push({ at: nowMs, c: { ...counters } });
    // Keep one point at or before the window start as the baseline.
    while (c.history.length > 2 && c.history[1]!.at <= nowMs - this.windowMs) c.history.shift();
    this.evaluate(c, nowMs);
  }

  onSample(key: string, nowMs = this.now()): void {
    this.camera(key, nowMs).lastSampleAt = nowMs;
  }

  onStatus(s: CameraStatus | { type: string; schoolId: string; cameraId: string; at: number }): void {
    const c = this.camera(cameraKey(s.schoolId, s.cameraId), s.at);
    if (s.type === 'camera-online') {
      if (!c.connected) {
        c.connected = true;
        c.onlineAt = s.at;
        c.history = [];
        this.setState(c, 'online', s.at, []);
      }
    } else if (s.type === 'camera-offline') {
      c.connected = false;
      c.onlineAt = undefined;
      this.setState(c, 'offline', s.at, []);
    }
    this.evaluate(c, s.at);
  }

  snapshot(nowMs = this.now()): CameraHealthSnapshot[] {
    return [...this.cams.values()].map((c) => {
      const state = this.evaluate(c, nowMs);
      const r = this.rates(c);
      const last = c.history.at(-1);
      return {
        key: c.key,
        schoolId: c.info.schoolId,
        cameraId: c.info.cameraId,
        state,
        reasons: [...c.reasons],
        since: c.since,
        sampleAgeMs: this.sampleAge(c, nowMs),
        bitrateBps: r.bitrateBps,
        fps: r.fps,
        lossRatio: r.lossRatio,
        reconnects: last?.c.reconnects ?? 0,
      };
    });
  }

  private camera(key: string, nowMs: number): Camera {
    let c = this.cams.get(key);
    if (!c) {
      const dot = key.indexOf('.');
      const schoolId = dot < 0 ? key : key.slice(0, dot);
      const cameraId = dot < 0 ? key : key.slice(dot + 1);
      this.add(key, { schoolId, cameraId }, nowMs);
      c = this.cams.get(key)!;
    }
    return c;
  }

  private *bySchool(): Generator<[string, Camera[]]> {
    const m = new Map<string, Camera[]>();
    for (const c of this.cams.values()) {
      const list = m.get(c.info.schoolId);
      if (list) list.push(c);
      else m.set(c.info.schoolId, [c]);
    }
    yield* m;
  }

  private sampleAge(c: Camera, nowMs: number): number | null {
    // Since the last sample, or since (re)connecting when that is later: a camera that just came
    // back is not stale because of samples missed while it was away.
    const ref = Math.max(c.lastSampleAt ?? -Infinity, c.onlineAt ?? -Infinity);
    return ref === -Infinity ? null : Math.max(0, nowMs - ref);
  }

  private rates(c: Camera): {
    bitrateBps: number | null;
    fps: number | null;
    lossRatio: number | null;
    spanMs: number;
  } {
    const first = c.history[0];
    const last = c.history.at(-1);
    if (!first || !last || last.at <= first.at)
      return { bitrateBps: null, fps: null, lossRatio: null, spanMs: 0 };
    const s = (last.at - first.at) / 1000;
    const d = (f: keyof CameraCounters) => (last.c[f] ?? 0) - (first.c[f] ?? 0);
    let lossRatio: number | null;
    if (last.c.packetsLost !== undefined && first.c.packetsLost !== undefined) {
      const lost = d('packetsLost');
      const total = d('packets') + lost;
      lossRatio = total > 0 ? Math.max(0, lost) / total : null;
    } else {
      const aus = d('accessUnits');
      lossRatio = aus > 0 ? d('lossDiscarded') / aus : null;
    }
    return {
      bitrateBps: (d('bytes') * 8) / s,
      fps: d('accessUnits') / s,
      lossRatio,
      spanMs: last.at - first.at,
    };
  }

  /** Recomputes degraded vs online for a connected camera; fires transitions. Returns the state. */
  private evaluate(c: Camera, nowMs: number): CameraHealthState {
    if (!c.connected) return c.state;
    const reasons: DegradedReason[] = [];
    const r = this.rates(c);
    // Rates need a meaningful span: half a window, so one late update cannot flag a camera.
    const enough = r.spanMs >= this.windowMs / 2;
    if (enough && r.lossRatio !== null && r.lossRatio > this.maxLoss) reasons.push('loss');
    const expected = c.info.expectedFps;
    if (
      enough &&
      expected !== undefined &&
      expected > 0 &&
      r.fps !== null &&
      r.fps < expected * this.minFpsRatio
    )
      reasons.push('low-fps');
    const interval = c.info.sampleIntervalMs;
    const age = this.sampleAge(c, nowMs);
    if (interval !== undefined && interval > 0 && age !== null && age > interval * this.maxAgeIntervals)
      reasons.push('stale-samples');
    this.setState(c, reasons.length > 0 ? 'degraded' : 'online', nowMs, reasons);
    return c.state;
  }

  private setState(c: Camera, state: CameraHealthState, nowMs: number, reasons: DegradedReason[]): void {
    const prev = c.state;
    const prevSince = c.since;
    c.reasons = reasons;
    if (prev === state) return;
    c.state = state;
    c.since = nowMs;
    const r = this.rates(c);
    if (state === 'degraded') {
      this.fire({
        type: 'camera-degraded',
        schoolId: c.info.schoolId,
        cameraId: c.info.cameraId,
        at: nowMs,
        reasons: [...reasons],
        lossRatio: r.lossRatio,
        fps: r.fps,
        sampleAgeMs: this.sampleAge(c, nowMs),
      });
    } else if (prev === 'degraded' && state === 'online') {
      this.fire({
        type: 'camera-recovered',
        schoolId: c.info.schoolId,
        cameraId: c.info.cameraId,
        at: nowMs,
        degradedSince: prevSince,
      });
    }
  }

  private fire(t: CameraHealthTransition): void {
    try {
      this.opts.onTransition?.(t);
    } catch {
      // A failing publisher must not break health tracking; the engine logs its own publish errors.
    }
  }
}
