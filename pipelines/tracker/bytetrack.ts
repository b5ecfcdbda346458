/**
 * Per-camera multi-object tracker in the style of ByteTrack, tuned for sparse sampling (keyframes at 1–5 fps,
 * so objects move a lot between samples).
 *
 * Each `update` runs these association passes, every one greedy by best score (pairs sorted, taken while
 * both sides are free — a Hungarian solve buys little at a handful of objects per camera):
 *   1. high-score detections (>= highScore) vs confirmed tracks: IoU against each track's motion-predicted
 *      box (>= matchIou), then a centre-distance fallback for what is left (below);
 *   2. low-score detections (lowScore..highScore) vs the confirmed tracks still free: IoU >= lowMatchIou only.
 *      Low-score boxes only recover existing tracks (an occluded or blurred person), never start one.
 *      Unlike ByteTrack, coasting tracks take part too: at 1 fps one missed sample is common;
 *   3. remaining high-score detections vs tentative tracks: as pass 1.
 * Confirmed tracks get first pick (as in ByteTrack) so a fresh tentative duplicate cannot steal an
 * established id. Left-over high detections scoring >= newTrackScore start tentative tracks.
 *
 * Centre fallback: at 1 fps a walking person moves more than their own width between samples, so IoU with
 * the last box is 0 until the track has a velocity. A pair whose IoU falls short still matches when the
 * detection centre lies within `centreMatchRatio` (1.0) × the predicted box diagonal of the predicted centre
 * and the two box areas are within 4× of each other (so a far smaller or larger object of the same class
 * is not taken); among such pairs the nearest (relative to the diagonal) wins.
 *
 * Confirmation: a track is reported once it has `minHits` (2) matches, or at once when it was born from a
 * detection scoring >= instantConfirmScore (0.8): at 1 fps waiting for a second sample delays an alarm by a
 * whole second, and a detector that sure is rarely a one-frame ghost. Public ids are handed out at
 * confirmation (increasing from 1, never reused), so ghosts that never confirm burn no ids. A tentative track
 * that misses a frame is dropped at once (as in ByteTrack): a one-sample false positive never confirms.
 *
 * Motion: constant velocity of the box centre (size kept), velocity in px/s smoothed exponentially; the
 * first velocity is the raw measurement between the first two matches.
 */
import type { Detection } from '../../engine/types.js';
import type { Box, Track } from '../analytics/types.js';

export interface ByteTrackerOptions {
  /**
   * Detections at or above this score are "high" (pass 1 and 3, may start tracks). Default 0.4, not ByteTrack's
   * 0.5/0.6: YOLOX-Nano scores people on CCTV footage 0.35–0.6, and at 0.6 most fighters were never tracked
   * (bench accuracy: fight F1 0.38 → 0.47).
   */
  highScore?: number;
  /** Detections below this score are ignored. Default 0.1. */
  lowScore?: number;
  /** Minimum IoU for the high-score passes. Default 0.3. */
  matchIou?: number;
  /** Minimum IoU for the low-score pass (no centre fallback there). Default 0.5. */
  lowMatchIou?: number;
  /** Centre fallback radius as a multiple of the predicted box diagonal; 0 disables it. Default 1.0. */
  centreMatchRatio?: number;
  /** Minimum score of an unmatched high detection to start a tentative track. Default 0.4 (see highScore). */
  newTrackScore?: number;
  /** A track born from a detection at or above this score is confirmed at once. Default 0.8 (Infinity: never). */
  instantConfirmScore?: number;
  /** A track not matched for longer than this is removed. Default 3000 ms. */
  maxCoastMs?: number;
  /** Matches needed before a track is confirmed and reported. Default 2. */
  minHits?: number;
  /** Weight of the newest velocity measurement in the exponential smoothing (0..1]. Default 0.5. */
  velocitySmoothing?: number;
  /** Cap on live tracks (tentative included); when full the oldest tentative is dropped. Default 512. */
  maxTracks?: number;
  /** Class names to track; default every class. Classes never cross-match either way. */
  classes?: readonly string[];
}

/** Internal state of one track; the reported `Track` is a fresh snapshot of it each frame. */
interface TrackState {
  /** Public id; 0 while tentative. */
  id: number;
  /** Creation order: tie-break and eviction order. */
  serial: number;
  className: string;
  classId: number;
  /** Box of the last matched detection. */
  box: Box;
  score: number;
  firstSeenMs: number;
  lastSeenMs: number;
  hits: number;
  vx: number;
  vy: number;
  /** `frame` counter value of the update that last matched it. */
  matchedFrame: number;
}

interface Candidate {
  track: number;
  det: number;
  /** Higher is better. */
  quality: number;
}

/** Largest box area ratio the centre fallback accepts. */
const FALLBACK_MAX_AREA_RATIO = 4;

