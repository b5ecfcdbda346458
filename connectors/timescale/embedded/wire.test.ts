import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FrameReader,
  PROTOCOL_V3,
  SSL_REQUEST_CODE,
  copyFromStdin,
  cstring,
  message,
  query,
  readyForQuery,
  rewriteNames,
  summarizeResponse,
  sync,
  withoutMessages,
} from './wire.js';

function startup(params: Record<string, string>): Buffer {
  const body = Buffer.concat([
    ...Object.entries(params).flatMap(([k, v]) => [cstring(k), cstring(v)]),
    Buffer.from([0]),
  ]);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(PROTOCOL_V3, 4);
  return Buffer.concat([head, body]);
}

describe('FrameReader', () => {
  it('reassembles messages split at every byte boundary', () => {
    const stream = Buffer.concat([query('select 1'), sync(), query('select 22')]);
    for (let cut = 1; cut < stream.length; cut++) {
      const r = new FrameReader();
      const got: string[] = [];
      for (const part of [stream.subarray(0, cut), stream.subarray(cut)]) {
        r.push(part);
        for (let m = r.next(); m; m = r.next()) got.push(m.type + m.bytes.length);
      }
      assert.deepEqual(got, ['Q14', 'S5', 'Q15'], `cut at ${cut}`);
      assert.equal(r.buffered, 0);
    }
  });

  it('reads SSLRequest then StartupMessage fed one byte at a time', () => {
    const ssl = Buffer.alloc(8);
    ssl.writeInt32BE(8, 0);
    ssl.writeInt32BE(SSL_REQUEST_CODE, 4);
    const stream = Buffer.concat([ssl, startup({ user: 'postgres', database: 'kuzet' }), query('select 1')]);
    const r = new FrameReader();
    const packets: Array<{ code: number; params: Record<string, string> }> = [];
    let i = 0;
    while (packets.length < 2) {
      r.push(stream.subarray(i, i + 1));
      i++;
      const p = r.nextStartup();
      if (p) packets.push(p);
    }
    assert.equal(packets[0]!.code, SSL_REQUEST_CODE);
    assert.deepEqual(packets[1]!.params, { user: 'postgres', database: 'kuzet' });
    r.push(stream.subarray(i));
    assert.equal(r.next()?.type, 'Q');
  });

  it('refuses a nonsensical length instead of waiting for gigabytes', () => {
    const r = new FrameReader();
    r.push(Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff]));
    assert.throws(() => r.next(), /Invalid message length/);
  });
});

describe('rewriteNames', () => {
  const rename = (kind: string, name: string) => `c7_${kind}_${name}`;

  it('renames statements and portals in Parse, Bind, Describe, Execute and Close, leaving unnamed ones', () => {
    const parse = message('P', Buffer.concat([cstring('s1'), cstring('select $1'), Buffer.from([0, 0])]));
    const bind = message('B', Buffer.concat([cstring('p1'), cstring('s1'), Buffer.from([0, 0, 0, 0, 0, 0])]));
    const unnamedBind = message(
      'B',
      Buffer.concat([cstring(''), cstring(''), Buffer.from([0, 0, 0, 0, 0, 0])]),
    );
    const describe = message('D', Buffer.concat([Buffer.from('S'), cstring('s1')]));
    const execute = message('E', Buffer.concat([cstring('p1'), Buffer.from([0, 0, 0, 0])]));
    const close = message('C', Buffer.concat([Buffer.from('P'), cstring('p1')]));
    const rw = (b: Buffer) => rewriteNames({ type: String.fromCharCode(b[0]!), bytes: b }, rename);

    assert.deepEqual(
      rw(parse),
      message('P', Buffer.concat([cstring('c7_S_s1'), cstring('select $1'), Buffer.from([0, 0])])),
    );
    assert.deepEqual(
      rw(bind),
      message('B', Buffer.concat([cstring('c7_P_p1'), cstring('c7_S_s1'), Buffer.from([0, 0, 0, 0, 0, 0])])),
    );
    assert.deepEqual(rw(unnamedBind), unnamedBind);
    assert.deepEqual(rw(describe), message('D', Buffer.concat([Buffer.from('S'), cstring('c7_S_s1')])));
    assert.deepEqual(
      rw(execute),
      message('E', Buffer.concat([cstring('c7_P_p1'), Buffer.from([0, 0, 0, 0])])),
    );
    assert.deepEqual(rw(close), message('C', Buffer.concat([Buffer.from('P'), cstring('c7_P_p1')])));
  });
});

describe('summarizeResponse', () => {
  it('reports the status of the final ReadyForQuery and whether the cycle ended', () => {
    const complete = message('C', cstring('SELECT 1'));
    assert.deepEqual(summarizeResponse(Buffer.concat([complete, readyForQuery('T')])), {
      endsWithReady: true,
      lastStatus: 'T',
    });
    assert.deepEqual(summarizeResponse(Buffer.concat([readyForQuery('T'), complete])), {
      endsWithReady: false,
      lastStatus: 'T',
    });
    assert.deepEqual(summarizeResponse(message('1', Buffer.alloc(0))), {
      endsWithReady: false,
      lastStatus: null,
    });
    // A DataRow whose payload happens to end like ReadyForQuery must not fool it.
    const tricky = message('D', Buffer.from([0, 1, 0, 0, 0, 6, 0x5a, 0, 0, 0, 5, 0x49]));
    assert.deepEqual(summarizeResponse(tricky), { endsWithReady: false, lastStatus: null });
  });
});

describe('COPY FROM STDIN detection', () => {
  it("tells an emulatable leading COPY from other uses, and strips PGlite's CopyInResponse", () => {
    assert.equal(copyFromStdin('COPY nums (n) FROM STDIN WITH (FORMAT csv);'), 'lead');
    assert.equal(copyFromStdin('  copy public.nums from stdin'), 'lead');
    assert.equal(copyFromStdin('SELECT 1; COPY nums FROM STDIN'), 'other');
    assert.equal(copyFromStdin('COPY nums TO STDOUT'), null);
    const g = message('G', Buffer.from([0, 0, 0]));
    const done = message('C', cstring('COPY 3'));
    assert.deepEqual(
      withoutMessages(Buffer.concat([g, done, readyForQuery('I')]), 'G'),
      Buffer.concat([done, readyForQuery('I')]),
    );
  });
});
