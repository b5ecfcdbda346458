/**
 * Live view against the project's fleet RTSP server and the real ffmpeg: what JSMpeg would receive,
 * process sharing, caps, idle stop, ticket rules, stream failure and shutdown. No mocks: process
 * checks read /proc.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startFleet, type Fleet } from '../../bench/fleet/server.js';
import { createLogger } from '../../engine/log.js';
import { repoPath } from '../../engine/paths.js';
import { recordingLogger, type LogLine } from '../../engine/test/helpers.js';
import {
  LiveViewCapError,
  LiveViews,
  type LiveViewEvent,
  type LiveViewer,
  type LiveViewOptions,
} from './live-view.js';

const CLIP = repoPath('bench/fixtures/clips/person-640x424.h264');
const USER = 'police';
const PASS = 'Zq9:secret';
const SEQUENCE_HEADER = Buffer.from([0x00, 0x00, 0x01, 0xb3]);

let fleet: Fleet;
const url = (path: string, pass = PASS) =>
  `rtsp://${USER}:${encodeURIComponent(pass)}@127.0.0.1:${fleet.port}/${path}`;

before(async () => {
  fleet = await startFleet({
    port: 0,
    cameras: ['cam01', 'cam02', 'cam03'].map((path) => ({ path, clip: CLIP })),
    credentials: { user: USER, pass: PASS },
    log: createLogger('test', 'error'),
  });
});

after(async () => {
  await fleet.stop();
});

/** A websocket stand-in that keeps what it is sent (up to 4 MiB) and how it was closed. */
class Recorder implements LiveViewer {
  chunks: Buffer[] = [];
  bytes = 0;
  closed: { code: number; reason: string } | undefined;
  constructor(private readonly accept: () => boolean = () => true) {}
  send(chunk: Uint8Array): boolean {
    assert.equal(this.closed, undefined, 'send after close');
    if (this.bytes < 4 * 1024 * 1024) this.chunks.push(Buffer.from(chunk));
    this.bytes += chunk.length;
    return this.accept();
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
  /** The video elementary stream: payloads of the TS packets of the PID that carries the MPEG video PES. */
  video(): Buffer {
    const ts = Buffer.concat(this.chunks);
    const byPid = new Map<number, Buffer[]>();
    let videoPid = -1;
    for (let o = 0; o + 188 <= ts.length; o += 188) {
      const p = ts.subarray(o, o + 188);
      const pid = ((p[1] & 0x1f) << 8) | p[2];
      const afc = (p[3] >> 4) & 3;
      if (!(afc & 1)) continue;
      const payload = p.subarray(afc & 2 ? 5 + p[4] : 4);
      const pusi = (p[1] & 0x40) !== 0;
      if (pusi && payload[0] === 0 && payload[1] === 0 && payload[2] === 1 && payload[3] === 0xe0)
        videoPid = pid;
      byPid.set(pid, [...(byPid.get(pid) ?? []), payload]);
    }
    return Buffer.concat(byPid.get(videoPid) ?? []);
  }
}

/** Every chunk a whole number of TS packets, each starting with the 0x47 sync byte. */
function assertAlignedTs(r: Recorder): void {
  assert.ok(r.chunks.length > 0, 'no chunks');
  for (const c of r.chunks) {
    assert.equal(c.length % 188, 0, `chunk of ${c.length} bytes`);
    for (let o = 0; o < c.length; o += 188) assert.equal(c[o], 0x47, `no sync byte at ${o}`);
  }
}

/** What ffprobe decodes from a viewer's bytes: codec, size and the number of pictures it could read. */
interface Probed {
  codec_name: string;
  width: number;
  height: number;
  nb_read_frames: string;
}

function probe(ts: Buffer): Promise<Probed> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'ffprobe',
      [
        '-v',
        'error',
        '-count_frames',
        '-select_streams',
        'v:0',
        '-show_entries',
        'stream=codec_name,width,height,nb_read_frames',
        '-of',
        'json',
        'pipe:0',
      ],
      (err, stdout) => {
        if (err) reject(err);
        else resolve((JSON.parse(stdout) as { streams: Probed[] }).streams[0]);
      },
    );
    child.stdin?.end(ts);
  });
}

