import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { repoPath } from '../paths.js';
import { describeAccessUnit, nalTypes } from './annexb.js';

test('Annex B scan finds SPS, PPS and the IDR slice of the fixture keyframe', () => {
  const au = readFileSync(repoPath('detectors', 'yolox', 'testdata', 'person-640x424-idr.h264'));
  const types = nalTypes(au, 'h264');
  assert.ok(types.includes(7) && types.includes(8) && types.includes(5), `types ${types}`);
  assert.equal(describeAccessUnit(au, 'h264').keyframe, true);
  // Parameter sets alone (everything before the first IDR slice) are not a keyframe.
  const idrAt = au.indexOf(Buffer.from([0, 0, 1, 0x65]));
  assert.equal(describeAccessUnit(au.subarray(0, idrAt), 'h264').keyframe, false);
  // H.265: IDR_W_RADL is type 19, written as (19 << 1) = 0x26; a TRAIL_R (1) slice is not a keyframe.
  assert.equal(describeAccessUnit(new Uint8Array([0, 0, 0, 1, 0x26, 0x01, 0xaf]), 'h265').keyframe, true);
  assert.equal(describeAccessUnit(new Uint8Array([0, 0, 0, 1, 0x02, 0x01, 0xaf]), 'h265').keyframe, false);
  assert.equal(describeAccessUnit(new Uint8Array(16), 'h264').summary, 'no Annex B start code');
});
