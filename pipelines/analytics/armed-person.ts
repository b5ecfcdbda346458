/**
 * Armed person: a weapon-class detection held by (overlapping or next to) a tracked person, confirmed over
 * a few samples of that person's track. A false alarm sends police to a school and a missed one is worse,
 * so one weak detection never raises it, while one very confident detection does at once (keyframes are
 * sampled sparsely: waiting for a second sample can cost seconds).
 *
 * Held-by rule: the weapon box's centre lies inside the person box grown by `nearFraction` (25 %) of its
 * width on each side and of its height above and below, or the two boxes overlap at all (IoU > 0). Each
 * weapon goes to the single person that holds it best (largest share of the weapon box inside the person
 * box, then nearest centre), so a bystander beside the holder is not named too.
 *
 * Not covered here: a weapon lying with nobody near it (an unattended knife or bag) raises nothing — that
 * is an object-left-behind concern with its own dwell logic, not an armed person.
 */
import type { Detection } from '../../engine/types.js';
import type { AlarmCandidate, Analytic, AnalyticsFrame, Box, Track } from './types.js';

/** COCO classes of the shipped YOLOX-Nano that can wound, plus the names custom weapon models use. */
export const DEFAULT_WEAPON_CLASSES: readonly string[] = [
  'knife',
  'baseball bat',
  'scissors',
  'pistol',
  'rifle',
  'gun',
];

export interface ArmedPersonOptions {
  schoolId: string;
  cameraId: string;
  /** Detection class names that count as weapons. */
  weaponClasses?: readonly string[];
  /** Minimum detection score of a weapon sighting (default 0.35). */
  minScore?: number;
  /** Per-class minimum score, overriding `minScore` (e.g. { scissors: 0.5 }). */
  minScoreByClass?: Readonly<Record<string, number>>;
  /** Confirmed when a weapon is seen in at least `confirmHits` of the last `confirmWindow` samples (2 of 3). */
  confirmHits?: number;
  confirmWindow?: number;
  /** One sighting at or above this score confirms at once (default 0.85). */
  instantScore?: number;
  /** How far around the person box a weapon's centre still counts as held, as a fraction of its size (0.25). */
  nearFraction?: number;
  /** Class name of the tracks that can hold a weapon (default 'person'). */
  personClass?: string;
  /** Forget a person track not seen for this long (default 10 s). */
  forgetAfterMs?: number;
}

/** What one sample of a person track showed: its best-held weapon, or nothing. */
interface Sighting {
  weaponClass: string;
  score: number;
  overlap: number;
  seq: number;
  /** Person and weapon together, to draw on the evidence frame. */
  box: Box;
}

interface PersonState {
  /** The last `confirmWindow` samples, oldest first; null = sampled with no weapon held. */
  samples: (Sighting | null)[];
  lastSeenMs: number;
}

export class ArmedPerson implements Analytic {
  readonly kind = 'armed-person' as const;
  private readonly schoolId: string;
  private readonly cameraId: string;
  private readonly weaponClasses: ReadonlySet<string>;
  private readonly minScore: number;
  private readonly minScoreByClass: Readonly<Record<string, number>>;
  private readonly confirmHits: number;
  private readonly confirmWindow: number;
  private readonly instantScore: number;
  private readonly nearFraction: number;
  private readonly personClass: string;
  private readonly forgetAfterMs: number;
  private readonly persons = new Map<number, PersonState>();

  constructor(cfg: ArmedPersonOptions) {
    this.schoolId = cfg.schoolId;
    this.cameraId = cfg.cameraId;
    this.weaponClasses = new Set(cfg.weaponClasses ?? DEFAULT_WEAPON_CLASSES);
    this.minScore = cfg.minScore ?? 0.35;
    this.minScoreByClass = cfg.minScoreByClass ?? {};
    this.confirmWindow = cfg.confirmWindow ?? 3;
    this.confirmHits = cfg.confirmHits ?? 2;
    this.instantScore = cfg.instantScore ?? 0.85;
    this.nearFraction = cfg.nearFraction ?? 0.25;
    this.personClass = cfg.personClass ?? 'person';
    this.forgetAfterMs = cfg.forgetAfterMs ?? 10_000;
    if (!(this.confirmWindow >= 1 && this.confirmHits >= 1 && this.confirmHits <= this.confirmWindow)) {
      throw new RangeError(
        `armed-person: confirmHits (${this.confirmHits}) must be within 1..confirmWindow (${this.confirmWindow})`,
      );
    }
  }

