/**
 * Builders of synthetic analytics input for tests: tracks and frames without video or a tracker.
 * Frames default to 1000x1000 pixels so normalised zone coordinates read as pixels / 1000.
 */
import type { Detection } from '../../engine/types.js';
import type { AnalyticsFrame, Box, Track } from './types.js';
import type { Zone } from './zones.js';

export const TEST_WIDTH = 1000;
export const TEST_HEIGHT = 1000;

/** A matched track of any class; override fields (matched: false for coasting, velocity...) via `over`. */
export function trackOf(
  className: string,
  id: number,
  box: Box,
  timeMs: number,
  over: Partial<Track> = {},
): Track {
  return {
    id,
    className,
    classId: className === 'person' ? 0 : 1,
    box,
    score: 0.9,
    firstSeenMs: timeMs,
    lastSeenMs: timeMs,
    hits: 1,
    matched: true,
    vx: 0,
    vy: 0,
    ...over,
  };
}

export function personTrack(id: number, box: Box, timeMs: number, over: Partial<Track> = {}): Track {
  return trackOf('person', id, box, timeMs, over);
}

/** A person-sized box (w x h pixels) whose foot point (bottom-centre) is at normalised (fx, fy). */
export function boxWithFoot(
  fx: number,
  fy: number,
  w = 60,
  h = 160,
  width = TEST_WIDTH,
  height = TEST_HEIGHT,
): Box {
  const cx = fx * width;
  const y2 = fy * height;
  return { x1: cx - w / 2, y1: y2 - h, x2: cx + w / 2, y2 };
}

export interface FrameOptions {
  schoolId?: string;
  cameraId?: string;
  seq?: number;
  width?: number;
  height?: number;
  /** Default: one detection per matched track, carrying its track id. */
  detections?: Detection[];
  cues?: AnalyticsFrame['cues'];
}

export function frameWith(tracks: Track[], timeMs: number, opts: FrameOptions = {}): AnalyticsFrame {
  const detections =
    opts.detections ??
    tracks
      .filter((t) => t.matched)
      .map((t) => ({ classId: t.classId, className: t.className, score: t.score, ...t.box, trackId: t.id }));
  return {
    schoolId: opts.schoolId ?? 'school-1',
    cameraId: opts.cameraId ?? 'cam-1',
    seq: opts.seq ?? Math.floor(timeMs / 1000),
    timeMs,
    width: opts.width ?? TEST_WIDTH,
    height: opts.height ?? TEST_HEIGHT,
    detections,
    tracks,
    cues: opts.cues ?? null,
  };
}

/** Axis-aligned rectangle polygon in normalised coordinates. */
export function rect(x1: number, y1: number, x2: number, y2: number): Zone['polygon'] {
  return [
    [x1, y1],
    [x2, y1],
    [x2, y2],
    [x1, y2],
  ];
}

/** A zone as the config loader would produce it (schedule defaults to always). */
export function zoneOf(
  id: string,
  kind: Zone['kind'],
  polygon: Zone['polygon'],
  over: Partial<Zone> = {},
): Zone {
  return { id, kind, polygon, schedule: { type: 'always' }, ...over };
}