export class ByteTracker {
  private readonly highScore: number;
  private readonly lowScore: number;
  private readonly matchIou: number;
  private readonly lowMatchIou: number;
  private readonly centreMatchRatio: number;
  private readonly newTrackScore: number;
  private readonly instantConfirmScore: number;
  private readonly maxCoastMs: number;
  private readonly minHits: number;
  private readonly velocitySmoothing: number;
  private readonly maxTracks: number;
  private readonly classes: ReadonlySet<string> | null;

  private tracks: TrackState[] = [];
  private nextId = 1;
  private nextSerial = 1;
  private frame = 0;

  constructor(opts: ByteTrackerOptions = {}) {
    this.highScore = opts.highScore ?? 0.4;
    this.lowScore = opts.lowScore ?? 0.1;
    this.matchIou = opts.matchIou ?? 0.3;
    this.lowMatchIou = opts.lowMatchIou ?? 0.5;
    this.centreMatchRatio = opts.centreMatchRatio ?? 1.0;
    this.newTrackScore = opts.newTrackScore ?? 0.4;
    this.instantConfirmScore = opts.instantConfirmScore ?? 0.8;
    this.maxCoastMs = opts.maxCoastMs ?? 3000;
    this.minHits = Math.max(1, opts.minHits ?? 2);
    this.velocitySmoothing = Math.min(1, Math.max(0, opts.velocitySmoothing ?? 0.5));
    this.maxTracks = Math.max(1, opts.maxTracks ?? 512);
    this.classes = opts.classes ? new Set(opts.classes) : null;
  }

  /** Live tracks held, tentative included (for metrics and tests). */
  get liveTrackCount(): number {
    return this.tracks.length;
  }

  /**
   * Feeds one sampled frame. Sets each detection's `trackId` (the confirmed track it matched, else null) and
   * returns the confirmed tracks alive after it, sorted by id: matched this frame, or coasting on prediction
   * for up to maxCoastMs with `matched: false`.
   */
  update(detections: Detection[], timeMs: number): Track[] {
    this.frame++;
    for (const d of detections) d.trackId = null;

    // Expire before matching, so a detection after a long gap starts a new track instead of reviving one.
    this.tracks = this.tracks.filter((t) => timeMs - t.lastSeenMs <= this.maxCoastMs);
    const predicted = new Map<TrackState, Box>();
    for (const t of this.tracks) predicted.set(t, this.predict(t, timeMs));

    const high: Detection[] = [];
    const low: Detection[] = [];
    for (const d of detections) {
      if (this.classes && !this.classes.has(d.className)) continue;
      if (d.score >= this.highScore) high.push(d);
      else if (d.score >= this.lowScore) low.push(d);
    }
    const confirmed = this.tracks.filter((t) => t.id !== 0);
    const tentative = this.tracks.filter((t) => t.id === 0);

    const highLeft = this.associate(confirmed, high, predicted, this.matchIou, true, timeMs);
    const confirmedLeft = confirmed.filter((t) => t.matchedFrame !== this.frame);
    this.associate(confirmedLeft, low, predicted, this.lowMatchIou, false, timeMs);
    const newcomers = this.associate(tentative, highLeft, predicted, this.matchIou, true, timeMs);

    // A tentative track that missed its next sample was most likely a ghost.
    this.tracks = this.tracks.filter((t) => t.id !== 0 || t.matchedFrame === this.frame);

    for (const d of newcomers) {
      if (d.score >= this.newTrackScore) this.start(d, timeMs);
    }

    const out: Track[] = [];
    for (const t of this.tracks) {
      if (t.id === 0) continue;
      const matched = t.matchedFrame === this.frame;
      out.push({
        id: t.id,
        className: t.className,
        classId: t.classId,
        box: matched ? { ...t.box } : (predicted.get(t) ?? { ...t.box }),
        score: t.score,
        firstSeenMs: t.firstSeenMs,
        lastSeenMs: t.lastSeenMs,
        hits: t.hits,
        matched,
        vx: t.vx,
        vy: t.vy,
      });
    }
    return out.sort((a, b) => a.id - b.id);
  }

  /** Box of the track moved by its velocity to `timeMs` (size kept). */
  private predict(t: TrackState, timeMs: number): Box {
    const dtS = Math.max(0, timeMs - t.lastSeenMs) / 1000;
    const dx = t.vx * dtS;
    const dy = t.vy * dtS;
    return { x1: t.box.x1 + dx, y1: t.box.y1 + dy, x2: t.box.x2 + dx, y2: t.box.y2 + dy };
  }

