import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  basicAuthorization,
  credentialsFromUrl,
  digestAuthorization,
  digestResponse,
  parseChallenges,
  pickChallenge,
} from './auth.js';

test('Digest response matches the RFC 2617 §3.5 example', () => {
  const [c] = parseChallenges([
    'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
  ]);
  assert.equal(c.scheme, 'digest');
  assert.equal(c.qop, 'auth');
  const input = {
    user: 'Mufasa',
    pass: 'Circle Of Life',
    method: 'GET',
    uri: '/dir/index.html',
    challenge: c,
    nc: 1,
    cnonce: '0a4f113b',
  };
  assert.equal(digestResponse(input), '6629fae49393a05397450978507c4ef1');
  const h = digestAuthorization(input);
  assert.match(
    h,
    /^Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="\/dir\/index.html"/,
  );
  assert.match(h, /response="6629fae49393a05397450978507c4ef1"/);
  assert.match(h, /qop=auth, nc=00000001, cnonce="0a4f113b"/);
  assert.match(h, /opaque="5ccc069c403ebaf9f0171e9517f40e41"/);
});

test('Digest without qop (RFC 2069 style, common on cameras)', () => {
  const [c] = parseChallenges(['Digest realm="IP Camera", nonce="abc"']);
  // MD5(MD5(u:IP Camera:p):abc:MD5(DESCRIBE:rtsp://h/s))
  const r = digestResponse({
    user: 'u',
    pass: 'p',
    method: 'DESCRIBE',
    uri: 'rtsp://h/s',
    challenge: c,
    nc: 1,
    cnonce: 'x',
  });
  assert.equal(r, '38b9a9fab2193d0d45d70b64c8931a06');
});

test('Digest is preferred over Basic; Basic header', () => {
  const cs = parseChallenges(['Basic realm="x"', 'Digest realm="x", nonce="n"']);
  assert.equal(pickChallenge(cs)?.scheme, 'digest');
  assert.equal(basicAuthorization('Aladdin', 'open sesame'), 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
});

test('credentials in the URL are split off and percent-decoded', () => {
  assert.deepEqual(credentialsFromUrl('rtsp://admin:p%40ss@10.0.0.5:554/stream1'), {
    url: 'rtsp://10.0.0.5:554/stream1',
    user: 'admin',
    pass: 'p@ss',
  });
  assert.deepEqual(credentialsFromUrl('rtsp://10.0.0.5/stream1'), { url: 'rtsp://10.0.0.5/stream1' });
});
