import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { connect, headers, type NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { startNatsServer, type LocalNatsServer } from '../connectors/nats/server.js';
import {
  BoostController,
  decodeBoostRequest,
  parseBoostSubject,
  type Boostable,
  type BoostReply,
} from './boost.js';
import { createLogger } from './log.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const enc = (o: unknown) => new TextEncoder().encode(typeof o === 'string' ? o : JSON.stringify(o));

describe('boost subjects and requests', () => {
  it('parses kuzet.ctl.boost.<school>.<camera|*>', () => {
    assert.deepEqual(parseBoostSubject('kuzet.ctl.boost.s1.cam-2'), { schoolId: 's1', cameraId: 'cam-2' });
    assert.deepEqual(parseBoostSubject('kuzet.ctl.boost.s1.*'), { schoolId: 's1', cameraId: '*' });
    assert.equal(parseBoostSubject('kuzet.ctl.boost.s1'), null);
    assert.equal(parseBoostSubject('kuzet.ctl.boost.s1.c1.x'), null);
    assert.equal(parseBoostSubject('kuzet.ctl.other.s1.c1'), null);
    assert.equal(parseBoostSubject('kuzet.ctl.boost.*.c1'), null, 'school must be an id');
    assert.equal(parseBoostSubject('kuzet.ctl.boost.s1.>'), null);
  });

  it('decodes JSON and msgpack with defaults and names the bad field', () => {
    assert.deepEqual(decodeBoostRequest(new Uint8Array()), {
      ok: true,
      request: { fps: 5, seconds: 30 },
      format: 'json',
    });
    assert.deepEqual(decodeBoostRequest(enc({ fps: 10, seconds: 60, reason: 'alarm 42' })), {
      ok: true,
      request: { fps: 10, seconds: 60, reason: 'alarm 42' },
      format: 'json',
    });
    assert.deepEqual(decodeBoostRequest(packr.pack({ fps: 2.5 })), {
      ok: true,
      request: { fps: 2.5, seconds: 30 },
      format: 'msgpack',
    });
    assert.deepEqual(decodeBoostRequest(packr.pack({ seconds: 600 }), 'application/msgpack'), {
      ok: true,
      request: { fps: 5, seconds: 600 },
      format: 'msgpack',
    });
    const bad = (data: Uint8Array, re: RegExp, ct?: string) => {
      const r = decodeBoostRequest(data, ct);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, re);
    };
    bad(enc({ fps: 0 }), /^fps: must be a number > 0 and <= 25/);
    bad(enc({ fps: 26 }), /^fps:/);
    bad(enc({ fps: '5' }), /^fps:/);
    bad(enc({ seconds: 601 }), /^seconds: .*<= 600/);
    bad(enc({ seconds: -1 }), /^seconds:/);
    bad(enc({ reason: 7 }), /^reason:/);
    bad(enc({ secs: 5 }), /^secs: unknown field/);
    bad(enc('[1,2]'), /^body: must be a map/);
    bad(enc('{"fps": '), /^body: not valid JSON/);
    bad(enc('{}'), /^body: not valid msgpack/, 'application/msgpack');
    bad(new Uint8Array([0x82, 0xa3, 0x66]), /^body: not valid msgpack/, 'application/msgpack');
    bad(packr.pack('hello'), /^body: must be a map/);
    bad(new Uint8Array(5000).fill(0x7b), /^body: must be at most/);
  });
});

describe('BoostController over a real nats-server', () => {
  let dir: string;
  let server: LocalNatsServer;
  let nc: NatsConnection;
  const boosts: Array<{ cam: string; fps: number; ms: number }> = [];
  const cams = ['c1', 'c2', 'c3'];
  const target = (cam: string): Boostable => ({ boost: (fps, ms) => void boosts.push({ cam, fps, ms }) });
  const lookup = (schoolId: string, cameraId: string): Boostable[] => {
    if (schoolId !== 's1') return [];
    if (cameraId === 'broken')
      return [
        {
          boost: () => {
            throw new RangeError('nope');
          },
        },
      ];
    return cams.filter((c) => cameraId === '*' || c === cameraId).map(target);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kuzet-boost-'));
    server = await startNatsServer({ storeDir: dir });
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies requests, replies in the sender format and counts invalid ones', async () => {
    const registry = new Registry();
    const ctl = new BoostController({ nc, lookup, registry, log: createLogger('test', 'error') });
    ctl.start();
    const req = async (subject: string, data: Uint8Array, contentType?: string): Promise<BoostReply> => {
      const h = headers();
      if (contentType) h.set('Content-Type', contentType);
      const m = await nc.request(subject, data, { timeout: 2000, headers: contentType ? h : undefined });
      return contentType === 'application/msgpack'
        ? (packr.unpack(m.data) as BoostReply)
        : (JSON.parse(new TextDecoder().decode(m.data)) as BoostReply);
    };
    try {
      assert.deepEqual(await req('kuzet.ctl.boost.s1.c2', enc({ fps: 10, seconds: 20, reason: 'test' })), {
        ok: true,
        cameras: 1,
      });
      assert.deepEqual(boosts, [{ cam: 'c2', fps: 10, ms: 20_000 }]);
      boosts.length = 0;
      assert.deepEqual(await req('kuzet.ctl.boost.s1.*', packr.pack({ fps: 3 }), 'application/msgpack'), {
        ok: true,
        cameras: 3,
      });
      assert.deepEqual(
        boosts.map((b) => [b.cam, b.fps, b.ms]),
        [
          ['c1', 3, 30_000],
          ['c2', 3, 30_000],
          ['c3', 3, 30_000],
        ],
      );
      const bad = await req('kuzet.ctl.boost.s1.c1', enc({ fps: 100 }));
      assert.equal(bad.ok, false);
      if (!bad.ok) assert.match(bad.error, /^fps:/);
      const none = await req('kuzet.ctl.boost.s9.c1', enc({}));
      assert.equal(none.ok, false);
      if (!none.ok) assert.match(none.error, /no running camera matches school "s9"/);
      const broken = await req('kuzet.ctl.boost.s1.broken', enc({}));
      assert.equal(broken.ok, false);
      const wrongSubject = await req('kuzet.ctl.boost.s1.c1.extra', enc({}));
      assert.equal(wrongSubject.ok, false);
      if (!wrongSubject.ok) assert.match(wrongSubject.error, /^subject:/);
      // Fire-and-forget publishes are applied too (no reply to send).
      nc.publish('kuzet.ctl.boost.s1.c3', enc({ seconds: 5 }));
      await nc.flush();
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(boosts.at(-1), { cam: 'c3', fps: 5, ms: 5000 });
      assert.deepEqual(ctl.stats, { applied: 3, invalid: 2, 'no-camera': 2 });
      const text = await registry.metrics();
      assert.match(text, /kuzet_boost_requests_total\{result="applied"\} 3/);
      assert.match(text, /kuzet_boost_requests_total\{result="invalid"\} 2/);
    } finally {
      ctl.stop();
    }
  });
});
