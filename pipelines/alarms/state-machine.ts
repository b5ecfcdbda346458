import { randomUUID } from 'node:crypto';
import type { Alarm, AlarmCandidate, AlarmKind, Severity } from '../analytics/types.js';

/**
 * Turns the analytics' candidates (from all cameras) into alarms with a lifecycle:
 * open → confirmed → escalated → acknowledged → resolved.
 *
 * - Dedup: one alarm per incident = (schoolId, cameraId, kind, zoneId); further candidates for it only
 *   update it (frames, max score, latest cues, evidence of the best-scoring candidate, the union of their
 *   track ids up to MAX_ALARM_TRACKS). Not per track: at 1-2 samples/s tracks break and re-form, and an
 *   operator wants one row for "someone is in the basement", not one per track id the tracker handed out.
 * - Confirmation: an alarm is confirmed once it has seen `confirmFrames[kind]` candidate frames. With 1 it
 *   is confirmed by its first candidate and published once, already confirmed (no separate 'open').
 * - Expiry of unconfirmed alarms: an open alarm whose candidates stop for `resolveAfterMs` is resolved with
 *   `confirmedAt: null` — it never escalates, and no cooldown follows, so one spurious frame cannot mute a
 *   real situation a few seconds later. That 'resolved' change is still returned, because its 'open' was.
 * - Escalation: a confirmed alarm not acknowledged within `escalateAfterMs[severity]` becomes escalated.
 * - Resolution: any active alarm (acknowledged ones too) with no candidate for `resolveAfterMs` is resolved;
 *   a confirmed one then puts its key in cooldown for `cooldownMs`, and candidates for it meanwhile are
 *   counted (`suppressedCandidates`) and ignored.
 * - Severity: the first candidate's, raised one level (never above critical) when its zone is one of
 *   `elevatedZones` (e.g. a basement or an entrance, where the same event matters more). It stays fixed for
 *   the alarm's life so its subject (`kuzet.alarm.<severity>.…`) and escalation deadline never move.
 * - Bounded: at most `maxActive` active alarms. A new one over the bound first resolves the oldest alarm of
 *   the lowest severity present, if that is not above the newcomer's; otherwise the newcomer is dropped
 *   (`droppedAlarms`). Such an eviction is returned by the next tick().
 *
 * Every returned Alarm is a snapshot of one state change, to publish and store; updates that change no state
 * return nothing. Times: offer() uses the candidate's timeMs, tick() and acknowledge() the given nowMs.
 */
export interface AlarmStateMachineOptions {
  /** Candidate frames needed to confirm, per kind (DEFAULT_CONFIRM_FRAMES for kinds not given). */
  confirmFrames?: Partial<Record<AlarmKind, number>>;
  /** Ms from confirmation to escalation when not acknowledged, per severity; null = never. */
  escalateAfterMs?: Partial<Record<Severity, number | null>>;
  /** Ms without a candidate after which an alarm resolves (default 30 s). */
  resolveAfterMs?: number;
  /** Ms after a confirmed alarm resolves during which its key cannot reopen (default 60 s). */
  cooldownMs?: number;
  /** Zone ids where every alarm's severity is raised one level. */
  elevatedZones?: Iterable<string>;
  /** Most alarms active at once (default 10,000). */
  maxActive?: number;
  /**
   * A better-scoring candidate replaced an active alarm's evidence frame without changing its state (so
   * offer() returns nothing): the evidence renderer must copy that frame now, before the camera's sample
   * ring moves past it.
   */
  onEvidenceChanged?: (alarm: Alarm) => void;
}

export const DEFAULT_CONFIRM_FRAMES: Readonly<Record<AlarmKind, number>> = {
  // The armed-person analytic already confirms over N of M frames before it reports.
  'armed-person': 1,
  intrusion: 1,
  fight: 2,
  crowding: 2,
  loitering: 1,
  'camera-tamper': 2,
  'person-down': 2,
  // Sensor events are facts from a device, not inferences from pixels: one is enough.
  panic: 1,
  'air-quality': 1,
  fire: 1,
};

export const DEFAULT_ESCALATE_AFTER_MS: Readonly<Record<Severity, number | null>> = {
  critical: 30_000,
  high: 60_000,
  medium: 300_000,
  low: null,
};

export const DEFAULT_RESOLVE_AFTER_MS = 30_000;
export const DEFAULT_COOLDOWN_MS = 60_000;
export const DEFAULT_MAX_ACTIVE = 10_000;

