/**
 * One RTSP session over one TCP connection: OPTIONS, DESCRIBE (401 Basic/Digest, 301/302
 * redirects), SETUP, PLAY, keep-alive, RTCP receiver reports, TEARDOWN.
 *
 * TCP interleaved is the default: one socket per camera traverses NAT and firewalls between
 * schools and the data centre, and TCP cannot reorder packets, so the depacketizer can treat any
 * sequence gap as loss. UDP (RTP/AVP unicast, an even/odd port pair) is there for cameras that
 * stream badly or not at all over TCP; 'auto' tries UDP and falls back to TCP when SETUP is refused
 * or no packet arrives. Retries are not done here: the source owns reconnect policy.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { connect, type Socket } from 'node:net';
import { KuzetError, errorMessage } from '../../engine/errors.js';
import type { Logger } from '../../engine/log.js';
import { Authenticator, credentialsFromUrl, parseChallenges, pickChallenge } from './auth.js';
import { RtpReceiverStats } from './rtcp.js';
import { parseSdp, type SdpMedia, type SessionDescription } from './sdp.js';
import { RtspReader, header, type RtspMessage } from './wire.js';

/** A non-2xx answer; `status` 401 after credentials were tried means the credentials are wrong. */
export class RtspStatusError extends KuzetError {
  constructor(
    readonly method: string,
    readonly status: number,
    reason: string,
    url: string,
  ) {
    super('KUZET_ERR_RTSP', `${method} ${url}: ${status} ${reason}`);
  }
}

/** DESCRIBE offered no video track Kuzet can depacketize (H.264 or H.265). */
export class UnsupportedCodecError extends KuzetError {
  constructor(
    url: string,
    readonly offered: string,
  ) {
    super('KUZET_ERR_RTSP', `DESCRIBE ${url}: no H.264 or H.265 video track (offered: ${offered || 'none'})`);
  }
}

/** How RTP travels: interleaved on the RTSP connection, or UDP; 'auto' = UDP, else TCP. */
export type RtspTransport = 'tcp' | 'udp' | 'auto';

/** UDP was negotiated but is unusable (refused, or nothing arrived): 'auto' then falls back to TCP. */
class UdpUnavailable extends KuzetError {
  constructor(message: string) {
    super('KUZET_ERR_CAMERA', message);
  }
}

export interface RtspClientOptions {
  url: string;
  user?: string;
  pass?: string;
  log: Logger;
  /** Connect and per-request timeout. */
  requestTimeoutMs?: number;
  /** RTP packets of the video track; a view valid only during the call. */
  onRtp: (packet: Buffer) => void;
  /** The connection ended after open() succeeded (not called for close()). */
  onClose: (err: Error | undefined) => void;
  userAgent?: string;
  /** Default 'tcp'. */
  transport?: RtspTransport;
  /** 'auto': wait this long for the first UDP packet after PLAY before falling back to TCP (default 3000). */
  udpFirstPacketTimeoutMs?: number;
  /** RTCP receiver report period (default 5000; 0 = none). */
  rtcpIntervalMs?: number;
  /**
   * Called after SETUP, just before PLAY, with what open() will resolve to: the place to build
   * per-session state, because media may arrive before open()'s promise settles. With 'auto' it
   * may be called twice (UDP, then TCP).
   */
  onReady?: (info: RtspSessionInfo) => void;
}

export interface RtspSessionInfo {
  /** Final URL after redirects, without credentials. */
  url: string;
  sdp: SessionDescription;
  video: SdpMedia;
  sessionId: string;
  /** Session timeout the server announced (seconds). */
  timeoutS: number;
  /** The transport in use. */
  transport: 'tcp' | 'udp';
}

