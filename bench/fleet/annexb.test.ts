import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { repoPath } from '../../engine/paths.js';
import { accessUnits, splitNalUnits } from './annexb.js';

test('demo clip: 314 access units at GOP 25, SPS+PPS before every IDR', () => {
  const aus = accessUnits(splitNalUnits(readFileSync(repoPath('bench/fixtures/clips/demo-640x360.h264'))));
  assert.equal(aus.length, 314);
  aus.forEach((au, i) => {
    assert.equal(au.keyframe, i % 25 === 0, `unit ${i}`);
    if (au.keyframe) {
      const types = au.nalus.map((n) => n[0] & 0x1f);
      assert.ok(
        types.indexOf(7) >= 0 && types.indexOf(7) < types.indexOf(5) && types.indexOf(8) < types.indexOf(5),
        `unit ${i}: ${types.join(',')}`,
      );
    }
  });
});

test('3- and 4-byte start codes', () => {
  const nals = splitNalUnits(Buffer.from([0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4]));
  assert.deepEqual(
    nals.map((n) => [...n]),
    [
      [0x67, 1, 2],
      [0x68, 3],
      [0x65, 4],
    ],
  );
});
