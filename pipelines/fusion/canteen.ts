/**
 * Canteen reconciliation ("phantom portions"): per meal window and local day, palm-biometric meal
 * confirmations against the people the canteen cameras saw entering. Pure: no clock of its own.
 */
import type { SchoolConfig } from '../../engine/config/schema.js';
import type { Finding, PalmEvent } from './types.js';
import { hhmmToMinutes, localInstant } from './local-date.js';

export type CanteenSchool = Pick<SchoolConfig, 'id' | 'timeZone' | 'mealWindows'>;

export interface CanteenOptions {
  /** engine.fusion.canteenGapRatio: the gap must exceed this share of max(scanned, counted). */
  canteenGapRatio: number;
  /** engine.fusion.canteenMinGap: and exceed this many portions. */
  canteenMinGap: number;
}

/** How a palm confirmation was booked. */
export type PalmOutcome = 'scanned' | 'repeat' | 'outside-window' | 'unknown-window';
/** How a camera count was booked. */
export type CameraCountOutcome = 'counted' | 'outside-window' | 'unknown-window' | 'camera-not-in-window';

export interface CanteenWindowResult {
  schoolId: string;
  windowId: string;
  /** Local date, YYYY-MM-DD. */
  day: string;
  /** Distinct people confirmed by palm inside the window's time range. */
  scanned: number;
  /** Further palm confirmations by someone already confirmed in this window (not counted in `scanned`). */
  repeatScans: number;
  /** Palm confirmations tagged with this window but made outside its time range (not in `scanned`). */
  outsideWindow: number;
  /** People the window's cameras saw entering, summed over its cameras, inside the time range. */
  counted: number;
  /** scanned − counted: positive = more meals confirmed than people seen (possible phantom portions). */
  gap: number;
  /** |gap| / max(scanned, counted), 0..1 (0 when both are 0). */
  gapShare: number;
}

interface WindowDay {
  persons: Set<string>;
  repeatScans: number;
  outsideWindow: number;
  counted: number;
}

type MealWindow = CanteenSchool['mealWindows'][number];

function inWindow(w: MealWindow, minute: number): boolean {
  const from = hhmmToMinutes(w.from);
  const to = hhmmToMinutes(w.to);
  return from <= to ? minute >= from && minute < to : minute >= from || minute < to;
}

/**
 * Palm events name their meal window; the reconciler checks the scan time against that window's [from, to)
 * in the school's time zone. Camera counts are deltas (people who entered since the camera's last report,
 * e.g. EntryCounter.update per frame) and only count for cameras listed in the window's `cameras`; the
 * window's cameras are summed, so they must watch different doors. State is per (school, window, local
 * day) and is dropped by close(); prune() drops days never closed.
 */
export class CanteenReconciler {
  private readonly schools = new Map<string, CanteenSchool>();
  private readonly open = new Map<string, WindowDay>();

  constructor(
    schools: readonly CanteenSchool[],
    private readonly opts: CanteenOptions,
  ) {
    for (const s of schools) {
      localInstant(0, s.timeZone); // unknown time zone: fail at start-up
      this.schools.set(s.id, s);
    }
  }

  addPalm(ev: PalmEvent): PalmOutcome {
    const found = this.locate(ev.schoolId, ev.mealWindow, ev.time);
    if (!found) return 'unknown-window';
    const state = this.state(ev.schoolId, ev.mealWindow, found.day);
    if (!found.inside) {
      state.outsideWindow++;
      return 'outside-window';
    }
    if (state.persons.has(ev.person)) {
      state.repeatScans++;
      return 'repeat';
    }
    state.persons.add(ev.person);
    return 'scanned';
  }

  addCameraCount(
    schoolId: string,
    windowId: string,
    cameraId: string,
    entered: number,
    timeMs: number,
  ): CameraCountOutcome {
    const found = this.locate(schoolId, windowId, timeMs);
    if (!found) return 'unknown-window';
    if (!found.window.cameras.includes(cameraId)) return 'camera-not-in-window';
    if (!found.inside) return 'outside-window';
    this.state(schoolId, windowId, found.day).counted += entered;
    return 'counted';
  }

  /**
   * Closes a window's local day: the totals, and a `canteen-discrepancy` Finding (subject: the window id)
   * when |gap| > canteenMinGap and gapShare > canteenGapRatio. The finding's `direction` value says which
   * way: 'more-scanned' (meals confirmed for people the cameras did not see: possible phantom portions) or
   * 'more-counted' (people ate without a palm confirmation, or the cameras over-count).
   */
  close(
    schoolId: string,
    windowId: string,
    day: string,
    nowMs: number,
  ): { result: CanteenWindowResult; finding: Finding | null } {
    const k = `${schoolId}\u0000${windowId}\u0000${day}`;
    const s = this.open.get(k);
    this.open.delete(k);
    const scanned = s?.persons.size ?? 0;
    const counted = s?.counted ?? 0;
    const gap = scanned - counted;
    const denom = Math.max(scanned, counted);
    const result: CanteenWindowResult = {
      schoolId,
      windowId,
      day,
      scanned,
      repeatScans: s?.repeatScans ?? 0,
      outsideWindow: s?.outsideWindow ?? 0,
      counted,
      gap,
      gapShare: denom === 0 ? 0 : Math.abs(gap) / denom,
    };
    const flagged = Math.abs(gap) > this.opts.canteenMinGap && result.gapShare > this.opts.canteenGapRatio;
    const finding: Finding | null = flagged
      ? {
          kind: 'canteen-discrepancy',
          schoolId,
          subject: windowId,
          day,
          values: {
            scanned,
            counted,
            gap,
            gapShare: result.gapShare,
            repeatScans: result.repeatScans,
            outsideWindow: result.outsideWindow,
            direction: gap > 0 ? 'more-scanned' : 'more-counted',
          },
          time: nowMs,
        }
      : null;
    return { result, finding };
  }

  /** Drops window days before `beforeDay` (YYYY-MM-DD) that were never closed. */
  prune(beforeDay: string): void {
    for (const k of this.open.keys())
      if (k.slice(k.lastIndexOf('\u0000') + 1) < beforeDay) this.open.delete(k);
  }

  private locate(
    schoolId: string,
    windowId: string,
    timeMs: number,
  ): { window: MealWindow; day: string; inside: boolean } | null {
    const school = this.schools.get(schoolId);
    const window = school?.mealWindows.find((w) => w.id === windowId);
    if (!school || !window) return null;
    const { date, minute } = localInstant(timeMs, school.timeZone);
    return { window, day: date, inside: inWindow(window, minute) };
  }

  private state(schoolId: string, windowId: string, day: string): WindowDay {
    const k = `${schoolId}\u0000${windowId}\u0000${day}`;
    let s = this.open.get(k);
    if (!s) {
      s = { persons: new Set(), repeatScans: 0, outsideWindow: 0, counted: 0 };
      this.open.set(k, s);
    }
    return s;
  }
}
