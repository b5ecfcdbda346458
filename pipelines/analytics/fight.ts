/**
 * Fight: an aggression score for groups of people in close contact, from four cues, raised when it stays
 * above a threshold for consecutive samples.
 *
 * Per sample, person tracks in close contact (IoU > `contactIou`, or centre distance < `contactDistance` x
 * their mean box width) are joined into groups; each group of two or more is scored from terms in 0..1:
 *   proximity   — how tight the closest pair is: max(IoU / 0.3, 1 - distance / (contactDistance x width)).
 *   motion      — pixel change inside the group's union box between this and the previous thumbnail
 *                 (`motionEnergy`), mapped from [motionNoiseFloor, motionSaturation] onto 0..1. Without
 *                 frame cues (either thumbnail missing) the term is 0: the score can then only reach the
 *                 other weights, so a camera without cues needs a lower threshold to raise fights at all.
 *   erratic     — mean over the group's tracks of the change of centre velocity between consecutive
 *                 samples (direction and magnitude: |v_now - v_before|), in box heights per second, divided
 *                 by `erraticSaturation`. Pushing, striking and grappling jerk the boxes about; walking
 *                 together keeps a steady velocity.
 *   convergence — other people moving toward the group (a crowd forming to watch): each contributes its
 *                 approach speed (box heights/s) over `convergeSpeed`, capped at 1; the sum is divided by
 *                 `convergeSaturation` people.
 * score = clip01(sum of weight x term). Defaults weigh motion most (0.35), then erratic (0.3), proximity
 * (0.25), convergence (0.1); threshold 0.6 (a sample counts when the score is above it). Contact plus pixel
 * motion alone reaches at most 0.6, so some jerky movement of the people themselves must agree: someone
 * walking past behind a hugging pair moves pixels in their box but not their boxes.
 *
 * Play vs aggression: calm proximity (hugging, standing or sitting together) has proximity up to 1 but motion
 * and erratic near 0, so it scores about 0.3; rough play with running but no contact forms no group at all,
 * and brief contact in a chase rarely lasts two samples. What remains is sustained contact with vigorous,
 * jerky movement, which is what a fight looks like from a ceiling camera.
 *
 * The window (`windowMs`, 4 s) bounds what counts as "consecutive": two samples further apart than the
 * window do not extend a streak, a velocity older than it is not compared, and an older thumbnail is not
 * diffed. Keyframe sampling is sparse (about one sample a second or slower), so the window must hold at
 * least two samples.
 */
import { motionEnergy } from './cues.js';
import type { AlarmCandidate, Analytic, AnalyticsFrame, Box, FrameCues, Track } from './types.js';

export interface FightWeights {
  proximity: number;
  motion: number;
  erratic: number;
  convergence: number;
}

export const DEFAULT_FIGHT_WEIGHTS: Readonly<FightWeights> = {
  proximity: 0.25,
  motion: 0.35,
  erratic: 0.3,
  convergence: 0.1,
};

/** The four cue terms of one group in one sample, each 0..1. */
export type FightTerms = FightWeights;

export interface FightOptions {
  schoolId: string;
  cameraId: string;
  weights?: Partial<FightWeights>;
  /** Score above which a sample counts (default 0.6). */
  threshold?: number;
  /** Consecutive samples above the threshold before a candidate (default 2). */
  minSamples?: number;
  /** See the file comment (default 4000 ms). */
  windowMs?: number;
  /** Contact: IoU above this (0.1) or centre distance below `contactDistance` x mean box width (0.8). */
  contactIou?: number;
  contactDistance?: number;
  /** Mean grey change (0..1) below which motion is sensor noise (0.02), and at which the term is 1 (0.15). */
  motionNoiseFloor?: number;
  motionSaturation?: number;
  /** Velocity change, box heights/s, at which the erratic term is 1 (default 1). */
  erraticSaturation?: number;
  /** Approach speed, box heights/s, at which one person counts fully as converging (default 1). */
  convergeSpeed?: number;
  /** Converging people at which the convergence term is 1 (default 3). */
  convergeSaturation?: number;
  personClass?: string;
  /** Forget a track not seen for this long (default 10 s). */
  forgetAfterMs?: number;
}

/** Weighted sum of the terms, clipped to 0..1. */
export function fightScore(terms: FightTerms, weights: FightWeights = DEFAULT_FIGHT_WEIGHTS): number {
  const s =
    weights.proximity * terms.proximity +
    weights.motion * terms.motion +
    weights.erratic * terms.erratic +
    weights.convergence * terms.convergence;
  return clip01(s);
}

/** Last position and velocity of a person track, for the erratic and convergence terms. */
interface Motion {
  cx: number;
  cy: number;
  timeMs: number;
  /** Centre velocity, px/s, between the last two samples (the tracker's at first sight); null if unknown. */
  v: { x: number; y: number; timeMs: number } | null;
  /** |v_now - v_before| / box height at the last sample; null until there are two velocities. */
  erratic: number | null;
  lastSeenMs: number;
}

