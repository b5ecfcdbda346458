/**
 * A fleet of virtual RTSP cameras in one process: each camera path loops an H.264 or H.265 clip as
 * RTP over TCP interleaved, paced in real time. Used for demos, benchmarks and the connector's
 * end-to-end tests without ffmpeg at runtime.
 *
 * Scale: the clip is parsed and packetized once and shared; one timer drives every session; a
 * slow reader loses whole GOPs (counted) instead of growing this process's memory.
 *
 * Faults (per camera, at start in `FleetCamera.faults` or at runtime with `setFaults`): `drop`
 * (connections closed now and while set), `stall` (socket and RTSP stay up, media stops),
 * `corrupt` (bytes flipped in a fraction of RTP payloads, and/or packets lost with their sequence
 * numbers consumed). The fault-free path costs one property read per frame.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { KuzetError } from '../../engine/errors.js';
import { createLogger, type Logger } from '../../engine/log.js';
import { accessUnits, accessUnitsH265, h265Type, splitNalUnits, type ClipCodec } from './annexb.js';
import { packetizeNal, packetizeNalH265 } from './rtp-packetizer.js';

export interface FleetCredentials {
  user: string;
  pass: string;
}

export interface CameraFaults {
  /** Close this camera's connections now, and any new one as soon as it names the camera, while set. */
  drop?: boolean;
  /** Stop sending media but keep the socket and RTSP session up; on release the stream resumes at a keyframe. */
  stall?: boolean;
  corrupt?: {
    /** Fraction (0..1) of RTP packets whose payload gets one byte flipped (past the NAL/FU headers, so framing survives and the damage is in slice data). */
    payloadFraction?: number;
    /** Fraction (0..1) of RTP packets not sent although their sequence number is used (network loss). */
    seqSkipFraction?: number;
  };
}

export interface FleetCamera {
  /** URL path of the camera, e.g. 'cam01'. */
  path: string;
  /** Annex B elementary stream: .h264, or .h265/.hevc (or say so in `codec`). */
  clip: string;
  /** Default from the clip's extension. */
  codec?: ClipCodec;
  /** Frames per second of the clip (default 25). */
  fps?: number;
  /** Overrides the fleet's credentials for this camera; null = this camera needs none. */
  credentials?: FleetCredentials | null;
  /** Shifts this camera's position in its clip, in frames, so that cameras sharing a clip do not send keyframes in the same tick (default 0). */
  startFrame?: number;
  faults?: CameraFaults;
}

export interface FleetOptions {
  host?: string;
  /** 0 = a free port. */
  port?: number;
  cameras: FleetCamera[];
  /** When set, DESCRIBE/SETUP/PLAY need Basic auth (per camera: `FleetCamera.credentials`). */
  credentials?: FleetCredentials;
  log?: Logger;
  /** Announced in the Session header; sessions without a request for this long are dropped (default 60). */
  sessionTimeoutS?: number;
  /** Per-socket send buffer cap; above it frames are skipped until the next keyframe (default 1 MiB). */
  maxBufferedBytes?: number;
  /**
   * Where a new PLAY starts. 'keyframe' (default): at the keyframe before the camera's live
   * position, so the first picture comes at once (a camera with a GOP cache); keyframes then fall
   * at PLAY time + k × GOP. 'live': at the next keyframe after the live position, so each camera's
   * keyframes keep their own phase (set by `startFrame`) whenever clients connect; benchmarks use
   * this to spread keyframes of cameras that connect together.
   */
  joinAt?: 'keyframe' | 'live';
}

export interface FleetStats {
  connections: number;
  sessions: number;
  framesSent: number;
  /** Frames not sent because a socket was backed up (and the rest of their GOP). */
  framesSkipped: number;
  bytesSent: number;
  /** Frames not sent because their camera was stalled. */
  framesStalled: number;
  /** RTP packets sent with a flipped payload byte. */
  packetsCorrupted: number;
  /** RTP packets withheld (sequence number skipped). */
  packetsSkipped: number;
  /** Connections closed by the drop fault. */
  dropped: number;
}

