/**
 * Zone intrusion: a person standing in a restricted zone (attic, basement, service rooms) while the zone's
 * schedule is in force. Per camera, fed every sampled frame in order.
 */
import type { Analytic, AlarmCandidate, AnalyticsFrame } from './types.js';
import { activeZones, checkedTimeZone, footPoint, pointInPolygon, type Zone } from './zones.js';

export interface ZoneIntrusionOptions {
  /**
   * How long a person must stay inside before a candidate is raised (default 2000 ms), measured from the
   * first in-zone sample: at 1 fps the third consecutive in-zone sample raises (two sample intervals).
   * Filters a single misplaced box and someone cutting across a zone corner.
   */
  dwellMs?: number;
  /** State of a track not seen in any frame for this long is dropped (default 10000 ms). */
  forgetMs?: number;
}

export interface ZoneIntrusionConfig extends ZoneIntrusionOptions {
  schoolId: string;
  cameraId: string;
  /** All the camera's zones; only kind 'restricted' ones are watched. */
  zones: Zone[];
  /** IANA time zone of the school, for schedules (default Asia/Almaty). */
  timeZone?: string;
}

export const INTRUSION_DEFAULTS = { dwellMs: 2000, forgetMs: 10_000 } as const;

interface TrackState {
  /** Last frame that listed the track (matched or coasting), for forgetting. */
  lastListedMs: number;
  /** Zone id → time of the first in-zone sample of the current stay. */
  since: Map<string, number>;
}

/**
 * Raises one 'high' candidate per (track, restricted zone) for every frame in which a person's foot point
 * has been inside the active zone for at least dwellMs. A matched track found outside, or in a zone whose
 * schedule is off, resets its dwell (someone already inside when the zone switches on is counted from the
 * switch-on). Coasting tracks (matched: false) are ignored: their box is a motion prediction, so it neither
 * starts, extends the evidence of, nor resets a dwell; the dwell simply carries over until the tracker
 * matches the person again, and no candidate is raised for a frame that does not show them.
 */
export class ZoneIntrusion implements Analytic {
  readonly kind = 'intrusion' as const;
  private readonly zones: Zone[];
  private readonly timeZone: string;
  private readonly dwellMs: number;
  private readonly forgetMs: number;
  /** By track id; bounded because tracks no frame lists are forgotten after forgetMs. */
  private readonly tracks = new Map<number, TrackState>();

  constructor(private readonly cfg: ZoneIntrusionConfig) {
    this.zones = cfg.zones.filter((z) => z.kind === 'restricted');
    this.timeZone = checkedTimeZone(cfg.timeZone);
    this.dwellMs = cfg.dwellMs ?? INTRUSION_DEFAULTS.dwellMs;
    this.forgetMs = cfg.forgetMs ?? INTRUSION_DEFAULTS.forgetMs;
  }

  update(frame: AnalyticsFrame): AlarmCandidate[] {
    const out: AlarmCandidate[] = [];
    const now = frame.timeMs;
    const active = activeZones(this.zones, now, this.timeZone);
    for (const track of frame.tracks) {
      if (track.className !== 'person') continue;
      let state = this.tracks.get(track.id);
      if (!state) {
        state = { lastListedMs: now, since: new Map() };
        this.tracks.set(track.id, state);
      }
      state.lastListedMs = now;
      if (!track.matched) continue;
      const foot = footPoint(track.box, frame.width, frame.height);
      for (const zone of this.zones) {
        if (!active.includes(zone) || !pointInPolygon(foot.x, foot.y, zone.polygon)) {
          state.since.delete(zone.id);
          continue;
        }
        const sinceMs = state.since.get(zone.id) ?? now;
        state.since.set(zone.id, sinceMs);
        const dwellMs = now - sinceMs;
        if (dwellMs < this.dwellMs) continue;
        out.push({
          kind: 'intrusion',
          severity: 'high',
          schoolId: this.cfg.schoolId,
          cameraId: this.cfg.cameraId,
          zoneId: zone.id,
          trackIds: [track.id],
          score: track.score,
          cues: {
            dwellS: round(dwellMs / 1000, 1),
            zone: zone.id,
            footX: round(foot.x, 3),
            footY: round(foot.y, 3),
          },
          timeMs: now,
          evidenceSeq: frame.seq,
          box: { ...track.box },
        });
      }
    }
    for (const [id, state] of this.tracks)
      if (now - state.lastListedMs >= this.forgetMs) this.tracks.delete(id);
    return out;
  }

  /** Person tracks with state held, for tests and metrics. */
  get trackedCount(): number {
    return this.tracks.size;
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
