import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import WebSocket from 'ws';
import { createLogger } from '../../engine/log.js';
import type { Alarm } from '../../pipelines/analytics/types.js';
import { encodeAlarm, subjects } from '../nats/bus.js';
import { ensureAlarmStream } from '../nats/scanner-consumer.js';
import { startNatsServer, type LocalNatsServer } from '../nats/server.js';
import {
  AlarmSocketServer,
  CLOSE_FORBIDDEN,
  type AcknowledgeRequest,
  type ServerMessage,
  type TokenEntry,
} from './alarm-socket.js';

const log = createLogger('test', 'error');
const hex = (t: string) => createHash('sha256').update(t).digest('hex');
const tokens: TokenEntry[] = [
  { name: 'police-1', sha256: hex('police-secret'), role: 'police' },
  { name: 'admin-s1', sha256: hex('admin-s1-secret'), role: 'school-admin', schools: ['s1'] },
  { name: 'district-north', sha256: hex('north-secret'), role: 'city-operator', districts: ['north'] },
];

let dir: string;
let server: LocalNatsServer;
let nc: NatsConnection;
let gw: AlarmSocketServer;
let alarmNo = 0;
const acks: Array<Omit<AcknowledgeRequest, 'inScope'> & { s1InScope: boolean }> = [];
/** What the server reported through onClientClosed and onAlarmFannedOut. */
const endedAs: string[] = [];
const fanOutDelaysMs: number[] = [];
const ended = (why: string) => endedAs.filter((r) => r === why).length;

function alarm(school: string, severity: Alarm['severity'] = 'high', pad = 0): Alarm {
  const n = ++alarmNo;
  return {
    id: `a${n}`,
    kind: 'fight',
    severity,
    state: 'open',
    schoolId: school,
    cameraId: 'cam1',
    zoneId: null,
    trackIds: [n],
    score: 0.9,
    cues: pad > 0 ? { pad: 'x'.repeat(pad) } : {},
    frames: 1,
    openedAt: 1_760_000_000_000 + n,
    updatedAt: 1_760_000_000_000 + n,
    confirmedAt: null,
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: null,
    evidence: { seq: n, box: null },
  } as Alarm;
}

/** Publishes and waits for the PubAck; returns the stream sequence. */
async function publish(a: Alarm): Promise<number> {
  const ack = await nc.jetstream().publish(subjects.alarm(a.severity, a.schoolId), encodeAlarm(a));
  return ack.seq;
}

interface Client {
  ws: WebSocket;
  msgs: ServerMessage[];
  alarms: () => Array<Extract<ServerMessage, { type: 'alarm' }>>;
  closed: Promise<{ code: number; reason: string }>;
  next: (type: ServerMessage['type'], timeoutMs?: number) => Promise<ServerMessage>;
}