export interface Fleet {
  port: number;
  urls: string[];
  stop(): Promise<void>;
  /** Drops every connection of that camera (fault injection, once; see `setFaults` for a lasting drop). */
  kill(path: string): void;
  /** Replaces the camera's fault switches; `{}` clears them. Throws for an unknown path. */
  setFaults(path: string, faults: CameraFaults): void;
  /** Replaces the camera's credentials (undefined = back to the fleet's, null = none). */
  setCredentials(path: string, credentials: FleetCredentials | null | undefined): void;
  stats(): FleetStats;
}

interface PreparedAu {
  payloads: Buffer[];
  keyframe: boolean;
  /** Bytes on the wire for the whole unit: per packet 4 ($ framing) + 12 (RTP header) + payload. */
  wireSize: number;
}

interface PreparedClip {
  aus: PreparedAu[];
  /** For each unit index, the index of the keyframe at or before it. */
  prevKey: number[];
  codec: ClipCodec;
  fmtp: string;
}

interface Camera {
  path: string;
  clip: PreparedClip;
  fps: number;
  startFrame: number;
  faults: CameraFaults;
  /** Expected Authorization header; undefined = open. */
  auth: string | undefined;
}

interface Session {
  id: string;
  conn: Conn;
  cam: Camera;
  channel: number;
  ssrc: number;
  seq: number;
  tsBase: number;
  frameNo: number;
  auIdx: number;
  nextDue: number;
  playing: boolean;
  waitKey: boolean;
}

interface Conn {
  socket: Socket;
  buf: Buffer;
  session: Session | undefined;
  camPath: string | undefined;
  lastSeen: number;
}

const TICK_MS = 5;

function codecOfClip(file: string, codec: ClipCodec | undefined): ClipCodec {
  if (codec) return codec;
  return /\.(h265|hevc|265)$/i.test(file) ? 'h265' : 'h264';
}

function prepareClip(file: string, codec: ClipCodec): PreparedClip {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new KuzetError('KUZET_ERR_CONFIG', `cameras[].clip: cannot read ${file}`, { cause: err });
  }
  const h265 = codec === 'h265';
  const units = h265 ? accessUnitsH265(splitNalUnits(data)) : accessUnits(splitNalUnits(data));
  const firstKey = units.findIndex((u) => u.keyframe);
  if (firstKey < 0)
    throw new KuzetError(
      'KUZET_ERR_CONFIG',
      `cameras[].clip: ${file} has no ${h265 ? 'IRAP' : 'IDR'} frame (encode with a fixed GOP)`,
    );
  // Start the loop at the first keyframe so that every lap begins decodable.
  const loop = units.slice(firstKey);
  const typeOf = h265 ? h265Type : (n: Buffer) => n[0] & 0x1f;
  const first = new Map<number, Buffer>();
  for (const u of loop) for (const n of u.nalus) if (!first.has(typeOf(n))) first.set(typeOf(n), n);
  const aud = h265 ? 35 : 9;
  const aus: PreparedAu[] = loop.map((u) => {
    const payloads = u.nalus
      .filter((n) => typeOf(n) !== aud)
      .flatMap((n) => (h265 ? packetizeNalH265(n) : packetizeNal(n)));
    return { payloads, keyframe: u.keyframe, wireSize: payloads.reduce((s, p) => s + 16 + p.length, 0) };
  });
  const prevKey: number[] = [];
  let k = 0;
  aus.forEach((u, i) => {
    if (u.keyframe) k = i;
    prevKey.push(k);
  });
  let fmtp: string;
  if (h265) {
    const [vps, sps, pps] = [first.get(32), first.get(33), first.get(34)];
    if (!vps || !sps || !pps)
      throw new KuzetError('KUZET_ERR_CONFIG', `cameras[].clip: ${file} has no VPS/SPS/PPS`);
    fmtp = `sprop-vps=${vps.toString('base64')};sprop-sps=${sps.toString('base64')};sprop-pps=${pps.toString('base64')}`;
  } else {
    const [sps, pps] = [first.get(7), first.get(8)];
    if (!sps || !pps) throw new KuzetError('KUZET_ERR_CONFIG', `cameras[].clip: ${file} has no SPS/PPS`);
    fmtp =
      `packetization-mode=1;profile-level-id=${sps.subarray(1, 4).toString('hex')};` +
      `sprop-parameter-sets=${sps.toString('base64')},${pps.toString('base64')}`;
  }
  return { aus, prevKey, codec, fmtp };
}

