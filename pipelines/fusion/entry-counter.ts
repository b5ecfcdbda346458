/**
 * Counts people entering a zone on one camera: a person track counts once, the first time its foot point is
 * inside one of the zones. The canteen reconciliation compares these counts with palm confirmations.
 * Bounded: track ids not seen for `forgetMs` are forgotten (ids are never reused by the tracker).
 */
import type { Track } from '../analytics/types.js';
import { footPoint, pointInPolygon, type Zone } from '../analytics/zones.js';

export class EntryCounter {
  private readonly counted = new Map<number, number>();

  constructor(
    private readonly zones: readonly Zone[],
    private readonly forgetMs = 10 * 60_000,
  ) {}

  /** People who entered in this frame. */
  update(tracks: readonly Track[], width: number, height: number, timeMs: number): number {
    let entered = 0;
    for (const t of tracks) {
      if (t.className !== 'person' || !t.matched) continue;
      if (this.counted.has(t.id)) {
        this.counted.set(t.id, timeMs);
        continue;
      }
      const foot = footPoint(t.box, width, height);
      if (this.zones.some((z) => pointInPolygon(foot.x, foot.y, z.polygon))) {
        this.counted.set(t.id, timeMs);
        entered++;
      }
    }
    for (const [id, seen] of this.counted) if (timeMs - seen > this.forgetMs) this.counted.delete(id);
    return entered;
  }
}