/** A group above threshold in the previous sample, for streaks. */
interface HotGroup {
  ids: ReadonlySet<number>;
  streak: number;
  timeMs: number;
}

export class FightDetector implements Analytic {
  readonly kind = 'fight' as const;
  private readonly schoolId: string;
  private readonly cameraId: string;
  private readonly weights: FightWeights;
  private readonly threshold: number;
  private readonly minSamples: number;
  private readonly windowMs: number;
  private readonly contactIou: number;
  private readonly contactDistance: number;
  private readonly motionNoiseFloor: number;
  private readonly motionSaturation: number;
  private readonly erraticSaturation: number;
  private readonly convergeSpeed: number;
  private readonly convergeSaturation: number;
  private readonly personClass: string;
  private readonly forgetAfterMs: number;
  private readonly motions = new Map<number, Motion>();
  private prevCues: { cues: FrameCues; timeMs: number } | null = null;
  private hot: HotGroup[] = [];

  constructor(cfg: FightOptions) {
    this.schoolId = cfg.schoolId;
    this.cameraId = cfg.cameraId;
    this.weights = { ...DEFAULT_FIGHT_WEIGHTS, ...cfg.weights };
    this.threshold = cfg.threshold ?? 0.6;
    this.minSamples = cfg.minSamples ?? 2;
    this.windowMs = cfg.windowMs ?? 4000;
    this.contactIou = cfg.contactIou ?? 0.1;
    this.contactDistance = cfg.contactDistance ?? 0.8;
    this.motionNoiseFloor = cfg.motionNoiseFloor ?? 0.02;
    this.motionSaturation = cfg.motionSaturation ?? 0.15;
    this.erraticSaturation = cfg.erraticSaturation ?? 1;
    this.convergeSpeed = cfg.convergeSpeed ?? 1;
    this.convergeSaturation = cfg.convergeSaturation ?? 3;
    this.personClass = cfg.personClass ?? 'person';
    this.forgetAfterMs = cfg.forgetAfterMs ?? 10_000;
    if (!(this.motionSaturation > this.motionNoiseFloor)) {
      throw new RangeError('fight: motionSaturation must be greater than motionNoiseFloor');
    }
  }

  /** Person tracks held in memory (bounded by `forgetAfterMs`), for tests and metrics. */
  get trackCount(): number {
    return this.motions.size;
  }

  update(frame: AnalyticsFrame): AlarmCandidate[] {
    const persons = frame.tracks.filter((t) => t.className === this.personClass);
    this.updateMotions(persons, frame.timeMs);
    const prevCues =
      this.prevCues && frame.timeMs - this.prevCues.timeMs <= this.windowMs ? this.prevCues.cues : null;

    const out: AlarmCandidate[] = [];
    const hot: HotGroup[] = [];
    for (const group of this.contactGroups(persons)) {
      const { terms, motionEnergy: energy, converging } = this.terms(group, persons, prevCues, frame);
      const score = fightScore(terms, this.weights);
      if (score <= this.threshold) continue;
      const ids = new Set(group.map((t) => t.id));
      // A streak continues from any previous hot group sharing a person: groups gain and lose members.
      let streak = 1;
      for (const h of this.hot) {
        if (frame.timeMs - h.timeMs > this.windowMs) continue;
        if ([...ids].some((id) => h.ids.has(id))) streak = Math.max(streak, h.streak + 1);
      }
      hot.push({ ids, streak, timeMs: frame.timeMs });
      if (streak < this.minSamples) continue;
      out.push({
        kind: this.kind,
        severity: 'high',
        schoolId: this.schoolId,
        cameraId: this.cameraId,
        zoneId: null,
        // Ascending: the oldest track leads, and the alarm key follows the first id.
        trackIds: [...ids].sort((a, b) => a - b),
        score,
        cues: {
          score: round3(score),
          proximity: round3(terms.proximity),
          motion: round3(terms.motion),
          motionEnergy: round3(energy),
          erratic: round3(terms.erratic),
          convergence: round3(terms.convergence),
          converging,
          people: group.length,
          samples: streak,
          pixelCues: frame.cues !== null && prevCues !== null,
        },
        timeMs: frame.timeMs,
        evidenceSeq: frame.seq,
        box: unionBox(group.map((t) => t.box)),
      });
    }
    this.hot = hot;
    if (frame.cues) this.prevCues = { cues: frame.cues, timeMs: frame.timeMs };

    for (const [id, m] of this.motions) {
      if (frame.timeMs - m.lastSeenMs > this.forgetAfterMs) this.motions.delete(id);
    }
    return out;
  }

