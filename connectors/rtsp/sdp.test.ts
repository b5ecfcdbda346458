import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSdp, resolveControl } from './sdp.js';

test('H.264 track: rtpmap, fmtp, sprop-parameter-sets, control relative to Content-Base', () => {
  const sdp = [
    'v=0',
    'o=- 1 1 IN IP4 10.0.0.5',
    's=cam',
    't=0 0',
    'a=control:*',
    'm=video 0 RTP/AVP 96',
    'a=rtpmap:96 H264/90000',
    'a=fmtp:96 packetization-mode=1;profile-level-id=4D401E;sprop-parameter-sets=Z01AHpZUBQF/LNwEBAQI,aO48gA==',
    'a=control:trackID=0',
    'm=audio 0 RTP/AVP 97',
    'a=rtpmap:97 MPEG4-GENERIC/16000/1',
    'a=control:rtsp://10.0.0.5/abs/trackID=1',
  ].join('\r\n');
  const d = parseSdp(sdp, 'rtsp://10.0.0.5:554/Streaming/Channels/101/');
  assert.equal(d.control, 'rtsp://10.0.0.5:554/Streaming/Channels/101/');
  assert.equal(d.media.length, 2);
  const v = d.media[0];
  assert.equal(v.kind, 'video');
  assert.equal(v.codec, 'h264');
  assert.equal(v.payloadType, 96);
  assert.equal(v.clockRate, 90000);
  assert.equal(v.fmtp['profile-level-id'], '4D401E');
  assert.equal(v.control, 'rtsp://10.0.0.5:554/Streaming/Channels/101/trackID=0');
  assert.equal(v.parameterSets.length, 2);
  assert.equal(v.parameterSets[0][0] & 0x1f, 7);
  assert.equal(v.parameterSets[1][0] & 0x1f, 8);
  assert.equal(d.media[1].control, 'rtsp://10.0.0.5/abs/trackID=1');
  assert.equal(d.media[1].codec, undefined);
});

test('H.265 track: sprop-vps/sps/pps', () => {
  const sdp =
    'v=0\nm=video 0 RTP/AVP 98\na=rtpmap:98 H265/90000\na=fmtp:98 sprop-vps=QAEMAf//; sprop-sps=QgEBAWA=; sprop-pps=RAHA8vA=\na=control:track1\n';
  const v = parseSdp(sdp, 'rtsp://cam/live').media[0];
  assert.equal(v.codec, 'h265');
  assert.deepEqual(
    v.parameterSets.map((p) => (p[0] >> 1) & 0x3f),
    [32, 33, 34],
  );
  assert.equal(v.control, 'rtsp://cam/live/track1');
});

test('control resolution: absolute, "*", missing, and query-string bases', () => {
  assert.equal(resolveControl('rtsp://h/a/', 'rtsp://other/x'), 'rtsp://other/x');
  assert.equal(resolveControl('rtsp://h/a/', '*'), 'rtsp://h/a/');
  assert.equal(resolveControl('rtsp://h/a', undefined), 'rtsp://h/a');
  assert.equal(
    resolveControl('rtsp://h/cam/realmonitor?channel=1&subtype=0', 'trackID=0'),
    'rtsp://h/cam/realmonitor?channel=1&subtype=0/trackID=0',
  );
});