interface Pending {
  resolve: (m: RtspMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const MAX_REDIRECTS = 3;

export class RtspClient {
  private socket: Socket | undefined;
  private reader: RtspReader | undefined;
  private url: string;
  private readonly user: string | undefined;
  private readonly pass: string | undefined;
  private auth: Authenticator | undefined;
  private cseq = 0;
  private readonly pending = new Map<number, Pending>();
  private sessionId: string | undefined;
  private rtpChannel = 0;
  private rtcpChannel = 1;
  private udpRtp: UdpSocket | undefined;
  private udpRtcp: UdpSocket | undefined;
  private serverRtcp: { host: string; port: number } | undefined;
  private rtcpTimer: NodeJS.Timeout | undefined;
  private rtpStats = new RtpReceiverStats();
  private transportInUse: 'tcp' | 'udp' = 'tcp';
  private keepAlive: NodeJS.Timeout | undefined;
  private keepAliveMethod = 'OPTIONS';
  private controlUrl = '';
  private opened = false;
  private closing = false;
  private readonly timeoutMs: number;

  constructor(private readonly opts: RtspClientOptions) {
    const c = credentialsFromUrl(opts.url);
    this.url = c.url;
    this.user = opts.user ?? c.user;
    this.pass = opts.pass ?? c.pass;
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
  }

  /** RTP/RTCP receive statistics of the current session (RTCP receiver reports are built from these). */
  get stats(): RtpReceiverStats {
    return this.rtpStats;
  }

  get transport(): 'tcp' | 'udp' {
    return this.transportInUse;
  }

  /** Connects and brings the session to PLAY. Rejects on any failure, with the sockets closed. */
  async open(): Promise<RtspSessionInfo> {
    const mode = this.opts.transport ?? 'tcp';
    try {
      if (mode !== 'auto') return await this.openInner(mode, false);
      try {
        return await this.openInner('udp', true);
      } catch (err) {
        if (!(err instanceof UdpUnavailable)) throw err;
        this.opts.log.info('UDP transport unusable, falling back to TCP interleaved', {
          url: this.url,
          err: err.message,
        });
        await this.teardownQuietly();
        this.destroy();
        this.resetSession();
        return await this.openInner('tcp', false);
      }
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  private resetSession(): void {
    this.sessionId = undefined;
    this.opened = false;
    this.serverRtcp = undefined;
    this.rtpStats = new RtpReceiverStats();
    this.transportInUse = 'tcp';
  }

  private async openInner(mode: 'tcp' | 'udp', auto: boolean): Promise<RtspSessionInfo> {
    let describe: RtspMessage | undefined;
    for (let redirects = 0; ; redirects++) {
      await this.connectSocket();
      const options = await this.request('OPTIONS', this.url);
      if (options.status === 401) this.fail('OPTIONS', options);
      if (/\bGET_PARAMETER\b/.test(header(options, 'public') ?? '')) this.keepAliveMethod = 'GET_PARAMETER';
      describe = await this.request('DESCRIBE', this.url, { Accept: 'application/sdp' });
      const location = header(describe, 'location');
      if ((describe.status === 301 || describe.status === 302) && location) {
        if (redirects >= MAX_REDIRECTS)
          throw new KuzetError(
            'KUZET_ERR_RTSP',
            `DESCRIBE ${this.url}: more than ${MAX_REDIRECTS} redirects`,
          );
        this.opts.log.info('Following redirect', { from: this.url, to: credentialsFromUrl(location).url });
        this.url = credentialsFromUrl(location).url;
        this.destroy();
        this.auth = undefined;
        continue;
      }
      break;
    }
    if (describe.status !== 200) this.fail('DESCRIBE', describe);

    const base = header(describe, 'content-base') ?? header(describe, 'content-location') ?? this.url;
    const sdp = parseSdp(describe.body, base);
    const video = sdp.media.find((m) => m.kind === 'video' && (m.codec === 'h264' || m.codec === 'h265'));
    if (!video)
      throw new UnsupportedCodecError(
        this.url,
        sdp.media.map((m) => `${m.kind}/${m.encoding || '?'}`).join(', '),
      );

    let setup: RtspMessage;
    if (mode === 'udp') {
      const [rtp, rtcp] = await this.bindUdpPair();
      const port = rtp.address().port;
      setup = await this.request('SETUP', video.control, {
        Transport: `RTP/AVP;unicast;client_port=${port}-${port + 1}`,
      });
      if (setup.status !== 200 || !/server_port=\d+/i.test(header(setup, 'transport') ?? '')) {
        rtp.close();
        rtcp.close();
        if (!auto) this.fail('SETUP', setup);
        this.opts.log.info('UDP transport refused, using TCP interleaved', {
          url: this.url,
          status: setup.status,
        });
        mode = 'tcp';
        setup = await this.request('SETUP', video.control, {
          Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
        });
      } else {
        this.useUdp(rtp, rtcp, header(setup, 'transport') ?? '');
      }
    } else {
      setup = await this.request('SETUP', video.control, {
        Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
      });
    }
    if (setup.status !== 200) this.fail('SETUP', setup);
    this.transportInUse = mode;
    const sessionHeader = header(setup, 'session') ?? '';
    const [id, ...params] = sessionHeader.split(';');
    if (!id) throw new KuzetError('KUZET_ERR_RTSP', `SETUP ${video.control}: response has no Session header`);
    this.sessionId = id.trim();
    let timeoutS = 60;
    for (const p of params) {
      const m = /^\s*timeout\s*=\s*(\d+)/i.exec(p);
      if (m) timeoutS = Number(m[1]) || 60;
    }
    const transport = header(setup, 'transport') ?? '';
    if (mode === 'tcp') {
      const ch = /interleaved=(\d+)(?:-(\d+))?/i.exec(transport);
      if (ch) {
        this.rtpChannel = Number(ch[1]);
        this.rtcpChannel = ch[2] !== undefined ? Number(ch[2]) : this.rtpChannel + 1;
      } else if (!/TCP/i.test(transport)) {
        throw new KuzetError(
          'KUZET_ERR_RTSP',
          `SETUP ${video.control}: server refused TCP interleaved transport (${transport})`,
        );
      }
    }

    this.controlUrl = sdp.control;
    const info: RtspSessionInfo = {
      url: this.url,
      sdp,
      video,
      sessionId: this.sessionId,
      timeoutS,
      transport: mode,
    };
    this.opts.onReady?.(info);
    const play = await this.request('PLAY', sdp.control, { Range: 'npt=0.000-' });
    if (play.status !== 200) this.fail('PLAY', play);

    this.opened = true;
    // Half the session timeout leaves room for one lost or slow keep-alive before the server gives up.
    const every = Math.max(1000, (timeoutS * 1000) / 2);
    this.keepAlive = setInterval(() => this.sendKeepAlive(sdp.control), every);
    this.keepAlive.unref();
    const rtcpEvery = this.opts.rtcpIntervalMs ?? 5000;
    if (rtcpEvery > 0) {
      this.rtcpTimer = setInterval(() => this.sendReceiverReport(), rtcpEvery);
      this.rtcpTimer.unref();
    }
    if (mode === 'udp' && auto) {
      const waitMs = this.opts.udpFirstPacketTimeoutMs ?? 3000;
      const t0 = Date.now();
      while (this.rtpStats.received === 0) {
        if (Date.now() - t0 >= waitMs) throw new UdpUnavailable(`no RTP over UDP within ${waitMs} ms`);
        if (!this.socket || this.socket.destroyed)
          throw new KuzetError('KUZET_ERR_CAMERA', `${this.url}: connection closed`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    return info;
  }

  /** Binds an even RTP port and the odd port above it (RFC 3550 §11). */
  private async bindUdpPair(): Promise<[UdpSocket, UdpSocket]> {
    const host = new URL(this.url).hostname.replace(/^\[|\]$/g, '');
    const type = isIPv6(host) || isIPv6(this.socket?.remoteAddress ?? '') ? 'udp6' : 'udp4';
    const bind = (port: number) =>
      new Promise<UdpSocket>((resolve, reject) => {
        const s = createSocket(type);
        s.once('error', (err) => {
          try {
            s.close();
          } catch {
            // Never bound: nothing to close.
          }
          reject(err);
        });
        s.bind(port, () => {
          s.removeAllListeners('error');
          resolve(s);
        });
      });
    for (let attempt = 0; attempt < 50; attempt++) {
      const rtp = await bind(0);
      const port = rtp.address().port;
      if (port % 2 !== 0 || port >= 65535) {
        rtp.close();
        continue;
      }
      try {
        return [rtp, await bind(port + 1)];
      } catch {
        rtp.close();
      }
    }
    throw new KuzetError(
      'KUZET_ERR_CAMERA',
      `${this.url}: could not bind an even/odd UDP port pair for RTP/RTCP`,
    );
  }

  private useUdp(rtp: UdpSocket, rtcp: UdpSocket, transport: string): void {
    this.udpRtp = rtp;
    this.udpRtcp = rtcp;
    const ports = /server_port=(\d+)(?:-(\d+))?/i.exec(transport);
    const source = /;\s*source=([^;\s]+)/i.exec(transport)?.[1];
    const host = source ?? this.socket?.remoteAddress ?? new URL(this.url).hostname.replace(/^\[|\]$/g, '');
    if (ports)
      this.serverRtcp = { host, port: ports[2] !== undefined ? Number(ports[2]) : Number(ports[1]) + 1 };
    const stats = () => this.rtpStats;
    rtp.on('message', (msg: Buffer) => {
      stats().onRtp(msg);
      this.opts.onRtp(msg);
    });
    rtcp.on('message', (msg: Buffer) => stats().onRtcp(msg, Date.now()));
    const onError = (err: Error) =>
      this.opts.log.debug('UDP socket error', { url: this.url, err: err.message });
    rtp.on('error', onError);
    rtcp.on('error', onError);
  }

  private sendReceiverReport(): void {
    const rr = this.rtpStats.report(Date.now());
    if (!rr) return;
    if (this.transportInUse === 'udp') {
      const dst = this.serverRtcp;
      if (dst && this.udpRtcp) this.udpRtcp.send(rr, dst.port, dst.host);
      return;
    }
    const s = this.socket;
    if (!s || s.destroyed || !s.writable) return;
    const head = Buffer.from([0x24, this.rtcpChannel, rr.length >> 8, rr.length & 0xff]);
    s.write(Buffer.concat([head, rr]));
  }

  private async teardownQuietly(): Promise<void> {
    const s = this.socket;
    if (!s || !this.sessionId || s.destroyed || !s.writable) return;
    try {
      await Promise.race([
        this.request('TEARDOWN', this.controlUrl || this.url),
        new Promise((r) => setTimeout(r, 1000).unref()),
      ]);
    } catch {
      // The camera may already be gone.
    }
  }

  /** TEARDOWN (waits briefly for the answer) and closes. Never rejects. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.keepAlive) clearInterval(this.keepAlive);
    await this.teardownQuietly();
    this.destroy();
  }

  private sendKeepAlive(url: string): void {
    this.request(this.keepAliveMethod, url).then(
      (m) => {
        if (m.status !== 200 && this.keepAliveMethod === 'GET_PARAMETER') this.keepAliveMethod = 'OPTIONS';
      },
      (err: unknown) => this.opts.log.debug('Keep-alive failed', { url: this.url, err: errorMessage(err) }),
    );
  }

  private fail(method: string, m: RtspMessage): never {
    throw new RtspStatusError(method, m.status, m.reason, this.url);
  }

  private connectSocket(): Promise<void> {
    const u = new URL(this.url);
    if (u.protocol !== 'rtsp:')
      throw new KuzetError('KUZET_ERR_CONFIG', `url: only rtsp:// is supported (got ${u.protocol}//)`);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = u.port ? Number(u.port) : 554;
    return new Promise((resolve, reject) => {
      const s = connect({ host, port, noDelay: true });
      this.socket = s;
      this.reader = new RtspReader(
        (channel, data) => {
          if (channel === this.rtpChannel) {
            this.rtpStats.onRtp(data);
            this.opts.onRtp(data);
          } else if (channel === this.rtcpChannel) {
            this.rtpStats.onRtcp(data, Date.now());
          }
        },
        (m) => this.onMessage(m),
      );
      const timer = setTimeout(() => {
        s.destroy(
          new KuzetError('KUZET_ERR_CAMERA', `connect ${host}:${port}: timed out after ${this.timeoutMs} ms`),
        );
      }, this.timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.setKeepAlive(true, 30_000);
        resolve();
      });
      s.on('data', (chunk: Buffer) => {
        try {
          this.reader?.push(chunk);
        } catch (err) {
          s.destroy(err instanceof Error ? err : new Error(String(err)));
        }
      });
      s.on('error', (err) => {
        clearTimeout(timer);
        reject(new KuzetError('KUZET_ERR_CAMERA', `${host}:${port}: ${errorMessage(err)}`, { cause: err }));
      });
      s.on('close', () => {
        clearTimeout(timer);
        if (this.socket !== s) return; // a redirect replaced this socket
        const err = new KuzetError('KUZET_ERR_CAMERA', `${host}:${port}: connection closed`);
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(err);
        }
        this.pending.clear();
        reject(err);
        if (this.opened && !this.closing) {
          this.opened = false;
          if (this.keepAlive) clearInterval(this.keepAlive);
          if (this.rtcpTimer) clearInterval(this.rtcpTimer);
          this.closeUdp();
          this.opts.onClose(err);
        }
      });
    });
  }

  private onMessage(m: RtspMessage): void {
    if (m.status === 0) {
      // Server-to-client requests (rare: SET_PARAMETER, ANNOUNCE) are answered 501 so the camera is not left waiting.
      const cseq = header(m, 'cseq') ?? '0';
      this.socket?.write(`RTSP/1.0 501 Not Implemented\r\nCSeq: ${cseq}\r\n\r\n`);
      return;
    }
    const cseq = Number(header(m, 'cseq'));
    let key = Number.isFinite(cseq) && this.pending.has(cseq) ? cseq : undefined;
    // Some cameras drop CSeq from answers: match the oldest outstanding request.
    if (key === undefined) key = this.pending.keys().next().value;
    if (key === undefined) return;
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    clearTimeout(p.timer);
    p.resolve(m);
  }

  /** Sends a request; answers 401 once by authenticating and resending. */
  private async request(
    method: string,
    url: string,
    extra: Record<string, string> = {},
  ): Promise<RtspMessage> {
    let m = await this.send(method, url, extra);
    if (m.status === 401 && this.user !== undefined) {
      const challenge = pickChallenge(parseChallenges(m.headers.get('www-authenticate') ?? []));
      const stale =
        challenge?.scheme === 'digest' &&
        this.auth?.challenge.nonce !== challenge.nonce &&
        this.auth !== undefined;
      if (challenge && (this.auth === undefined || stale)) {
        this.auth = new Authenticator(this.user, this.pass ?? '', challenge);
        m = await this.send(method, url, extra);
      }
    }
    return m;
  }

  private send(method: string, url: string, extra: Record<string, string>): Promise<RtspMessage> {
    const s = this.socket;
    if (!s || s.destroyed)
      return Promise.reject(new KuzetError('KUZET_ERR_CAMERA', `${method} ${url}: not connected`));
    const cseq = ++this.cseq;
    let text = `${method} ${url} RTSP/1.0\r\nCSeq: ${cseq}\r\nUser-Agent: ${this.opts.userAgent ?? 'kuzet'}\r\n`;
    if (this.sessionId) text += `Session: ${this.sessionId}\r\n`;
    if (this.auth) text += `Authorization: ${this.auth.header(method, url)}\r\n`;
    for (const [k, v] of Object.entries(extra)) text += `${k}: ${v}\r\n`;
    text += '\r\n';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(cseq);
        reject(new KuzetError('KUZET_ERR_CAMERA', `${method} ${url}: no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(cseq, { resolve, reject, timer });
      s.write(text);
    });
  }

  private closeUdp(): void {
    this.udpRtp?.close();
    this.udpRtcp?.close();
    this.udpRtp = undefined;
    this.udpRtcp = undefined;
  }

  private destroy(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    if (this.rtcpTimer) clearInterval(this.rtcpTimer);
    this.closeUdp();
    const s = this.socket;
    this.socket = undefined;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new KuzetError('KUZET_ERR_CAMERA', `${this.url}: connection closed`));
    }
    this.pending.clear();
    s?.destroy();
  }
}
