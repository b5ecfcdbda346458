/**
 * Crowding: too many people standing in one zone for too long (corridor crush, canteen queue, a crowd
 * forming around a fight). Per camera, fed every sampled frame in order.
 */
import type { Analytic, AlarmCandidate, AnalyticsFrame, Box } from './types.js';
import { checkedTimeZone, footPoint, pointInPolygon, scheduleActive, type Zone } from './zones.js';

export interface CrowdingOptions {
  /** Limit for a zone that does not set its own maxPeople (default 25); a count above it is crowding. */
  maxPeople?: number;
  /** How long the count must stay above the limit before a candidate is raised (default 10000 ms). */
  holdMs?: number;
  /** "Gathering": the count rose by at least this many people (default 5)... */
  gatheringRise?: number;
  /** ...within this window (default 10000 ms). */
  gatheringWindowMs?: number;
}

export interface CrowdingConfig extends CrowdingOptions {
  schoolId: string;
  cameraId: string;
  /** All the camera's zones; watched: kind 'crowding', and any zone that sets maxPeople. */
  zones: Zone[];
  /** IANA time zone of the school, for schedules (default Asia/Almaty). */
  timeZone?: string;
}

export const CROWDING_DEFAULTS = {
  maxPeople: 25,
  holdMs: 10_000,
  gatheringRise: 5,
  gatheringWindowMs: 10_000,
} as const;

interface ZoneState {
  /** Start of the current run of frames above the limit; null when at or under it. */
  overSinceMs: number | null;
  /** Recent counts within gatheringWindowMs, oldest first. */
  history: { timeMs: number; count: number }[];
}

/** History is trimmed by time; this caps it too, should frames arrive far faster than expected. */
const MAX_HISTORY = 512;

/**
 * Counts person tracks whose foot point is inside each watched zone while its schedule is in force.
 * Coasting tracks count too: people in a crowd occlude each other, and the tracker only coasts briefly.
 * A count above the zone's limit for at least holdMs raises one 'medium' candidate per frame per zone,
 * with trackIds [] (the alarm is about the zone, and an alarm keyed by a track would restart as the crowd's
 * members change), cues { count, maxPeople, holdS, rise, gathering } and the union box of the people in it.
 * `rise` is the count now minus the lowest count within gatheringWindowMs (so a build-up that accelerates
 * counts, not only one compared with exactly 10 s ago); `gathering` is rise >= gatheringRise: people
 * converging, which the alarm side may treat as aggravating (a crowd forming around a fight).
 */
export class Crowding implements Analytic {
  readonly kind = 'crowding' as const;
  private readonly zones: Zone[];
  private readonly timeZone: string;
  private readonly maxPeople: number;
  private readonly holdMs: number;
  private readonly gatheringRise: number;
  private readonly gatheringWindowMs: number;
  private readonly state = new Map<string, ZoneState>();

  constructor(private readonly cfg: CrowdingConfig) {
    this.zones = cfg.zones.filter((z) => z.kind === 'crowding' || z.maxPeople !== undefined);
    this.timeZone = checkedTimeZone(cfg.timeZone);
    this.maxPeople = cfg.maxPeople ?? CROWDING_DEFAULTS.maxPeople;
    this.holdMs = cfg.holdMs ?? CROWDING_DEFAULTS.holdMs;
    this.gatheringRise = cfg.gatheringRise ?? CROWDING_DEFAULTS.gatheringRise;
    this.gatheringWindowMs = cfg.gatheringWindowMs ?? CROWDING_DEFAULTS.gatheringWindowMs;
    for (const z of this.zones) this.state.set(z.id, { overSinceMs: null, history: [] });
  }

  update(frame: AnalyticsFrame): AlarmCandidate[] {
    const out: AlarmCandidate[] = [];
    const now = frame.timeMs;
    const people = frame.tracks.filter((t) => t.className === 'person');
    const feet = people.map((t) => footPoint(t.box, frame.width, frame.height));
    for (const zone of this.zones) {
      const st = this.state.get(zone.id);
      if (!st) continue;
      if (!scheduleActive(zone.schedule, now, this.timeZone)) {
        st.overSinceMs = null;
        st.history = [];
        continue;
      }
      const inside = people.filter((_, i) => pointInPolygon(feet[i].x, feet[i].y, zone.polygon));
      const count = inside.length;
      st.history.push({ timeMs: now, count });
      while (st.history.length > MAX_HISTORY || now - st.history[0].timeMs > this.gatheringWindowMs) {
        st.history.shift();
      }
      const limit = zone.maxPeople ?? this.maxPeople;
      if (count <= limit) {
        st.overSinceMs = null;
        continue;
      }
      st.overSinceMs ??= now;
      const heldMs = now - st.overSinceMs;
      if (heldMs < this.holdMs) continue;
      const rise = count - Math.min(...st.history.map((h) => h.count));
      out.push({
        kind: 'crowding',
        severity: 'medium',
        schoolId: this.cfg.schoolId,
        cameraId: this.cfg.cameraId,
        zoneId: zone.id,
        trackIds: [],
        // Confidence grows with how far over the limit: just over is as likely a counting error as a crowd.
        score: Math.min(1, 0.5 + (0.5 * (count - limit)) / limit),
        cues: {
          count,
          maxPeople: limit,
          holdS: Math.round(heldMs / 100) / 10,
          rise,
          gathering: rise >= this.gatheringRise,
        },
        timeMs: now,
        evidenceSeq: frame.seq,
        box: unionBox(inside.map((t) => t.box)),
      });
    }
    return out;
  }
}

function unionBox(boxes: Box[]): Box {
  return {
    x1: Math.min(...boxes.map((b) => b.x1)),
    y1: Math.min(...boxes.map((b) => b.y1)),
    x2: Math.max(...boxes.map((b) => b.x2)),
    y2: Math.max(...boxes.map((b) => b.y2)),
  };
}