async function until(what: string, pred: () => boolean, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** ffmpeg processes whose parent is this test process. */
function ffmpegChildren(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
      if (m && m[1] === 'ffmpeg' && Number(m[2]) === process.pid) out.push(Number(d));
    } catch {
      // Exited while listing.
    }
  }
  return out;
}

function views(extra: Partial<LiveViewOptions> = {}) {
  const events: LiveViewEvent[] = [];
  const lines: LogLine[] = [];
  const lv = new LiveViews({
    maxStreams: 2,
    idleStopMs: 300,
    log: recordingLogger(lines),
    onEvent: (e) => events.push(e),
    ...extra,
  });
  const starts = () => events.flatMap((e) => (e.type === 'stream-start' ? [e] : []));
  const stops = () => events.flatMap((e) => (e.type === 'stream-stop' ? [e] : []));
  return { lv, events, lines, starts, stops };
}

test('one camera: every viewer gets aligned MPEG-TS with mpeg1video from one shared ffmpeg; slow viewers are closed; the last detach stops it', async (t) => {
  const { lv, starts, stops } = views({ maxViewersPerStream: 3, idleStopMs: 500 });
  try {
    const t0 = Date.now();
    const a = new Recorder();
    const first = lv.open('school-1', 'cam01', url('cam01'));
    assert.ok(first.expiresAt > Date.now());
    const da = lv.attach(first.ticket, a);
    assert.ok(da);
    await until('a sequence header for viewer a', () => a.video().includes(SEQUENCE_HEADER), 10_000);
    const firstPictureMs = Date.now() - t0;
    assertAlignedTs(a);

    // A second operator joins mid-stream: same process, and the first bytes still start a packet.
    const b = new Recorder();
    const db = lv.attach(lv.open('school-1', 'cam01', url('cam01')).ticket, b);
    assert.ok(db);
    await until('a sequence header for viewer b', () => b.video().includes(SEQUENCE_HEADER), 5_000);
    assertAlignedTs(b);
    assert.equal(lv.streams(), 1);
    assert.equal(lv.viewers(), 2);
    assert.equal(starts().length, 1);
    assert.deepEqual(ffmpegChildren(), [starts()[0].pid]);

    // Tickets are single use and must be real.
    assert.equal(lv.attach(first.ticket, new Recorder()), null);
    assert.equal(lv.attach('not-a-ticket', new Recorder()), null);

    // A viewer that reports backpressure is closed, the others keep receiving.
    const slow = new Recorder(() => false);
    assert.ok(lv.attach(lv.open('school-1', 'cam01', url('cam01')).ticket, slow));
    await until('the slow viewer closed', () => slow.closed !== undefined, 5_000);
    assert.deepEqual(slow.closed, { code: 4008, reason: 'slow viewer' });
    const bBytes = b.bytes;
    await until('b still receiving', () => b.bytes > bBytes, 5_000);
    assert.equal(a.closed, undefined);

    // What b got from the middle of the stream decodes as the camera's picture.
    const seen = await probe(Buffer.concat(b.chunks));
    assert.equal(seen.codec_name, 'mpeg1video');
    assert.deepEqual([seen.width, seen.height], [640, 424]);
    assert.ok(Number(seen.nb_read_frames) >= 5, JSON.stringify(seen));

    // Per-camera cap: a, b and one outstanding ticket make 3.
    const third = lv.open('school-1', 'cam01', url('cam01'));
    assert.throws(() => lv.open('school-1', 'cam01', url('cam01')), LiveViewCapError);
    const c = new Recorder();
    const dc = lv.attach(third.ticket, c);
    assert.ok(dc);

    const pid = starts()[0].pid;
    assert.ok(pid !== undefined && alive(pid));
    da.detach();
    db.detach();
    db.detach(); // idempotent
    assert.equal(lv.streams(), 1, 'c still watches');
    const left = Date.now();
    dc.detach();
    await until('the idle stream stopped', () => stops().length === 1, 500 + 3_000);
    const stoppedMs = Date.now() - left;
    assert.ok(stoppedMs >= 450, `stopped after ${stoppedMs} ms, before idleStopMs`);
    assert.equal(stops()[0].reason, 'idle');
    assert.equal(alive(pid), false);
    assert.equal(lv.streams(), 0);
    assert.deepEqual(ffmpegChildren(), []);
    for (const r of [a, b, c])
      assert.equal(r.closed, undefined, 'detached viewers are not closed by the unit');
    t.diagnostic(`first mpeg1 sequence header after ${firstPictureMs} ms; idle stop after ${stoppedMs} ms`);
  } finally {
    await lv.close();
  }
});

