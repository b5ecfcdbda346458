/**
 * Contracts between the per-camera analytics units: tracker → analytics → alarm state machine.
 * Everything here is plain data in source-frame pixels and wall-clock milliseconds, so units can be tested
 * on synthetic track sequences without video.
 */
import type { Detection } from '../../engine/types.js';

export type Severity = 'critical' | 'high' | 'medium' | 'low';

export type AlarmKind =
  | 'intrusion'
  | 'armed-person'
  | 'fight'
  | 'crowding'
  | 'loitering'
  | 'person-down'
  | 'camera-tamper'
  // From scanner and sensor events (pipelines/fusion), not from video.
  | 'panic'
  | 'air-quality'
  | 'fire';

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** A confirmed track as the tracker reports it after one frame. */
export interface Track {
  id: number;
  className: string;
  classId: number;
  /** Box in this frame (the matched detection's, or the motion prediction when missed this frame). */
  box: Box;
  /** Score of the last matched detection. */
  score: number;
  /** Wall-clock ms of the first and the last matched detection. */
  firstSeenMs: number;
  lastSeenMs: number;
  /** Frames matched so far. */
  hits: number;
  /** True when matched in this frame; false while coasting on prediction. */
  matched: boolean;
  /** Velocity of the box centre, source pixels per second (0 until two matches). */
  vx: number;
  vy: number;
}

/** Per-frame cues computed from pixels (in the decode worker): what the detector alone cannot say. */
export interface FrameCues {
  /** Small greyscale thumbnail of the frame (row-major, 8-bit), for motion and tamper checks. */
  thumb: Uint8Array;
  thumbWidth: number;
  thumbHeight: number;
}

/** Everything an analytic sees about one sampled frame of one camera. */
export interface AnalyticsFrame {
  schoolId: string;
  cameraId: string;
  seq: number;
  timeMs: number;
  width: number;
  height: number;
  /** Detections of this frame, trackId filled where the tracker matched them. */
  detections: Detection[];
  /** Live tracks after this frame (matched and briefly coasting). */
  tracks: Track[];
  cues: FrameCues | null;
}

/** What an analytic reports: "this situation holds now", with the evidence. The alarm state machine decides. */
export interface AlarmCandidate {
  kind: AlarmKind;
  severity: Severity;
  schoolId: string;
  cameraId: string;
  zoneId: string | null;
  /** Tracks involved (dedup key together with camera and kind). */
  trackIds: number[];
  /** 0..1 confidence of the analytic. */
  score: number;
  /** The cue values that raised it (explainability), e.g. { dwellS: 4.2, overlap: 0.31 }. */
  cues: Record<string, number | string | boolean>;
  timeMs: number;
  /** Sample seq of the frame that shows it (evidence id: `<school>/<camera>/<seq>`). */
  evidenceSeq: number;
  /** Optional box to draw on the evidence frame. */
  box?: Box;
}

/** One analytic for one camera: fed every frame in order, returns the situations that hold in it. */
export interface Analytic {
  readonly kind: AlarmKind;
  update(frame: AnalyticsFrame): AlarmCandidate[];
}

export type AlarmState = 'open' | 'confirmed' | 'escalated' | 'acknowledged' | 'resolved';

/** An alarm as published on kuzet.alarm.<severity>.<schoolId> (one message per state change) and stored. */
export interface Alarm {
  /** Stable id for the alarm's whole life (uuid). */
  id: string;
  kind: AlarmKind;
  severity: Severity;
  state: AlarmState;
  schoolId: string;
  cameraId: string;
  zoneId: string | null;
  trackIds: number[];
  /** Highest candidate score seen. */
  score: number;
  /** Cue values of the latest candidate (explainability). */
  cues: Record<string, number | string | boolean>;
  /** Candidate frames seen while active. */
  frames: number;
  openedAt: number;
  updatedAt: number;
  confirmedAt: number | null;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  resolvedAt: number | null;
  /** Evidence frame: `<schoolId>/<cameraId>/<seq>` of the best candidate, and its box. */
  evidence: { seq: number; box: Box | null };
}