const SEVERITY_ORDER: readonly Severity[] = ['low', 'medium', 'high', 'critical'];

export function raiseSeverity(s: Severity): Severity {
  return SEVERITY_ORDER[Math.min(SEVERITY_ORDER.indexOf(s) + 1, SEVERITY_ORDER.length - 1)]!;
}

/** Track ids an alarm keeps (the first ones seen); enough to find the people, bounded for the wire. */
export const MAX_ALARM_TRACKS = 16;

export function alarmKey(c: AlarmCandidate): string {
  return JSON.stringify([c.schoolId, c.cameraId, c.kind, c.zoneId]);
}

interface ActiveAlarm {
  key: string;
  alarm: Alarm;
  lastCandidateMs: number;
}

/** A copy the caller may keep or serialise while the machine goes on mutating its own. */
function snapshot(a: Alarm): Alarm {
  return {
    ...a,
    trackIds: [...a.trackIds],
    cues: { ...a.cues },
    evidence: { seq: a.evidence.seq, box: a.evidence.box ? { ...a.evidence.box } : null },
  };
}

export class AlarmStateMachine {
  private readonly confirmFrames: Record<AlarmKind, number>;
  private readonly escalateAfterMs: Record<Severity, number | null>;
  private readonly resolveAfterMs: number;
  private readonly cooldownMs: number;
  private readonly elevatedZones: ReadonlySet<string>;
  private readonly maxActive: number;
  private readonly onEvidenceChanged: ((alarm: Alarm) => void) | null;
  /** Active alarms by key; Map order is opening order, so the first match is the oldest. */
  private readonly byKey = new Map<string, ActiveAlarm>();
  private readonly byId = new Map<string, ActiveAlarm>();
  /** Key → ms until which it cannot reopen. */
  private readonly cooldownUntil = new Map<string, number>();
  /** Changes made outside tick() that offer() could not return (evictions). */
  private readonly pending: Alarm[] = [];
  private suppressed = 0;
  private dropped = 0;

  constructor(opts: AlarmStateMachineOptions = {}) {
    this.confirmFrames = { ...DEFAULT_CONFIRM_FRAMES, ...opts.confirmFrames };
    this.escalateAfterMs = { ...DEFAULT_ESCALATE_AFTER_MS, ...opts.escalateAfterMs };
    this.resolveAfterMs = opts.resolveAfterMs ?? DEFAULT_RESOLVE_AFTER_MS;
    this.cooldownMs = opts.cooldownMs ?? DEFAULT_COOLDOWN_MS;
    this.elevatedZones = new Set(opts.elevatedZones ?? []);
    this.maxActive = Math.max(1, opts.maxActive ?? DEFAULT_MAX_ACTIVE);
    this.onEvidenceChanged = opts.onEvidenceChanged ?? null;
  }

  /** Candidates ignored because their key was in cooldown. */
  get suppressedCandidates(): number {
    return this.suppressed;
  }

  /** New alarms refused because maxActive alarms of higher severity were active. */
  get droppedAlarms(): number {
    return this.dropped;
  }

  offer(c: AlarmCandidate): Alarm | null {
    const key = alarmKey(c);
    const existing = this.byKey.get(key);
    if (existing) return this.update(existing, c);

    const until = this.cooldownUntil.get(key);
    if (until !== undefined) {
      if (c.timeMs < until) {
        this.suppressed++;
        return null;
      }
      this.cooldownUntil.delete(key);
    }

    const severity =
      c.zoneId !== null && this.elevatedZones.has(c.zoneId) ? raiseSeverity(c.severity) : c.severity;
    if (this.byKey.size >= this.maxActive && !this.evictFor(severity, c.timeMs)) {
      this.dropped++;
      return null;
    }
    const confirmed = this.confirmFrames[c.kind] <= 1;
    const alarm: Alarm = {
      id: randomUUID(),
      kind: c.kind,
      severity,
      state: confirmed ? 'confirmed' : 'open',
      schoolId: c.schoolId,
      cameraId: c.cameraId,
      zoneId: c.zoneId,
      trackIds: c.trackIds.slice(0, MAX_ALARM_TRACKS),
      score: c.score,
      cues: { ...c.cues },
      frames: 1,
      openedAt: c.timeMs,
      updatedAt: c.timeMs,
      confirmedAt: confirmed ? c.timeMs : null,
      acknowledgedAt: null,
      acknowledgedBy: null,
      resolvedAt: null,
      evidence: { seq: c.evidenceSeq, box: c.box ? { ...c.box } : null },
    };
    const entry: ActiveAlarm = { key, alarm, lastCandidateMs: c.timeMs };
    this.byKey.set(key, entry);
    this.byId.set(alarm.id, entry);
    return snapshot(alarm);
  }