  /** Updates each person's velocity and its change since the previous sample. */
  private updateMotions(persons: readonly Track[], timeMs: number): void {
    for (const p of persons) {
      const cx = (p.box.x1 + p.box.x2) / 2;
      const cy = (p.box.y1 + p.box.y2) / 2;
      const h = Math.max(1, p.box.y2 - p.box.y1);
      const m = this.motions.get(p.id);
      if (!m) {
        // The tracker's own velocity stands in for the one before our first sample, so the erratic term is
        // available from the second sample instead of the third (keyframes are seconds apart).
        const v = p.hits >= 2 ? { x: p.vx, y: p.vy, timeMs } : null;
        this.motions.set(p.id, { cx, cy, timeMs, v, erratic: null, lastSeenMs: timeMs });
        continue;
      }
      const dt = (timeMs - m.timeMs) / 1000;
      if (dt <= 0) continue;
      if (dt * 1000 > this.windowMs) {
        // Too long a gap to call it one movement: start over from here.
        Object.assign(m, { cx, cy, timeMs, v: null, erratic: null, lastSeenMs: timeMs });
        continue;
      }
      const v = { x: (cx - m.cx) / dt, y: (cy - m.cy) / dt, timeMs };
      m.erratic =
        m.v && timeMs - m.v.timeMs <= this.windowMs ? Math.hypot(v.x - m.v.x, v.y - m.v.y) / h : null;
      Object.assign(m, { cx, cy, timeMs, v, lastSeenMs: timeMs });
    }
  }

  /** Connected components of the contact relation, two people or more. */
  private contactGroups(persons: readonly Track[]): Track[][] {
    const parent = persons.map((_, i) => i);
    const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
    for (let i = 0; i < persons.length; i++) {
      for (let j = i + 1; j < persons.length; j++) {
        if (this.pairCloseness(persons[i].box, persons[j].box) !== null) parent[find(i)] = find(j);
      }
    }
    const groups = new Map<number, Track[]>();
    persons.forEach((p, i) => {
      const root = find(i);
      const g = groups.get(root);
      if (g) g.push(p);
      else groups.set(root, [p]);
    });
    return [...groups.values()].filter((g) => g.length >= 2);
  }

  /** Proximity term of a pair (0..1), or null when the two are not in contact. */
  private pairCloseness(a: Box, b: Box): number | null {
    const overlap = iou(a, b);
    const meanWidth = Math.max(1, (a.x2 - a.x1 + b.x2 - b.x1) / 2);
    const reach = this.contactDistance * meanWidth;
    const dist = Math.hypot((a.x1 + a.x2 - b.x1 - b.x2) / 2, (a.y1 + a.y2 - b.y1 - b.y2) / 2);
    if (!(overlap > this.contactIou || dist < reach)) return null;
    return clip01(Math.max(overlap / 0.3, 1 - dist / reach));
  }

  private terms(
    group: readonly Track[],
    persons: readonly Track[],
    prevCues: FrameCues | null,
    frame: AnalyticsFrame,
  ) {
    let proximity = 0;
    for (let i = 0; i < group.length; i++) {
      for (let j = i + 1; j < group.length; j++) {
        proximity = Math.max(proximity, this.pairCloseness(group[i].box, group[j].box) ?? 0);
      }
    }

    const union = unionBox(group.map((t) => t.box));
    const energy =
      frame.cues && prevCues ? motionEnergy(prevCues, frame.cues, union, frame.width, frame.height) : 0;
    const motion = clip01((energy - this.motionNoiseFloor) / (this.motionSaturation - this.motionNoiseFloor));

    let erraticSum = 0;
    for (const t of group) erraticSum += this.motions.get(t.id)?.erratic ?? 0;
    const erratic = clip01(erraticSum / group.length / this.erraticSaturation);

    const gx = (union.x1 + union.x2) / 2;
    const gy = (union.y1 + union.y2) / 2;
    const members = new Set(group.map((t) => t.id));
    let converging = 0;
    let approachSum = 0;
    for (const p of persons) {
      if (members.has(p.id)) continue;
      const v = this.motions.get(p.id)?.v;
      if (!v || v.timeMs !== frame.timeMs) continue;
      const px = (p.box.x1 + p.box.x2) / 2;
      const py = (p.box.y1 + p.box.y2) / 2;
      const d = Math.hypot(gx - px, gy - py);
      if (d < 1) continue;
      // Speed along the line toward the group's centre, in the walker's own box heights per second.
      const approach = (v.x * (gx - px) + v.y * (gy - py)) / d / Math.max(1, p.box.y2 - p.box.y1);
      if (approach <= 0) continue;
      converging++;
      approachSum += Math.min(1, approach / this.convergeSpeed);
    }
    const convergence = clip01(approachSum / this.convergeSaturation);

    return { terms: { proximity, motion, erratic, convergence }, motionEnergy: energy, converging };
  }
}

function iou(a: Box, b: Box): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

function unionBox(boxes: readonly Box[]): Box {
  return {
    x1: Math.min(...boxes.map((b) => b.x1)),
    y1: Math.min(...boxes.map((b) => b.y1)),
    x2: Math.max(...boxes.map((b) => b.x2)),
    y2: Math.max(...boxes.map((b) => b.y2)),
  };
}

function clip01(v: number): number {
  return v <= 0 ? 0 : v >= 1 ? 1 : v;
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