  /** Person tracks held in memory (bounded by `forgetAfterMs`), for tests and metrics. */
  get trackCount(): number {
    return this.persons.size;
  }

  update(frame: AnalyticsFrame): AlarmCandidate[] {
    const persons = frame.tracks.filter((t) => t.className === this.personClass);
    const held = this.assignWeapons(frame.detections, persons, frame.seq);

    const out: AlarmCandidate[] = [];
    for (const person of persons) {
      let state = this.persons.get(person.id);
      if (!state) {
        state = { samples: [], lastSeenMs: frame.timeMs };
        this.persons.set(person.id, state);
      }
      state.lastSeenMs = frame.timeMs;
      state.samples.push(held.get(person.id) ?? null);
      if (state.samples.length > this.confirmWindow) state.samples.shift();
      const candidate = this.judge(person, state, frame);
      if (candidate) out.push(candidate);
    }

    for (const [id, state] of this.persons) {
      if (frame.timeMs - state.lastSeenMs > this.forgetAfterMs) this.persons.delete(id);
    }
    return out;
  }

  /** Best weapon sighting per person id for this frame. */
  private assignWeapons(detections: readonly Detection[], persons: readonly Track[], seq: number) {
    const held = new Map<number, Sighting>();
    for (const d of detections) {
      if (!this.weaponClasses.has(d.className)) continue;
      if (d.score < (this.minScoreByClass[d.className] ?? this.minScore)) continue;
      const weapon: Box = { x1: d.x1, y1: d.y1, x2: d.x2, y2: d.y2 };
      let holder: Track | null = null;
      let bestOverlap = -1;
      let bestDist = Infinity;
      for (const p of persons) {
        if (!this.isHeldBy(weapon, p.box)) continue;
        const overlap = intersectionArea(weapon, p.box) / Math.max(1e-9, area(weapon));
        const dist = centreDistance(weapon, p.box);
        if (overlap > bestOverlap || (overlap === bestOverlap && dist < bestDist)) {
          holder = p;
          bestOverlap = overlap;
          bestDist = dist;
        }
      }
      if (!holder) continue;
      const prev = held.get(holder.id);
      if (!prev || d.score > prev.score) {
        const box = union(weapon, holder.box);
        held.set(holder.id, { weaponClass: d.className, score: d.score, overlap: bestOverlap, seq, box });
      }
    }
    return held;
  }

  private isHeldBy(weapon: Box, person: Box): boolean {
    if (intersectionArea(weapon, person) > 0) return true;
    const gx = (person.x2 - person.x1) * this.nearFraction;
    const gy = (person.y2 - person.y1) * this.nearFraction;
    const cx = (weapon.x1 + weapon.x2) / 2;
    const cy = (weapon.y1 + weapon.y2) / 2;
    return cx >= person.x1 - gx && cx <= person.x2 + gx && cy >= person.y1 - gy && cy <= person.y2 + gy;
  }

  /** A candidate while the person's recent samples confirm a weapon, with the strongest sighting as evidence. */
  private judge(person: Track, state: PersonState, frame: AnalyticsFrame): AlarmCandidate | null {
    let hits = 0;
    let best: Sighting | null = null;
    for (const s of state.samples) {
      if (!s) continue;
      hits++;
      if (!best || s.score >= best.score) best = s;
    }
    if (!best) return null;
    const instant = best.score >= this.instantScore;
    if (hits < this.confirmHits && !instant) return null;
    return {
      kind: this.kind,
      severity: 'critical',
      schoolId: this.schoolId,
      cameraId: this.cameraId,
      zoneId: null,
      trackIds: [person.id],
      score: best.score,
      cues: {
        weaponClass: best.weaponClass,
        weaponScore: round3(best.score),
        hits,
        window: this.confirmWindow,
        overlap: round3(best.overlap),
        instant,
      },
      timeMs: frame.timeMs,
      // The frame that shows the weapon best, which need not be this one.
      evidenceSeq: best.seq,
      box: best.box,
    };
  }
}

function area(b: Box): number {
  return Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
}

function intersectionArea(a: Box, b: Box): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  return w > 0 && h > 0 ? w * h : 0;
}

function centreDistance(a: Box, b: Box): number {
  return Math.hypot((a.x1 + a.x2 - b.x1 - b.x2) / 2, (a.y1 + a.y2 - b.y1 - b.y2) / 2);
}

function union(a: Box, b: Box): Box {
  return {
    x1: Math.min(a.x1, b.x1),
    y1: Math.min(a.y1, b.y1),
    x2: Math.max(a.x2, b.x2),
    y2: Math.max(a.y2, b.y2),
  };
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
