/**
 * One RTSP session over one TCP connection: OPTIONS, DESCRIBE (401 Basic/Digest, 301/302
 * redirects), SETUP with interleaved RTP/AVP/TCP, PLAY, keep-alive, TEARDOWN.
 *
 * TCP interleaved rather than UDP: one socket per camera traverses NAT and firewalls between
 * schools and the data centre, and TCP cannot reorder packets, so the depacketizer can treat any
 * sequence gap as loss. Retries are not done here: the source owns reconnect policy.
 */
import { connect, type Socket } from 'node:net';
import { KuzetError, errorMessage } from '../../engine/errors.js';
import type { Logger } from '../../engine/log.js';
import { Authenticator, credentialsFromUrl, parseChallenges, pickChallenge } from './auth.js';
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
}

export interface RtspSessionInfo {
  /** Final URL after redirects, without credentials. */
  url: string;
  sdp: SessionDescription;
  video: SdpMedia;
  sessionId: string;
  /** Session timeout the server announced (seconds). */
  timeoutS: number;
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

  /** Connects and brings the session to PLAY. Rejects on any failure, with the socket closed. */
  async open(): Promise<RtspSessionInfo> {
    try {
      return await this.openInner();
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  private async openInner(): Promise<RtspSessionInfo> {
    let describe: RtspMessage | undefined;
    for (let redirects = 0; ; redirects++) {
      await this.connectSocket();
      const options = await this.request('OPTIONS', this.url);
      if (options.status === 401) this.fail('OPTIONS', options);
      if (/\bGET_PARAMETER\b/.test(header(options, 'public') ?? '')) this.keepAliveMethod = 'GET_PARAMETER';
      describe = await this.request('DESCRIBE', this.url, { Accept: 'application/sdp' });
      const location = header(describe, 'location');
      if ((describe.status === 301 || describe.status === 302) && location) {
        if (redirects >= MAX_REDIRECTS) throw new KuzetError('KUZET_ERR_RTSP', `DESCRIBE ${this.url}: more than ${MAX_REDIRECTS} redirects`);
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
    const video = sdp.media.find((m) => m.kind === 'video' && m.codec === 'h264');
    if (!video) {
      const codecs = sdp.media.map((m) => `${m.kind}/${m.encoding || '?'}`).join(', ');
      throw new KuzetError('KUZET_ERR_RTSP', `DESCRIBE ${this.url}: no H.264 video track (offered: ${codecs || 'none'})`);
    }

    const setup = await this.request('SETUP', video.control, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
    if (setup.status !== 200) this.fail('SETUP', setup);
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
    const ch = /interleaved=(\d+)/i.exec(transport);
    if (ch) this.rtpChannel = Number(ch[1]);
    else if (!/TCP/i.test(transport)) throw new KuzetError('KUZET_ERR_RTSP', `SETUP ${video.control}: server refused TCP interleaved transport (${transport})`);

    this.controlUrl = sdp.control;
    const play = await this.request('PLAY', sdp.control, { Range: 'npt=0.000-' });
    if (play.status !== 200) this.fail('PLAY', play);

    this.opened = true;
    // Half the session timeout leaves room for one lost or slow keep-alive before the server gives up.
    const every = Math.max(1000, (timeoutS * 1000) / 2);
    this.keepAlive = setInterval(() => this.sendKeepAlive(sdp.control), every);
    this.keepAlive.unref();
    return { url: this.url, sdp, video, sessionId: this.sessionId, timeoutS };
  }

  /** TEARDOWN (waits briefly for the answer) and closes. Never rejects. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.keepAlive) clearInterval(this.keepAlive);
    const s = this.socket;
    if (s && this.sessionId && !s.destroyed && s.writable) {
      try {
        await Promise.race([this.request('TEARDOWN', this.controlUrl || this.url), new Promise((r) => setTimeout(r, 1000).unref())]);
      } catch {
        // The camera may already be gone; closing anyway.
      }
    }
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
    if (u.protocol !== 'rtsp:') throw new KuzetError('KUZET_ERR_CONFIG', `url: only rtsp:// is supported (got ${u.protocol}//)`);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = u.port ? Number(u.port) : 554;
    return new Promise((resolve, reject) => {
      const s = connect({ host, port, noDelay: true });
      this.socket = s;
      this.reader = new RtspReader(
        (channel, data) => {
          if (channel === this.rtpChannel) this.opts.onRtp(data);
        },
        (m) => this.onMessage(m),
      );
      const timer = setTimeout(() => {
        s.destroy(new KuzetError('KUZET_ERR_CAMERA', `connect ${host}:${port}: timed out after ${this.timeoutMs} ms`));
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
  private async request(method: string, url: string, extra: Record<string, string> = {}): Promise<RtspMessage> {
    let m = await this.send(method, url, extra);
    if (m.status === 401 && this.user !== undefined) {
      const challenge = pickChallenge(parseChallenges(m.headers.get('www-authenticate') ?? []));
      const stale = challenge?.scheme === 'digest' && this.auth?.challenge.nonce !== challenge.nonce && this.auth !== undefined;
      if (challenge && (this.auth === undefined || stale)) {
        this.auth = new Authenticator(this.user, this.pass ?? '', challenge);
        m = await this.send(method, url, extra);
      }
    }
    return m;
  }

  private send(method: string, url: string, extra: Record<string, string>): Promise<RtspMessage> {
    const s = this.socket;
    if (!s || s.destroyed) return Promise.reject(new KuzetError('KUZET_ERR_CAMERA', `${method} ${url}: not connected`));
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

  private destroy(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
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
