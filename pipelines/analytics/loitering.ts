/**
 * Loitering: a person hanging about in one small area for minutes, typically at an entrance (someone
 * waiting outside the school who is neither coming in nor passing by). Per camera, fed every frame in order.
 */
import type { Analytic, AlarmCandidate, AnalyticsFrame } from './types.js';
import { activeZones, checkedTimeZone, footPoint, pointInPolygon, type Zone } from './zones.js';

export interface LoiteringOptions {
  /** How long a person must stay within a small area (default 120000 ms). */
  loiterMs?: number;
  /**
   * "Small area": the box centre moved less than this fraction of the frame diagonal between its position
   * loiterMs ago and now (default 0.1).
   */
  maxDisplacement?: number;
  /** State of a track not seen in any frame for this long is dropped (default 10000 ms). */
  forgetMs?: number;
}

export interface LoiteringConfig extends LoiteringOptions {
  schoolId: string;
  cameraId: string;
  /** All the camera's zones; watched: kind 'entrance' ones, or the whole frame when there are none. */
  zones: Zone[];
  /** IANA time zone of the school, for schedules (default Asia/Almaty). */
  timeZone?: string;
}

export const LOITERING_DEFAULTS = { loiterMs: 120_000, maxDisplacement: 0.1, forgetMs: 10_000 } as const;

/** Positions kept per track; samples closer than loiterMs / this are skipped, so 25 fps costs what 1 fps does. */
const MAX_SAMPLES = 120;

interface TrackState {
  lastListedMs: number;
  /** Start of the current eligible stay (in a watched, active area, seen matched throughout). */
  sinceMs: number;
  /** Box centres in pixels, oldest first, all within the current stay. */
  samples: { timeMs: number; cx: number; cy: number }[];
}

/**
 * Raises one 'low' candidate per frame for a person track that has been inside a watched area for at least
 * loiterMs and whose box centre is now less than maxDisplacement x frame diagonal from where it was loiterMs
 * ago (so pacing up and down a doorway counts, walking through does not). Watched area: the camera's
 * entrance zones whose schedule is in force; a camera with no entrance zones is watched everywhere, always
 * (a perimeter camera is usually placed for just this). A matched track outside the watched area starts
 * over. Coasting tracks are ignored: their predicted boxes neither add samples nor reset the stay.
 */
export class Loitering implements Analytic {
  readonly kind = 'loitering' as const;
  private readonly zones: Zone[];
  private readonly timeZone: string;
  private readonly loiterMs: number;
  private readonly maxDisplacement: number;
  private readonly forgetMs: number;
  private readonly minSampleGapMs: number;
  private readonly tracks = new Map<number, TrackState>();

  constructor(private readonly cfg: LoiteringConfig) {
    this.zones = cfg.zones.filter((z) => z.kind === 'entrance');
    this.timeZone = checkedTimeZone(cfg.timeZone);
    this.loiterMs = cfg.loiterMs ?? LOITERING_DEFAULTS.loiterMs;
    this.maxDisplacement = cfg.maxDisplacement ?? LOITERING_DEFAULTS.maxDisplacement;
    this.forgetMs = cfg.forgetMs ?? LOITERING_DEFAULTS.forgetMs;
    this.minSampleGapMs = this.loiterMs / MAX_SAMPLES;
  }

  update(frame: AnalyticsFrame): AlarmCandidate[] {
    const out: AlarmCandidate[] = [];
    const now = frame.timeMs;
    const active = activeZones(this.zones, now, this.timeZone);
    const diagonal = Math.hypot(frame.width, frame.height);
    for (const track of frame.tracks) {
      if (track.className !== 'person') continue;
      const known = this.tracks.get(track.id);
      if (known) known.lastListedMs = now;
      if (!track.matched) continue;
      const foot = footPoint(track.box, frame.width, frame.height);
      const zone = active.find((z) => pointInPolygon(foot.x, foot.y, z.polygon)) ?? null;
      if (this.zones.length > 0 && !zone) {
        this.tracks.delete(track.id);
        continue;
      }
      const cx = (track.box.x1 + track.box.x2) / 2;
      const cy = (track.box.y1 + track.box.y2) / 2;
      let st = known;
      if (!st) {
        st = { lastListedMs: now, sinceMs: now, samples: [] };
        this.tracks.set(track.id, st);
      }
      const last = st.samples.at(-1);
      if (!last || now - last.timeMs >= this.minSampleGapMs) st.samples.push({ timeMs: now, cx, cy });
      // Keep exactly one sample at or before now - loiterMs: the reference position.
      while (st.samples.length > 1 && st.samples[1].timeMs <= now - this.loiterMs) st.samples.shift();
      const ref = st.samples[0];
      if (now - st.sinceMs < this.loiterMs || ref.timeMs > now - this.loiterMs) continue;
      const displacement = Math.hypot(cx - ref.cx, cy - ref.cy) / diagonal;
      if (displacement >= this.maxDisplacement) continue;
      out.push({
        kind: 'loitering',
        severity: 'low',
        schoolId: this.cfg.schoolId,
        cameraId: this.cfg.cameraId,
        zoneId: zone?.id ?? null,
        trackIds: [track.id],
        score: track.score,
        cues: {
          dwellS: Math.round((now - st.sinceMs) / 1000),
          displacement: Math.round(displacement * 1000) / 1000,
          zone: zone?.id ?? 'frame',
        },
        timeMs: now,
        evidenceSeq: frame.seq,
        box: { ...track.box },
      });
    }
    for (const [id, st] of this.tracks) if (now - st.lastListedMs >= this.forgetMs) this.tracks.delete(id);
    return out;
  }

  /** Person tracks with state held, for tests and metrics. */
  get trackedCount(): number {
    return this.tracks.size;
  }
}