  /** Advances the clock: escalations, resolutions, and changes offer() could not return. */
  tick(nowMs: number): Alarm[] {
    const changes = this.pending.splice(0);
    for (const entry of this.byKey.values()) {
      const a = entry.alarm;
      if (nowMs - entry.lastCandidateMs >= this.resolveAfterMs) {
        changes.push(this.resolve(entry, nowMs));
        continue;
      }
      const escalateAfter = this.escalateAfterMs[a.severity];
      if (
        a.state === 'confirmed' &&
        escalateAfter !== null &&
        a.confirmedAt !== null &&
        nowMs - a.confirmedAt >= escalateAfter
      ) {
        a.state = 'escalated';
        a.updatedAt = nowMs;
        changes.push(snapshot(a));
      }
    }
    for (const [key, until] of this.cooldownUntil) if (nowMs >= until) this.cooldownUntil.delete(key);
    return changes;
  }

  /**
   * An operator took the alarm: it stops escalating and resolves once its candidates stop. Open alarms can
   * be acknowledged too (the operator saw it first). Null for unknown, resolved or already acknowledged ids.
   */
  acknowledge(alarmId: string, by: string, nowMs: number): Alarm | null {
    const entry = this.byId.get(alarmId);
    if (!entry || entry.alarm.state === 'acknowledged') return null;
    const a = entry.alarm;
    a.state = 'acknowledged';
    a.acknowledgedAt = nowMs;
    a.acknowledgedBy = by;
    a.updatedAt = nowMs;
    return snapshot(a);
  }

  /** A snapshot of an active alarm by id; null when unknown or resolved. */
  find(alarmId: string): Alarm | null {
    const entry = this.byId.get(alarmId);
    return entry ? snapshot(entry.alarm) : null;
  }

  /** Snapshots of every alarm not yet resolved, oldest first. */
  active(): Alarm[] {
    return [...this.byKey.values()].map((e) => snapshot(e.alarm));
  }

  private update(entry: ActiveAlarm, c: AlarmCandidate): Alarm | null {
    const a = entry.alarm;
    a.frames++;
    a.cues = { ...c.cues };
    for (const t of c.trackIds) {
      if (a.trackIds.length >= MAX_ALARM_TRACKS) break;
      if (!a.trackIds.includes(t)) a.trackIds.push(t);
    }
    // Candidates from several cameras may arrive a little out of order; time never runs back.
    entry.lastCandidateMs = Math.max(entry.lastCandidateMs, c.timeMs);
    a.updatedAt = Math.max(a.updatedAt, c.timeMs);
    let betterEvidence = false;
    if (c.score > a.score) {
      a.score = c.score;
      a.evidence = { seq: c.evidenceSeq, box: c.box ? { ...c.box } : null };
      betterEvidence = true;
    }
    if (a.state === 'open' && a.frames >= this.confirmFrames[a.kind]) {
      a.state = 'confirmed';
      a.confirmedAt = a.updatedAt;
      return snapshot(a);
    }
    if (betterEvidence) this.onEvidenceChanged?.(snapshot(a));
    return null;
  }

  private resolve(entry: ActiveAlarm, nowMs: number): Alarm {
    const a = entry.alarm;
    a.state = 'resolved';
    a.resolvedAt = nowMs;
    a.updatedAt = nowMs;
    this.byKey.delete(entry.key);
    this.byId.delete(a.id);
    // Only a real (confirmed) alarm earns a cooldown; see the class comment.
    if (a.confirmedAt !== null) this.cooldownUntil.set(entry.key, nowMs + this.cooldownMs);
    return snapshot(a);
  }

  /** Makes room for a newcomer of the given severity; false when every active alarm outranks it. */
  private evictFor(severity: Severity, nowMs: number): boolean {
    for (const s of SEVERITY_ORDER) {
      if (SEVERITY_ORDER.indexOf(s) > SEVERITY_ORDER.indexOf(severity)) return false;
      for (const entry of this.byKey.values()) {
        if (entry.alarm.severity !== s) continue;
        this.pending.push(this.resolve(entry, nowMs));
        return true;
      }
    }
    return false;
  }
}
