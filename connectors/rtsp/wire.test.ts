import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtspReader, header, type RtspMessage } from './wire.js';

test('responses and interleaved frames survive being cut at every byte boundary', () => {
  const resp =
    'RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 5\r\nWWW-Authenticate: Basic realm="a"\r\nWWW-Authenticate: Digest realm="a", nonce="b"\r\n\r\nhello';
  const frame = (ch: number, n: number) =>
    Buffer.concat([Buffer.from([0x24, ch, n >> 8, n & 0xff]), Buffer.alloc(n, ch + 1)]);
  const stream = Buffer.concat([frame(0, 300), Buffer.from(resp), frame(1, 20), frame(0, 2000)]);
  for (let cut = 1; cut < stream.length; cut += 7) {
    const frames: string[] = [];
    const msgs: RtspMessage[] = [];
    const r = new RtspReader(
      (ch, d) => frames.push(`${ch}:${d.length}:${d[0]}:${d[d.length - 1]}`),
      (m) => msgs.push(m),
    );
    // Two-way cut plus a cut inside the tail, to exercise both the in-place and the buffered path.
    const cut2 = Math.min(stream.length, cut + 1500);
    r.push(stream.subarray(0, cut));
    r.push(stream.subarray(cut, cut2));
    r.push(stream.subarray(cut2));
    assert.deepEqual(frames, ['0:300:1:1', '1:20:2:2', '0:2000:1:1'], `cut at ${cut}`);
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0].status, 200);
    assert.equal(header(msgs[0], 'cseq'), '3');
    assert.equal(msgs[0].body, 'hello');
    assert.equal(msgs[0].headers.get('www-authenticate')?.length, 2);
    assert.equal(r.skippedBytes, 0);
  }
});

test('garbage between frames is skipped until the next frame', () => {
  const got: number[] = [];
  const r = new RtspReader(
    (_ch, d) => got.push(d.length),
    () => {},
  );
  r.push(Buffer.concat([Buffer.from([0x00, 0xff, 0x10]), Buffer.from([0x24, 0, 0, 2, 9, 9])]));
  assert.deepEqual(got, [2]);
  assert.equal(r.skippedBytes, 3);
});