  /**
   * Greedy matching of `dets` to `tracks`: IoU pairs first (best first), then, when `fallback`, the
   * centre-distance pairs among what is left (nearest first). Applies the matches; returns unmatched dets.
   */
  private associate(
    tracks: TrackState[],
    dets: Detection[],
    predicted: Map<TrackState, Box>,
    minIou: number,
    fallback: boolean,
    timeMs: number,
  ): Detection[] {
    if (tracks.length === 0 || dets.length === 0) return dets;
    const boxes = tracks.map((t) => predicted.get(t) ?? t.box);
    const trackTaken = new Array<boolean>(tracks.length).fill(false);
    const detTaken = new Array<boolean>(dets.length).fill(false);

    const take = (cands: Candidate[]): void => {
      // Array.prototype.sort is stable: ties keep track creation order, then detection order.
      cands.sort((a, b) => b.quality - a.quality);
      for (const c of cands) {
        if (trackTaken[c.track] || detTaken[c.det]) continue;
        trackTaken[c.track] = true;
        detTaken[c.det] = true;
        this.apply(tracks[c.track], dets[c.det], timeMs);
      }
    };

    const byIou: Candidate[] = [];
    for (let i = 0; i < tracks.length; i++) {
      for (let j = 0; j < dets.length; j++) {
        if (tracks[i].className !== dets[j].className) continue;
        const overlap = iou(boxes[i], dets[j]);
        if (overlap > 0 && overlap >= minIou) byIou.push({ track: i, det: j, quality: overlap });
      }
    }
    take(byIou);

    if (fallback && this.centreMatchRatio > 0) {
      const byCentre: Candidate[] = [];
      for (let i = 0; i < tracks.length; i++) {
        if (trackTaken[i]) continue;
        const b = boxes[i];
        const diag = Math.hypot(b.x2 - b.x1, b.y2 - b.y1);
        if (diag <= 0) continue;
        for (let j = 0; j < dets.length; j++) {
          if (detTaken[j] || tracks[i].className !== dets[j].className) continue;
          const d = dets[j];
          const areaT = area(b);
          const areaD = area(d);
          if (areaT <= 0 || areaD <= 0) continue;
          if (Math.max(areaT, areaD) / Math.min(areaT, areaD) > FALLBACK_MAX_AREA_RATIO) continue;
          const dist = Math.hypot(centreX(d) - centreX(b), centreY(d) - centreY(b)) / diag;
          if (dist < this.centreMatchRatio) byCentre.push({ track: i, det: j, quality: -dist });
        }
      }
      take(byCentre);
    }

    return dets.filter((_, j) => !detTaken[j]);
  }

  /** Updates a track with its matched detection; confirms it once it has enough hits. */
  private apply(t: TrackState, d: Detection, timeMs: number): void {
    const dtS = (timeMs - t.lastSeenMs) / 1000;
    if (dtS > 0) {
      const mvx = (centreX(d) - centreX(t.box)) / dtS;
      const mvy = (centreY(d) - centreY(t.box)) / dtS;
      // First measurement taken raw: smoothing it toward 0 would lag the prediction a whole extra sample.
      const a = t.hits === 1 ? 1 : this.velocitySmoothing;
      t.vx = a * mvx + (1 - a) * t.vx;
      t.vy = a * mvy + (1 - a) * t.vy;
    }
    t.box = boxOf(d);
    t.score = d.score;
    t.lastSeenMs = Math.max(t.lastSeenMs, timeMs);
    t.hits++;
    t.matchedFrame = this.frame;
    if (t.id === 0 && t.hits >= this.minHits) t.id = this.nextId++;
    if (t.id !== 0) d.trackId = t.id;
  }

  /** Starts a tentative track (or a confirmed one for a very sure detection), evicting if full. */
  private start(d: Detection, timeMs: number): void {
    if (this.tracks.length >= this.maxTracks) {
      // Drop the oldest tentative; confirmed tracks may carry alarms, so never evict those for a newcomer.
      let oldest = -1;
      for (let i = 0; i < this.tracks.length; i++) {
        const t = this.tracks[i];
        if (t.id === 0 && (oldest < 0 || t.serial < this.tracks[oldest].serial)) oldest = i;
      }
      if (oldest < 0) return;
      this.tracks.splice(oldest, 1);
    }
    const t: TrackState = {
      id: 0,
      serial: this.nextSerial++,
      className: d.className,
      classId: d.classId,
      box: boxOf(d),
      score: d.score,
      firstSeenMs: timeMs,
      lastSeenMs: timeMs,
      hits: 1,
      vx: 0,
      vy: 0,
      matchedFrame: this.frame,
    };
    if (t.hits >= this.minHits || d.score >= this.instantConfirmScore) {
      t.id = this.nextId++;
      d.trackId = t.id;
    }
    this.tracks.push(t);
  }
}

function boxOf(b: Box): Box {
  return { x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2 };
}

function area(b: Box): number {
  return Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
}

function centreX(b: Box): number {
  return (b.x1 + b.x2) / 2;
}

function centreY(b: Box): number {
  return (b.y1 + b.y2) / 2;
}

/** Intersection over union; 0 for disjoint or degenerate boxes. */
export function iou(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = area(a) + area(b) - inter;
  return union > 0 ? inter / union : 0;
}