test('maxStreams: a second camera is refused at the cap, and admitted once the first has stopped', async () => {
  const { lv, stops } = views({ maxStreams: 1, idleStopMs: 200 });
  try {
    const v = new Recorder();
    const dv = lv.attach(lv.open('school-1', 'cam01', url('cam01')).ticket, v);
    assert.ok(dv);
    assert.throws(
      () => lv.open('school-1', 'cam02', url('cam02')),
      (err: unknown) =>
        err instanceof LiveViewCapError && err.kind === 'streams' && /maxStreams 1/.test(err.message),
    );
    // Another viewer of the same camera needs no new stream.
    const dw = lv.attach(lv.open('school-1', 'cam01', url('cam01')).ticket, new Recorder());
    assert.ok(dw);
    await until('data', () => v.bytes > 0, 10_000);
    dv.detach();
    dw.detach();
    await until('the stream stopped', () => stops().length === 1, 200 + 3_000);
    const v2 = new Recorder();
    assert.ok(lv.attach(lv.open('school-1', 'cam02', url('cam02')).ticket, v2));
    await until('cam02 data', () => v2.video().includes(SEQUENCE_HEADER), 10_000);
  } finally {
    await lv.close();
  }
});

test('an unused ticket expires, stops its stream and frees the slot', async () => {
  const { lv, stops } = views({ maxStreams: 1, ticketTtlMs: 800, idleStopMs: 200 });
  try {
    const granted = Date.now();
    const { ticket } = lv.open('school-1', 'cam01', url('cam01'));
    assert.throws(() => lv.open('school-1', 'cam02', url('cam02')), LiveViewCapError);
    await until('the unwatched stream stopped', () => stops().length === 1, 800 + 200 + 3_000);
    assert.ok(Date.now() - granted >= 950, 'stopped before the ticket expired');
    assert.equal(lv.attach(ticket, new Recorder()), null);
    assert.ok(lv.open('school-1', 'cam02', url('cam02')).ticket);
  } finally {
    await lv.close();
  }
});

