import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boxWithFoot, personTrack, rect, zoneOf } from '../analytics/test-frames.js';
import { EntryCounter } from './entry-counter.js';

test('a person counts once when their foot point first enters the zone, never again while tracked', () => {
  const door = zoneOf('canteen-door', 'canteen', rect(0.4, 0.5, 0.6, 1));
  const c = new EntryCounter([door]);
  const at = (fx: number, t: number, id = 1) => personTrack(id, boxWithFoot(fx, 0.8), t);
  assert.equal(c.update([at(0.2, 0)], 1000, 1000, 0), 0);
  assert.equal(c.update([at(0.5, 1000)], 1000, 1000, 1000), 1);
  assert.equal(c.update([at(0.55, 2000)], 1000, 1000, 2000), 0);
  assert.equal(c.update([at(0.7, 3000), at(0.45, 3000, 2)], 1000, 1000, 3000), 1);
  assert.equal(c.update([at(0.5, 4000)], 1000, 1000, 4000), 0);
});