const basic = (c: FleetCredentials) => 'Basic ' + Buffer.from(`${c.user}:${c.pass}`).toString('base64');

function checkFraction(path: string, name: string, v: number | undefined): void {
  if (v !== undefined && !(v >= 0 && v <= 1))
    throw new KuzetError(
      'KUZET_ERR_CONFIG',
      `cameras[${path}].faults.corrupt.${name}: must be within 0..1 (got ${v})`,
    );
}

function validFaults(path: string, f: CameraFaults): CameraFaults {
  checkFraction(path, 'payloadFraction', f.corrupt?.payloadFraction);
  checkFraction(path, 'seqSkipFraction', f.corrupt?.seqSkipFraction);
  return { ...f, corrupt: f.corrupt ? { ...f.corrupt } : undefined };
}

export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const log = opts.log ?? createLogger('fleet');
  const host = opts.host ?? '127.0.0.1';
  const timeoutS = opts.sessionTimeoutS ?? 60;
  const cap = opts.maxBufferedBytes ?? 1024 * 1024;
  const clips = new Map<string, PreparedClip>();
  const cameras = new Map<string, Camera>();
  const fleetAuth = opts.credentials ? basic(opts.credentials) : undefined;
  const authOf = (c: FleetCredentials | null | undefined) =>
    c === undefined ? fleetAuth : c === null ? undefined : basic(c);
  for (const c of opts.cameras) {
    const codec = codecOfClip(c.clip, c.codec);
    let clip = clips.get(`${codec}:${c.clip}`);
    if (!clip) {
      clip = prepareClip(c.clip, codec);
      clips.set(`${codec}:${c.clip}`, clip);
    }
    const fps = c.fps ?? 25;
    if (!(fps > 0)) throw new KuzetError('KUZET_ERR_CONFIG', `cameras[${c.path}].fps: must be > 0`);
    const startFrame = c.startFrame ?? 0;
    if (!Number.isInteger(startFrame) || startFrame < 0)
      throw new KuzetError('KUZET_ERR_CONFIG', `cameras[${c.path}].startFrame: must be an integer >= 0`);
    cameras.set(c.path, {
      path: c.path,
      clip,
      fps,
      startFrame,
      faults: validFaults(c.path, c.faults ?? {}),
      auth: authOf(c.credentials),
    });
  }
  const started = performance.now();
  const conns = new Set<Conn>();
  const playing = new Set<Session>();
  const stats: FleetStats = {
    connections: 0,
    sessions: 0,
    framesSent: 0,
    framesSkipped: 0,
    bytesSent: 0,
    framesStalled: 0,
    packetsCorrupted: 0,
    packetsSkipped: 0,
    dropped: 0,
  };

  function sendFrame(s: Session): void {
    const au = s.cam.clip.aus[s.auIdx];
    const sock = s.conn.socket;
    const ts = (s.tsBase + Math.round((s.frameNo * 90000) / s.cam.fps)) >>> 0;
    s.auIdx = (s.auIdx + 1) % s.cam.clip.aus.length;
    s.frameNo++;
    const faults = s.cam.faults;
    if (faults.stall) {
      // Camera time goes on; when the stall ends the stream resumes at the next keyframe, like an encoder that restarts.
      s.waitKey = true;
      stats.framesStalled++;
      return;
    }
    if (faults.corrupt) {
      sendDamaged(s, au, ts, faults.corrupt);
      return;
    }
    if (sock.writableLength > cap || (s.waitKey && !au.keyframe)) {
      // Never queue without bound: skip, and only resume at a keyframe so the client can decode again.
      s.waitKey = true;
      stats.framesSkipped++;
      return;
    }
    s.waitKey = false;
    const out = Buffer.allocUnsafe(au.wireSize);
    let o = 0;
    const last = au.payloads.length - 1;
    for (let i = 0; i <= last; i++) {
      const p = au.payloads[i];
      writeInterleavedRtp(out, o, s.channel, i === last, s.seq, ts, s.ssrc, p);
      o += 16 + p.length;
      s.seq = (s.seq + 1) & 0xffff;
    }
    sock.write(out);
    stats.framesSent++;
    stats.bytesSent += out.length;
  }

  /** The slow path of sendFrame, for cameras with the corrupt fault: per-packet dice. */
  function sendDamaged(
    s: Session,
    au: PreparedAu,
    ts: number,
    corrupt: NonNullable<CameraFaults['corrupt']>,
  ): void {
    const sock = s.conn.socket;
    if (sock.writableLength > cap || (s.waitKey && !au.keyframe)) {
      s.waitKey = true;
      stats.framesSkipped++;
      return;
    }
    s.waitKey = false;
    const flip = corrupt.payloadFraction ?? 0;
    const skip = corrupt.seqSkipFraction ?? 0;
    // FU-A has 2 header bytes, H.265 FU 3: damage only what follows, so the stream stays parseable.
    const headerBytes = s.cam.clip.codec === 'h265' ? 3 : 2;
    const out = Buffer.allocUnsafe(au.wireSize);
    let o = 0;
    const last = au.payloads.length - 1;
    for (let i = 0; i <= last; i++) {
      const p = au.payloads[i];
      if (skip > 0 && Math.random() < skip) {
        s.seq = (s.seq + 1) & 0xffff;
        stats.packetsSkipped++;
        continue;
      }
      writeInterleavedRtp(out, o, s.channel, i === last, s.seq, ts, s.ssrc, p);
      if (flip > 0 && p.length > headerBytes && Math.random() < flip) {
        out[o + 16 + headerBytes + Math.floor(Math.random() * (p.length - headerBytes))] ^=
          1 + Math.floor(Math.random() * 255);
        stats.packetsCorrupted++;
      }
      o += 16 + p.length;
      s.seq = (s.seq + 1) & 0xffff;
    }
    if (o > 0) sock.write(out.subarray(0, o));
    stats.framesSent++;
    stats.bytesSent += o;
  }

  function dropCamera(path: string): void {
    for (const c of conns) {
      if (c.camPath === path) {
        stats.dropped++;
        c.socket.destroy();
      }
    }
  }

  let lastTimeoutCheck = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    for (const s of playing) {
      const interval = 1000 / s.cam.fps;
      // After a stall (GC, blocked loop) resume from now instead of bursting the backlog.
      if (now - s.nextDue > 1000) s.nextDue = now;
      while (s.nextDue <= now && s.playing) {
        sendFrame(s);
        s.nextDue += interval;
      }
    }
    if (now - lastTimeoutCheck > 1000) {
      lastTimeoutCheck = now;
      for (const c of conns) {
        if (c.session && now - c.lastSeen > timeoutS * 1000) {
          log.info('Session timed out', { camera: c.session.cam.path, session: c.session.id });
          c.socket.destroy();
        }
      }
    }
  }, TICK_MS);

  function closeConn(c: Conn): void {
    conns.delete(c);
    if (c.session) {
      playing.delete(c.session);
      c.session.playing = false;
      c.session = undefined;
    }
  }

  function reply(
    c: Conn,
    cseq: string,
    status: string,
    headers: Record<string, string> = {},
    body = '',
  ): void {
    let text = `RTSP/1.0 ${status}\r\nCSeq: ${cseq}\r\nServer: kuzet-fleet\r\n`;
    for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
    if (body) text += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
    c.socket.write(text + '\r\n' + body);
  }

  function handle(c: Conn, method: string, url: string, h: Map<string, string>): void {
    const cseq = h.get('cseq') ?? '0';
    let pathname: string;
    try {
      pathname = new URL(url).pathname;
    } catch {
      pathname = url;
    }
    const camPath = pathname.split('/').filter((p) => p.length > 0)[0] ?? '';
    const cam = cameras.get(camPath);
    if (cam?.faults.drop) {
      stats.dropped++;
      c.socket.destroy();
      return;
    }
    if (method === 'OPTIONS') {
      reply(c, cseq, '200 OK', { Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER' });
      return;
    }
    if (method === 'GET_PARAMETER' || method === 'SET_PARAMETER') {
      reply(c, cseq, '200 OK', c.session ? { Session: c.session.id } : {});
      return;
    }
    if (method === 'TEARDOWN') {
      reply(c, cseq, '200 OK');
      if (c.session) {
        playing.delete(c.session);
        c.session.playing = false;
        c.session = undefined;
      }
      return;
    }
    if (!cam) {
      if (fleetAuth && h.get('authorization') !== fleetAuth)
        reply(c, cseq, '401 Unauthorized', { 'WWW-Authenticate': 'Basic realm="kuzet-fleet"' });
      else reply(c, cseq, '404 Not Found');
      return;
    }
    if (cam.auth && h.get('authorization') !== cam.auth) {
      reply(c, cseq, '401 Unauthorized', { 'WWW-Authenticate': 'Basic realm="kuzet-fleet"' });
      return;
    }
    c.camPath = cam.path;
    const base = `rtsp://${host}:${port}/${cam.path}/`;
    if (method === 'DESCRIBE') {
      const sdp = [
        'v=0',
        `o=- ${randomInt(1, 2 ** 31)} 1 IN IP4 ${host}`,
        `s=Kuzet fleet ${cam.path}`,
        'c=IN IP4 0.0.0.0',
        't=0 0',
        'a=control:*',
        'a=range:npt=0-',
        'm=video 0 RTP/AVP 96',
        `a=rtpmap:96 ${cam.clip.codec === 'h265' ? 'H265' : 'H264'}/90000`,
        `a=fmtp:96 ${cam.clip.fmtp}`,
        `a=framerate:${cam.fps}`,
        'a=control:trackID=0',
        '',
      ].join('\r\n');
      reply(c, cseq, '200 OK', { 'Content-Base': base, 'Content-Type': 'application/sdp' }, sdp);
      return;
    }
    if (method === 'SETUP') {
      const transport = h.get('transport') ?? '';
      if (!/RTP\/AVP\/TCP/i.test(transport)) {
        reply(c, cseq, '461 Unsupported Transport');
        return;
      }
      const m = /interleaved=(\d+)/.exec(transport);
      const channel = m ? Number(m[1]) : 0;
      const s: Session = {
        id: randomBytes(8).toString('hex'),
        conn: c,
        cam,
        channel,
        ssrc: randomBytes(4).readUInt32BE(0),
        seq: randomInt(0, 0x10000),
        tsBase: randomBytes(4).readUInt32BE(0),
        frameNo: 0,
        auIdx: 0,
        nextDue: 0,
        playing: false,
        waitKey: false,
      };
      if (c.session) playing.delete(c.session);
      c.session = s;
      stats.sessions++;
      reply(c, cseq, '200 OK', {
        Session: `${s.id};timeout=${timeoutS}`,
        Transport: `RTP/AVP/TCP;unicast;interleaved=${channel}-${channel + 1};ssrc=${s.ssrc.toString(16).padStart(8, '0')}`,
      });
      return;
    }
    if (method === 'PLAY') {
      const s = c.session;
      if (!s) {
        reply(c, cseq, '454 Session Not Found');
        return;
      }
      if (!s.playing) {
        // Join the camera's "live" position, backed up to its keyframe so the first frame decodes.
        const live =
          (Math.floor(((performance.now() - started) * cam.fps) / 1000) + cam.startFrame) %
          cam.clip.aus.length;
        const aus = cam.clip.aus;
        let ahead = 0;
        if (opts.joinAt === 'live')
          while (!aus[(live + ahead) % aus.length].keyframe && ahead < aus.length) ahead++;
        s.auIdx = opts.joinAt === 'live' ? (live + ahead) % aus.length : cam.clip.prevKey[live];
        s.frameNo += ahead;
        s.nextDue = performance.now() + (ahead * 1000) / cam.fps;
        s.playing = true;
        playing.add(s);
      }
      reply(c, cseq, '200 OK', {
        Session: s.id,
        Range: 'npt=0.000-',
        'RTP-Info': `url=${base}trackID=0;seq=${s.seq};rtptime=${(s.tsBase + Math.round((s.frameNo * 90000) / cam.fps)) >>> 0}`,
      });
      return;
    }
    reply(c, cseq, '501 Not Implemented');
  }

  /** Requests are tiny and rare, so a plain concat buffer is fine here (unlike the RTP path). */
  function onData(c: Conn, chunk: Buffer): void {
    c.buf = c.buf.length === 0 ? chunk : Buffer.concat([c.buf, chunk]);
    c.lastSeen = performance.now();
    for (;;) {
      const b = c.buf;
      if (b.length === 0) return;
      if (b[0] === 0x24) {
        // RTCP from the client (receiver reports): counts as liveness, otherwise ignored.
        if (b.length < 4) return;
        const size = b.readUInt16BE(2);
        if (b.length < 4 + size) return;
        c.buf = b.subarray(4 + size);
        continue;
      }
      const end = b.indexOf('\r\n\r\n');
      if (end < 0) {
        if (b.length > 64 * 1024) c.socket.destroy();
        return;
      }
      const lines = b.toString('latin1', 0, end).split('\r\n');
      const h = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) h.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
      }
      const bodyLen = Number(h.get('content-length') ?? 0) || 0;
      if (b.length < end + 4 + bodyLen) return;
      c.buf = b.subarray(end + 4 + bodyLen);
      const [method = '', url = ''] = (lines[0] ?? '').split(' ');
      handle(c, method, url, h);
    }
  }

  const server: Server = createServer((socket) => {
    stats.connections++;
    socket.setNoDelay(true);
    const c: Conn = {
      socket,
      buf: Buffer.alloc(0),
      session: undefined,
      camPath: undefined,
      lastSeen: performance.now(),
    };
    conns.add(c);
    socket.on('data', (chunk: Buffer) => onData(c, chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => closeConn(c));
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new KuzetError(
          'KUZET_ERR_CONFIG',
          `fleet: cannot listen on ${host}:${opts.port ?? 0}: ${err.message}`,
          { cause: err },
        ),
      ),
    );
    server.listen(opts.port ?? 0, host, () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  }).catch((err: unknown) => {
    clearInterval(timer);
    throw err;
  });
  const urls = opts.cameras.map((c) => `rtsp://${host}:${port}/${c.path}`);
  log.info('Fleet listening', { host, port, cameras: opts.cameras.length });

  return {
    port,
    urls,
    stats: () => ({ ...stats }),
    kill(path: string) {
      for (const c of conns) if (c.camPath === path) c.socket.destroy();
    },
    setFaults(path: string, faults: CameraFaults) {
      const cam = cameras.get(path);
      if (!cam) throw new KuzetError('KUZET_ERR_CONFIG', `setFaults: no camera '${path}' in this fleet`);
      cam.faults = validFaults(path, faults);
      if (cam.faults.drop) dropCamera(path);
    },
    setCredentials(path: string, credentials: FleetCredentials | null | undefined) {
      const cam = cameras.get(path);
      if (!cam) throw new KuzetError('KUZET_ERR_CONFIG', `setCredentials: no camera '${path}' in this fleet`);
      cam.auth = authOf(credentials);
    },
    stop() {
      clearInterval(timer);
      for (const c of conns) c.socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One RTP packet (payload type 96) framed for RTSP interleaved transport, written at `o` in `out`. */
function writeInterleavedRtp(
  out: Buffer,
  o: number,
  channel: number,
  marker: boolean,
  seq: number,
  ts: number,
  ssrc: number,
  payload: Buffer,
): void {
  out[o] = 0x24;
  out[o + 1] = channel;
  out.writeUInt16BE(12 + payload.length, o + 2);
  out[o + 4] = 0x80;
  out[o + 5] = (marker ? 0x80 : 0) | 96;
  out.writeUInt16BE(seq, o + 6);
  out.writeUInt32BE(ts, o + 8);
  out.writeUInt32BE(ssrc, o + 12);
  payload.copy(out, o + 16);
}