test('a camera stream that dies closes its viewers with 1011, frees its slot and logs the stderr tail without the password', async () => {
  const { lv, lines, stops } = views({ maxStreams: 1 });
  try {
    // Wrong password: ffmpeg prints the URL in its error, the log must not.
    const wrong = 'Wr0ng-Passw0rd';
    const early = lv.open('school-1', 'cam03', url('cam03', wrong));
    const v = new Recorder();
    const d = lv.attach(early.ticket, v);
    assert.ok(d);
    await until('the viewer closed', () => v.closed !== undefined, 10_000);
    assert.equal(v.closed?.code, 1011);
    assert.match(v.closed?.reason ?? '', /live stream ended: ffmpeg exited with code 1/);
    assert.ok(Buffer.byteLength(v.closed?.reason ?? '') <= 123);
    assert.equal(stops()[0].reason, 'failed');
    assert.equal(lv.streams(), 0);
    const failure = lines.find((l) => l.msg === 'Live stream failed');
    assert.ok(failure, JSON.stringify(lines));
    assert.match(String(failure.fields?.stderr), /401/);
    assert.match(String(failure.fields?.stderr), /police:\*\*\*@/);

    // A late attach to a ticket of a failed stream tells the viewer why.
    const late = lv.open('school-1', 'cam03', url('cam03', wrong));
    await until('second failure', () => stops().length === 2, 10_000);
    const lateViewer = new Recorder();
    assert.ok(lv.attach(late.ticket, lateViewer));
    assert.equal(lateViewer.closed?.code, 1011);

    // A camera that drops mid-stream.
    const w = new Recorder();
    assert.ok(lv.attach(lv.open('school-1', 'cam03', url('cam03')).ticket, w));
    await until('data', () => w.bytes > 0, 10_000);
    fleet.setFaults('cam03', { drop: true });
    await until('the viewer closed after the drop', () => w.closed !== undefined, 15_000);
    assert.equal(w.closed?.code, 1011);
    assert.match(w.closed?.reason ?? '', /live stream ended/);
    assert.equal(lv.streams(), 0);

    for (const l of lines) {
      const text = JSON.stringify(l);
      for (const secret of [PASS, encodeURIComponent(PASS), wrong]) assert.ok(!text.includes(secret), text);
    }
  } finally {
    fleet.setFaults('cam03', {});
    await lv.close();
  }
});

test('no ffmpeg at ffmpegPath: the stream fails without throwing and frees its slot', async () => {
  const { lv, stops } = views({ maxStreams: 1, ffmpegPath: '/nonexistent/ffmpeg' });
  try {
    const v = new Recorder();
    assert.ok(lv.attach(lv.open('school-1', 'cam01', url('cam01')).ticket, v));
    await until('failure', () => stops().length === 1, 5_000);
    assert.match(stops()[0].detail ?? '', /could not start \(ENOENT\)/);
    assert.equal(v.closed?.code, 1011);
    assert.equal(lv.streams(), 0);
  } finally {
    await lv.close();
  }
});

test('close() closes every viewer and leaves no ffmpeg behind', async () => {
  const { lv, starts } = views({ maxStreams: 2 });
  const a = new Recorder();
  const b = new Recorder();
  assert.ok(lv.attach(lv.open('school-1', 'cam01', url('cam01')).ticket, a));
  assert.ok(lv.attach(lv.open('school-2', 'cam02', url('cam02')).ticket, b));
  const pending = lv.open('school-2', 'cam02', url('cam02'));
  await until('data on both', () => a.bytes > 0 && b.bytes > 0, 10_000);
  const pids = starts().map((s) => s.pid);
  assert.equal(pids.length, 2);
  await lv.close();
  assert.deepEqual(a.closed, { code: 1001, reason: 'live view shutting down' });
  assert.deepEqual(b.closed, { code: 1001, reason: 'live view shutting down' });
  for (const pid of pids) assert.ok(pid !== undefined && !alive(pid), `ffmpeg ${pid} still alive`);
  assert.deepEqual(ffmpegChildren(), []);
  assert.equal(lv.streams(), 0);
  assert.equal(lv.attach(pending.ticket, new Recorder()), null);
  assert.throws(() => lv.open('school-1', 'cam01', url('cam01')), /closed/);
});

test('options are checked up front', () => {
  assert.throws(() => new LiveViews({ maxStreams: 0 }), /options\.maxStreams: must be a positive integer/);
  assert.throws(
    () => new LiveViews({ maxStreams: 1, outputOptions: { '-r': '15' } }),
    /MPEG-1 video allows only .* \(got 15\)/,
  );
  const lv = new LiveViews({ maxStreams: 1, outputOptions: { '-r': '30000/1001' } });
  assert.throws(
    () => lv.open('s', 'c', 'http://user:hunter22@cam/x'),
    (err: unknown) =>
      err instanceof Error && /must be rtsp:\/\//.test(err.message) && !err.message.includes('hunter22'),
  );
});
