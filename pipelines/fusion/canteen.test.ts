import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CanteenReconciler, type CanteenSchool } from './canteen.js';
import { MONDAY, SCHOOL, TZ, at, palm } from './test-scans.js';

const school: CanteenSchool = {
  id: SCHOOL,
  timeZone: TZ,
  mealWindows: [
    { id: 'breakfast-1', from: '09:00', to: '09:30', cameras: ['cam-canteen-a', 'cam-canteen-b'] },
  ],
};
const OPTS = { canteenGapRatio: 0.15, canteenMinGap: 5 };
const mon = (hhmm: string) => at(`${MONDAY}T${hhmm}`);
const CLOSE = mon('10:00');

/** n distinct pupils confirm by palm at 09:10. */
function scans(r: CanteenReconciler, n: number): void {
  for (let i = 0; i < n; i++) assert.equal(r.addPalm(palm(`p${i}`, 'breakfast-1', mon('09:10'))), 'scanned');
}

describe('CanteenReconciler', () => {
  it('flags more meals confirmed than people seen entering (possible phantom portions)', () => {
    const r = new CanteenReconciler([school], OPTS);
    scans(r, 40);
    r.addCameraCount(SCHOOL, 'breakfast-1', 'cam-canteen-a', 20, mon('09:05'));
    r.addCameraCount(SCHOOL, 'breakfast-1', 'cam-canteen-b', 12, mon('09:12'));
    const { result, finding } = r.close(SCHOOL, 'breakfast-1', MONDAY, CLOSE);
    assert.deepEqual(result, {
      schoolId: SCHOOL,
      windowId: 'breakfast-1',
      day: MONDAY,
      scanned: 40,
      repeatScans: 0,
      outsideWindow: 0,
      counted: 32,
      gap: 8,
      gapShare: 0.2,
    });
    assert.deepEqual(finding, {
      kind: 'canteen-discrepancy',
      schoolId: SCHOOL,
      subject: 'breakfast-1',
      day: MONDAY,
      values: {
        scanned: 40,
        counted: 32,
        gap: 8,
        gapShare: 0.2,
        repeatScans: 0,
        outsideWindow: 0,
        direction: 'more-scanned',
      },
      time: CLOSE,
    });
    // Closing drops the state.
    assert.equal(r.close(SCHOOL, 'breakfast-1', MONDAY, CLOSE).result.scanned, 0);
  });

  it('needs both the minimum gap and the share', () => {
    // gap 5 is not > minGap 5.
    const r1 = new CanteenReconciler([school], OPTS);
    scans(r1, 40);
    r1.addCameraCount(SCHOOL, 'breakfast-1', 'cam-canteen-a', 35, mon('09:20'));
    assert.equal(r1.close(SCHOOL, 'breakfast-1', MONDAY, CLOSE).finding, null);
    // gap 10 of 100 is 0.1, not > 0.15.
    const r2 = new CanteenReconciler([school], OPTS);
    scans(r2, 100);
    r2.addCameraCount(SCHOOL, 'breakfast-1', 'cam-canteen-a', 110, mon('09:20'));
    const closed = r2.close(SCHOOL, 'breakfast-1', MONDAY, CLOSE);
    assert.equal(closed.result.gap, -10);
    assert.equal(closed.finding, null);
  });

  it('flags more people than meals with the other sign', () => {
    const r = new CanteenReconciler([school], OPTS);
    scans(r, 10);
    r.addCameraCount(SCHOOL, 'breakfast-1', 'cam-canteen-a', 30, mon('09:20'));
    const { finding } = r.close(SCHOOL, 'breakfast-1', MONDAY, CLOSE);
    assert.equal(finding?.values.gap, -20);
    assert.equal(finding?.values.direction, 'more-counted');
  });

  it('books scans outside the window, repeats, and foreign cameras apart', () => {
    const r = new CanteenReconciler([school], OPTS);
    assert.equal(r.addPalm(palm('p1', 'breakfast-1', mon('09:00'))), 'scanned');
    assert.equal(r.addPalm(palm('p1', 'breakfast-1', mon('09:15'))), 'repeat');
    assert.equal(r.addPalm(palm('p2', 'breakfast-1', mon('09:30'))), 'outside-window');
    assert.equal(r.addPalm(palm('p3', 'breakfast-1', mon('08:59'))), 'outside-window');
    assert.equal(r.addPalm(palm('p4', 'lunch-9', mon('09:10'))), 'unknown-window');
    assert.equal(
      r.addCameraCount(SCHOOL, 'breakfast-1', 'cam-corridor', 3, mon('09:10')),
      'camera-not-in-window',
    );
    assert.equal(r.addCameraCount(SCHOOL, 'breakfast-1', 'cam-canteen-a', 3, mon('11:00')), 'outside-window');
    assert.equal(r.addCameraCount(SCHOOL, 'breakfast-1', 'cam-canteen-a', 1, mon('09:01')), 'counted');
    const { result, finding } = r.close(SCHOOL, 'breakfast-1', MONDAY, CLOSE);
    assert.deepEqual(
      [result.scanned, result.repeatScans, result.outsideWindow, result.counted, result.gap],
      [1, 1, 2, 1, 0],
    );
    assert.equal(finding, null);
  });
});