function client(token?: string): Client {
  const ws = new WebSocket(
    `ws://127.0.0.1:${gw.port}/alarms`,
    token ? { headers: { authorization: `Bearer ${token}` } } : {},
  );
  const msgs: ServerMessage[] = [];
  let seen = 0;
  ws.on('message', (d) => msgs.push(JSON.parse(String(d)) as ServerMessage));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('error', () => {});
  return {
    ws,
    msgs,
    closed,
    alarms: () => msgs.filter((m): m is Extract<ServerMessage, { type: 'alarm' }> => m.type === 'alarm'),
    next: async (type, timeoutMs = 5000) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const i = msgs.findIndex((m, k) => k >= seen && m.type === type);
        if (i >= 0) {
          seen = i + 1;
          return msgs[i]!;
        }
        if (Date.now() > end)
          throw new Error(`no ${type} message; got ${JSON.stringify(msgs).slice(0, 500)}`);
        await sleep(10);
      }
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const opened = (c: Client) =>
  new Promise<void>((r, j) => (c.ws.once('open', () => r()), c.ws.once('error', j)));
const sendJson = (c: Client, m: unknown) => c.ws.send(JSON.stringify(m));

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function subscribed(token: string, filters: Record<string, string[]> = {}, resumeAfter?: number) {
  const c = client(token);
  await c.next('ready');
  sendJson(c, { type: 'subscribe', filters, resumeAfter });
  await c.next('subscribed');
  return c;
}

describe('AlarmSocketServer', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kuzet-alarm-socket-'));
    server = await startNatsServer({ storeDir: dir });
    nc = await connect({ servers: server.url });
    await ensureAlarmStream(nc, 'KUZET_ALARMS', log);
    gw = await AlarmSocketServer.start({
      port: 0,
      nc,
      tokens,
      schoolsDistrict: { s1: 'north', s2: 'south', s3: 'north' },
      authTimeoutMs: 300,
      // Room for a healthy client on a loaded CI machine; the stuck client's 32 MB still trips it.
      maxBufferedBytes: 4 * 1024 * 1024,
      log,
      onClientClosed: (why) => endedAs.push(why),
      onAlarmFannedOut: (ms) => fanOutDelaysMs.push(ms),
      camera: (school, camera) =>
        school === 's1'
          ? { room: 'Gym', rtspUrl: camera === 'cam1' ? 'rtsp://user:pw@10.0.0.9/cam1' : null }
          : null,
      acknowledge: (req) => {
        acks.push({
          alarmId: req.alarmId,
          comment: req.comment,
          token: req.token,
          s1InScope: req.inScope('s1'),
        });
        return req.alarmId === 'a-unknown'
          ? { ok: false, reason: 'no active alarm with this id' }
          : { ok: true };
      },
    });
  });
  after(async () => {
    await gw.close();
    await nc.drain();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers GET /healthz', async () => {
    const r = await fetch(`http://127.0.0.1:${gw.port}/healthz`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'ok');
  });

  it('closes 4401 without a token, with a wrong token, and when auth times out', async () => {
    const none = client();
    await opened(none);
    sendJson(none, { type: 'subscribe', filters: {} });
    assert.deepEqual(await none.closed, { code: 4401, reason: 'unauthorized' });

    const wrongHeader = client('nope');
    assert.deepEqual(await wrongHeader.closed, { code: 4401, reason: 'unauthorized' });

    const wrongMsg = client();
    await opened(wrongMsg);
    sendJson(wrongMsg, { type: 'auth', token: 'police-secreT' });
    assert.deepEqual(await wrongMsg.closed, { code: 4401, reason: 'unauthorized' });

    const silent = client();
    assert.deepEqual(await silent.closed, { code: 4401, reason: 'auth timeout' });
    await waitFor('the refusals counted', () => ended('unauthorized') === 3 && ended('auth_timeout') === 1);
  });

  it('counts no fan-out delay for the alarms a starting tail loads from the stream', async () => {
    await publish(alarm('s1')); // in the stream before this server's tail starts
    const delays: number[] = [];
    const second = await AlarmSocketServer.start({
      port: 0,
      nc,
      tokens,
      log,
      onAlarmFannedOut: (ms) => delays.push(ms),
    });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${second.port}/alarms`, {
        headers: { authorization: 'Bearer police-secret' },
      });
      const seen: ServerMessage[] = [];
      ws.on('message', (raw) => seen.push(JSON.parse(String(raw)) as ServerMessage));
      await waitFor('ready', () => seen.some((m) => m.type === 'ready'));
      ws.send(JSON.stringify({ type: 'subscribe', filters: {}, resumeAfter: 0 }));
      await waitFor('subscribed', () => seen.some((m) => m.type === 'subscribed'));
      const fresh = alarm('s1');
      fresh.updatedAt = Date.now();
      const seq = await publish(fresh);
      await waitFor('the fresh alarm', () => seen.some((m) => m.type === 'alarm' && m.seq === seq));
      assert.ok(seen.filter((m) => m.type === 'alarm').length > 1, 'the older alarms were replayed');
      await waitFor('its delay', () => delays.length > 0);
      assert.equal(delays.length, 1, `only the fresh alarm is news: ${delays.join(', ')}`);
      ws.close();
    } finally {
      await second.close();
    }
  });

  it('reports how long after its change each alarm went out to the live clients', async () => {
    const c = await subscribed('police-secret');
    const before = fanOutDelaysMs.length;
    const a = alarm('s1');
    a.updatedAt = Date.now() - 200;
    await publish(a);
    await c.next('alarm');
    await waitFor('a fan-out delay', () => fanOutDelaysMs.length > before);
    const ms = fanOutDelaysMs.at(-1)!;
    assert.ok(ms >= 200 && ms < 5_000, `delay ${ms} ms`);
    c.ws.close();
    await waitFor('the peer close counted', () => ended('peer') >= 1);
  });

  it('authenticates by header and by first message, and streams alarms with stream seqs', async () => {
    const byHeader = await subscribed('police-secret');
    const byMsg = client();
    await opened(byMsg);
    sendJson(byMsg, { type: 'auth', token: 'police-secret' });
    assert.equal((await byMsg.next('ready')).type, 'ready');
    sendJson(byMsg, { type: 'subscribe', filters: {} });
    await byMsg.next('subscribed');
    const seq = await publish(alarm('s2', 'critical'));
    for (const c of [byHeader, byMsg]) {
      const m = await c.next('alarm');
      assert.ok(m.type === 'alarm');
      assert.equal(m.seq, seq);
      assert.equal(m.alarm.school, 's2');
      assert.equal(m.alarm.severity, 'critical');
      c.ws.close();
    }
  });

  it('limits a school-admin to its school and refuses out-of-scope filters with 4403', async () => {
    const admin = await subscribed('admin-s1-secret');
    const refused = client('admin-s1-secret');
    await refused.next('ready');
    sendJson(refused, { type: 'subscribe', filters: { school: ['s1', 's2'] } });
    assert.deepEqual(await refused.closed, {
      code: CLOSE_FORBIDDEN,
      reason: 'forbidden: school s2 is outside your scope',
    });
    assert.equal(refused.alarms().length, 0);
    await waitFor('the refusal counted', () => ended('forbidden') === 1);
    const filtered = await subscribed('admin-s1-secret', { school: ['s1'] });
    const district = await subscribed('north-secret');

    await publish(alarm('s2'));
    const s1 = await publish(alarm('s1'));
    await publish(alarm('s2'));
    const s3 = await publish(alarm('s3'));
    await waitFor('s3 alarm', () => district.alarms().length === 2);
    await waitFor('s1 alarm', () => admin.alarms().length === 1 && filtered.alarms().length === 1);
    await sleep(200);
    assert.deepEqual(
      admin.alarms().map((m) => m.seq),
      [s1],
    );
    assert.deepEqual(
      filtered.alarms().map((m) => m.seq),
      [s1],
    );
    assert.deepEqual(
      district.alarms().map((m) => m.alarm.school),
      ['s1', 's3'],
    );
    assert.deepEqual(
      district.alarms().map((m) => m.seq),
      [s1, s3],
    );
    for (const c of [admin, filtered, district]) c.ws.close();
  });

  it('filters by severity', async () => {
    const c = await subscribed('police-secret', { severity: ['critical'] });
    await publish(alarm('s1', 'low'));
    const crit = await publish(alarm('s2', 'critical'));
    await publish(alarm('s1', 'medium'));
    const crit2 = await publish(alarm('s1', 'critical'));
    await waitFor('2 critical alarms', () => c.alarms().length === 2);
    await sleep(200);
    assert.deepEqual(
      c.alarms().map((m) => m.seq),
      [crit, crit2],
    );
    c.ws.close();
  });

  it('resumes after the last acked seq without gaps or duplicates', async () => {
    const c = await subscribed('police-secret', { school: ['s9'] });
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) seqs.push(await publish(alarm('s9')));
    await waitFor('5 alarms', () => c.alarms().length === 5);
    assert.deepEqual(
      c.alarms().map((m) => m.seq),
      seqs,
    );
    for (const m of c.alarms().slice(0, 3)) sendJson(c, { type: 'ack', seq: m.seq });
    const lastAcked = c.alarms()[2]!.seq;
    c.ws.close();
    await c.closed;
    for (let i = 0; i < 5; i++) seqs.push(await publish(alarm('s9')));
    await publish(alarm('s8')); // not in the filter

    const r = await subscribed('police-secret', { school: ['s9'] }, lastAcked);
    await waitFor('7 alarms', () => r.alarms().length === 7);
    await sleep(200);
    assert.deepEqual(
      r.alarms().map((m) => m.seq),
      seqs.slice(3),
    );
    assert.deepEqual(
      r.alarms().map((m) => m.alarm.id),
      r
        .alarms()
        .map((m) => m.alarm.id)
        .filter((id, i, a) => a.indexOf(id) === i),
    );
    r.ws.close();
  });

  it('resumes from further back than the in-memory window through a consumer of its own, then goes live', async () => {
    // A second gateway that keeps only 3 messages in memory: resuming 12 back must use the stream itself.
    const small = await AlarmSocketServer.start({ port: 0, nc, tokens, replayWindow: 3, log });
    try {
      const seqs: number[] = [];
      for (let i = 0; i < 12; i++) seqs.push(await publish(alarm('s7')));
      const ws = new WebSocket(`ws://127.0.0.1:${small.port}/alarms`, {
        headers: { authorization: 'Bearer police-secret' },
      });
      const got: number[] = [];
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as ServerMessage;
        if (m.type === 'ready')
          ws.send(JSON.stringify({ type: 'subscribe', filters: { school: ['s7'] }, resumeAfter: seqs[0] }));
        if (m.type === 'alarm') got.push(m.seq);
      });
      await waitFor('the 11 missed alarms', () => got.length === 11);
      // Live after the catch-up: published now, delivered once.
      for (let i = 0; i < 3; i++) seqs.push(await publish(alarm('s7')));
      await waitFor('3 live alarms', () => got.length === 14);
      await sleep(200);
      assert.deepEqual(got, seqs.slice(1));
      ws.close();
    } finally {
      await small.close();
    }
  });

  it('replays the stream from its start to a client that resumes beyond it (a recreated stream)', async () => {
    const first = await publish(alarm('s6'));
    const c = await subscribed('police-secret', { school: ['s6'] }, 1_000_000_000);
    const sub = c.msgs.find((m) => m.type === 'subscribed');
    assert.ok(sub?.type === 'subscribed');
    assert.equal(sub.reset, true);
    assert.equal(sub.resumeAfter, 0);
    assert.ok((sub.lastSeq ?? 0) >= first);
    await waitFor('the alarm published before', () => c.alarms().some((m) => m.seq === first));
    c.ws.close();
  });

  it('gives each alarm its room and links, without the camera credentials', async () => {
    const c = await subscribed('police-secret');
    const seq = await publish(alarm('s1'));
    const got = await c.next('alarm');
    assert.ok(got.type === 'alarm');
    assert.equal(got.seq, seq);
    assert.equal(got.alarm.room, 'Gym');
    assert.deepEqual(got.alarm.links, {
      evidence: `/evidence/s1/cam1/${got.alarm.id}.jpg`,
      live: '/live/s1/cam1',
    });
    assert.doesNotMatch(JSON.stringify(got), /pw@|rtsp:/, 'no camera URL or password reaches clients');
    c.ws.close();
  });

  it('passes acknowledgements with their comment and token to the engine; read-only roles are refused', async () => {
    acks.length = 0;
    const police = await subscribed('police-secret');
    sendJson(police, { type: 'acknowledge', alarmId: 'a-17', comment: 'Patrol 7 on its way' });
    assert.deepEqual(await police.next('acknowledged'), { type: 'acknowledged', alarmId: 'a-17' });
    sendJson(police, { type: 'acknowledge', alarmId: 'a-unknown' });
    assert.deepEqual(await police.next('error'), {
      type: 'error',
      reason: 'no active alarm with this id',
      alarmId: 'a-unknown',
    });
    sendJson(police, { type: 'acknowledge', alarmId: 'a-18', comment: 'x'.repeat(1001) });
    assert.match((await police.next('error')).type, /error/);
    const admin = await subscribed('admin-s1-secret');
    sendJson(admin, { type: 'acknowledge', alarmId: 'a-19', comment: '' });
    await admin.next('acknowledged');
    const operator = await subscribed('north-secret');
    sendJson(operator, { type: 'acknowledge', alarmId: 'a-20', comment: 'mine' });
    assert.deepEqual(await operator.next('error'), {
      type: 'error',
      reason: 'your role cannot acknowledge alarms',
      alarmId: 'a-20',
    });
    assert.deepEqual(
      acks.map((a) => [a.alarmId, a.comment, a.token.name, a.s1InScope]),
      [
        ['a-17', 'Patrol 7 on its way', 'police-1', true],
        ['a-unknown', '', 'police-1', true],
        ['a-19', '', 'admin-s1', true],
      ],
    );
    for (const c of [police, admin, operator]) c.ws.close();
  });

  it('closes 1011 when the JetStream feed cannot be opened', async () => {
    const broken = await AlarmSocketServer.start({ port: 0, nc, tokens, stream: 'NO_SUCH_STREAM', log });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${broken.port}/`, {
        headers: { authorization: 'Bearer police-secret' },
      });
      const msgs: ServerMessage[] = [];
      ws.on('message', (d) => msgs.push(JSON.parse(String(d)) as ServerMessage));
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ type: 'subscribe', filters: {}, resumeAfter: 0 }));
      const code = await new Promise<number>((r) => ws.once('close', (c) => r(c)));
      assert.equal(code, 1011);
      assert.deepEqual(msgs.at(-1), { type: 'error', reason: 'subscription failed' });
    } finally {
      await broken.close();
    }
  });

  it('closes a stuck client with 4008 while another receives everything', async () => {
    const stuck = await subscribed('police-secret', { school: ['big'] });
    const good = await subscribed('police-secret', { school: ['big'] });
    const socket = (stuck.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const n = 2000;
    const t0 = Date.now();
    for (let i = 0; i < n; i += 100) {
      await Promise.all(Array.from({ length: 100 }, () => publish(alarm('big', 'high', 16 * 1024))));
    }
    await waitFor('all alarms at the good client', () => good.alarms().length === n, 60_000);
    const seqs = good.alarms().map((m) => m.seq);
    assert.equal(new Set(seqs).size, n);
    assert.ok(
      seqs.every((s, i) => i === 0 || s > seqs[i - 1]!),
      'in order',
    );
    // The stuck client's connection was closed by the server; it sees the close once it reads again.
    await waitFor('server dropped the stuck client', () => gw.connections() === 1, 10_000);
    socket.resume();
    const closed = await stuck.closed;
    assert.deepEqual(closed, { code: 4008, reason: 'slow consumer' });
    assert.equal(ended('slow_consumer'), 1);
    assert.ok(stuck.alarms().length < n, `stuck client got ${stuck.alarms().length}`);
    log.info('slow consumer test', { ms: Date.now() - t0 });
    good.ws.close();
  });
});
