import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { repoPath } from '../../engine/paths.js';
import { letterboxJpeg } from '../jpeg-letterbox.js';
import {
  YOLOX_INPUT_NAME,
  YOLOX_INPUT_SIZE,
  YOLOX_OUTPUT_NAME,
  defaultModelPath,
  dynamicBatchModelPath,
} from './model.js';
import { createYoloxSession, type YoloxSession } from './session.js';

const size = YOLOX_INPUT_SIZE;
const inputLength = 3 * size * size;
const outputLength = 3549 * 85;

let fixed: YoloxSession;
let dynamic: YoloxSession;

before(async () => {
  fixed = await createYoloxSession({ modelPath: defaultModelPath });
  dynamic = await createYoloxSession({ modelPath: dynamicBatchModelPath });
});
after(async () => {
  await fixed.session.release();
  await dynamic.session.release();
});

function inputShape(session: ort.InferenceSession): ReadonlyArray<number | string> {
  const meta = session.inputMetadata.find((m) => m.name === YOLOX_INPUT_NAME);
  assert.ok(meta, `no input '${YOLOX_INPUT_NAME}' in ${JSON.stringify(session.inputMetadata)}`);
  assert.ok(meta.isTensor, `input '${YOLOX_INPUT_NAME}' is not a tensor`);
  return meta.shape;
}

async function run(session: ort.InferenceSession, data: Float32Array, batch: number): Promise<Float32Array> {
  const out = await session.run({
    [YOLOX_INPUT_NAME]: new ort.Tensor('float32', data, [batch, 3, size, size]),
  });
  const output = out[YOLOX_OUTPUT_NAME];
  assert.ok(output, `output '${YOLOX_OUTPUT_NAME}' missing`);
  assert.deepEqual(output.dims, [batch, 3549, 85]);
  assert.ok(output.data instanceof Float32Array);
  return output.data;
}

test('input metadata: the dynamic model has a symbolic batch dim, the shipped one a fixed 1', () => {
  const dynShape = inputShape(dynamic.session);
  assert.equal(typeof dynShape[0], 'string', `dynamic model input shape ${JSON.stringify(dynShape)}`);
  assert.deepEqual(dynShape.slice(1), [3, size, size]);
  assert.deepEqual(inputShape(fixed.session), [1, 3, size, size]);
});

test('a batch of 3 letterboxed images on the dynamic model matches the shipped model image by image', async () => {
  const names = ['person', 'bus', 'dog'];
  const batch = new Float32Array(names.length * inputLength);
  for (const [i, name] of names.entries()) {
    const jpeg = readFileSync(repoPath('detectors', 'yolox', 'testdata', `${name}.jpg`));
    await letterboxJpeg(jpeg, batch.subarray(i * inputLength, (i + 1) * inputLength), size, 'lanczos3');
  }
  const batched = await run(dynamic.session, batch, names.length);
  for (const [i, name] of names.entries()) {
    const single = await run(fixed.session, batch.slice(i * inputLength, (i + 1) * inputLength), 1);
    const item = batched.subarray(i * outputLength, (i + 1) * outputLength);
    let maxDiff = 0;
    for (let j = 0; j < outputLength; j++) maxDiff = Math.max(maxDiff, Math.abs(item[j] - single[j]));
    assert.ok(maxDiff < 1e-4, `${name}.jpg: batched vs single max abs diff ${maxDiff}`);
  }
});
