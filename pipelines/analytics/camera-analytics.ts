/**
 * One camera's analytics chain: tracker → every enabled analytic → alarm candidates. The engine (live) and
 * `kuzet replay` (offline) both drive it, so a threshold tuned on a recording behaves the same on the camera.
 */
import type { Detection } from '../../engine/types.js';
import { ByteTracker, type ByteTrackerOptions } from '../tracker/bytetrack.js';
import { ArmedPerson, type ArmedPersonOptions } from './armed-person.js';
import { Crowding, type CrowdingOptions } from './crowding.js';
import { FightDetector, type FightOptions } from './fight.js';
import { ZoneIntrusion, type ZoneIntrusionOptions } from './intrusion.js';
import { Loitering, type LoiteringOptions } from './loitering.js';
import { CameraTamper, type TamperOptions } from './tamper.js';
import type { AlarmCandidate, Analytic, AnalyticsFrame, FrameCues, Track } from './types.js';
import type { Zone } from './zones.js';

type Toggle<T> = Omit<T, 'schoolId' | 'cameraId'> & { enabled?: boolean };

/** Per-analytic options (each unit documents its defaults); `enabled: false` switches one off. */
export interface AnalyticsSettings {
  tracker?: ByteTrackerOptions;
  intrusion?: Toggle<ZoneIntrusionOptions>;
  crowding?: Toggle<CrowdingOptions>;
  loitering?: Toggle<LoiteringOptions>;
  armedPerson?: Toggle<ArmedPersonOptions>;
  fight?: Toggle<FightOptions>;
  tamper?: Toggle<TamperOptions>;
}

export interface CameraAnalyticsConfig {
  schoolId: string;
  cameraId: string;
  zones: Zone[];
  /** IANA time zone of the school, for zone schedules (default Asia/Almaty). */
  timeZone?: string;
  settings?: AnalyticsSettings;
}

export interface AnalysedFrame {
  /** The frame's detections, `trackId` filled where the tracker matched them. */
  detections: Detection[];
  tracks: Track[];
  candidates: AlarmCandidate[];
}

export class CameraAnalytics {
  readonly analytics: Analytic[] = [];
  private readonly tracker: ByteTracker;

  constructor(private readonly cfg: CameraAnalyticsConfig) {
    const s = cfg.settings ?? {};
    const ids = { schoolId: cfg.schoolId, cameraId: cfg.cameraId };
    const zoned = { ...ids, zones: cfg.zones, timeZone: cfg.timeZone };
    this.tracker = new ByteTracker(s.tracker);
    const on = (t: { enabled?: boolean } | undefined) => t?.enabled !== false;
    if (on(s.intrusion)) this.analytics.push(new ZoneIntrusion({ ...s.intrusion, ...zoned }));
    if (on(s.crowding)) this.analytics.push(new Crowding({ ...s.crowding, ...zoned }));
    if (on(s.loitering)) this.analytics.push(new Loitering({ ...s.loitering, ...zoned }));
    if (on(s.armedPerson)) this.analytics.push(new ArmedPerson({ ...s.armedPerson, ...ids }));
    if (on(s.fight)) this.analytics.push(new FightDetector({ ...s.fight, ...ids }));
    if (on(s.tamper)) this.analytics.push(new CameraTamper({ ...s.tamper, ...ids }));
  }

  /** Feeds one sampled frame (in capture order) through the tracker and every analytic. */
  process(input: {
    seq: number;
    timeMs: number;
    width: number;
    height: number;
    detections: Detection[];
    cues: FrameCues | null;
  }): AnalysedFrame {
    const tracks = this.tracker.update(input.detections, input.timeMs);
    const frame: AnalyticsFrame = {
      schoolId: this.cfg.schoolId,
      cameraId: this.cfg.cameraId,
      seq: input.seq,
      timeMs: input.timeMs,
      width: input.width,
      height: input.height,
      detections: input.detections,
      tracks,
      cues: input.cues,
    };
    const candidates: AlarmCandidate[] = [];
    for (const a of this.analytics) for (const c of a.update(frame)) candidates.push(c);
    return { detections: input.detections, tracks, candidates };
  }
}
