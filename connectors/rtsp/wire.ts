/**
 * The RTSP/TCP byte stream: text messages (RFC 2326 §6–7) and `$`-framed interleaved binary
 * data (§10.12) mixed on one connection, split at arbitrary points by TCP.
 *
 * Frames that lie whole inside a received chunk are handed out as views into that chunk (no copy);
 * only a frame cut by a chunk boundary is copied, into one buffer reused for the connection's life.
 */

export interface RtspMessage {
  /** Responses: the status code; requests (a server may send some): 0. */
  status: number;
  /** Responses: the reason phrase; requests: the method. */
  reason: string;
  /** Requests: the URL; responses: ''. */
  url: string;
  /** Header values by lower-cased name; a name may repeat (WWW-Authenticate). */
  headers: Map<string, string[]>;
  body: string;
}

export function header(m: RtspMessage, name: string): string | undefined {
  return m.headers.get(name.toLowerCase())?.[0];
}

/** Largest text message accepted; beyond it the peer is not speaking RTSP. */
const MAX_MESSAGE = 64 * 1024;

const DOLLAR = 0x24;

function isTokenStart(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a); // A-Z, a-z
}

export function parseMessageHead(head: string): RtspMessage | undefined {
  const lines = head.split('\r\n');
  const first = lines[0] ?? '';
  const headers = new Map<string, string[]>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const list = headers.get(name);
    if (list) list.push(value);
    else headers.set(name, [value]);
  }
  const resp = /^RTSP\/\d\.\d\s+(\d{3})\s*(.*)$/.exec(first);
  if (resp) return { status: Number(resp[1]), reason: resp[2] ?? '', url: '', headers, body: '' };
  const req = /^([A-Z_]+)\s+(\S+)\s+RTSP\/\d\.\d$/.exec(first);
  if (req) return { status: 0, reason: req[1] ?? '', url: req[2] ?? '', headers, body: '' };
  return undefined;
}

export class RtspReader {
  private pend = Buffer.allocUnsafe(0);
  private pendLen = 0;
  /** Bytes skipped while resynchronising on garbage; a healthy stream keeps this at 0. */
  skippedBytes = 0;

  /**
   * `onInterleaved` receives a view that is only valid during the call (it may point into the
   * reused buffer): copy what must outlive it.
   */
  constructor(
    private readonly onInterleaved: (channel: number, data: Buffer) => void,
    private readonly onMessage: (m: RtspMessage) => void,
  ) {}

  push(chunk: Buffer): void {
    let buf: Buffer;
    let len: number;
    if (this.pendLen === 0) {
      buf = chunk;
      len = chunk.length;
    } else {
      this.reserve(this.pendLen + chunk.length);
      chunk.copy(this.pend, this.pendLen);
      this.pendLen += chunk.length;
      buf = this.pend;
      len = this.pendLen;
    }

    let p = 0;
    while (p < len) {
      const b = buf[p];
      if (b === DOLLAR) {
        if (p + 4 > len) break;
        const size = (buf[p + 2] << 8) | buf[p + 3];
        if (p + 4 + size > len) break;
        const channel = buf[p + 1];
        p += 4 + size;
        this.onInterleaved(channel, buf.subarray(p - size, p));
        continue;
      }
      if (isTokenStart(b)) {
        const window = buf.subarray(p, Math.min(len, p + MAX_MESSAGE));
        const headEnd = window.indexOf('\r\n\r\n');
        if (headEnd < 0) {
          if (window.length >= MAX_MESSAGE) {
            this.skippedBytes++;
            p++; // not RTSP after all: resync
            continue;
          }
          break;
        }
        const msg = parseMessageHead(window.toString('latin1', 0, headEnd));
        if (!msg) {
          this.skippedBytes++;
          p++;
          continue;
        }
        const bodyLen = Number(header(msg, 'content-length') ?? 0) || 0;
        const total = headEnd + 4 + bodyLen;
        if (p + total > len) break;
        if (bodyLen > 0) msg.body = buf.toString('utf8', p + headEnd + 4, p + total);
        p += total;
        this.onMessage(msg);
        continue;
      }
      this.skippedBytes++;
      p++;
    }

    const rest = len - p;
    if (rest === 0) {
      this.pendLen = 0;
    } else if (buf === this.pend) {
      if (p > 0) this.pend.copyWithin(0, p, len);
      this.pendLen = rest;
    } else {
      this.reserve(rest);
      chunk.copy(this.pend, 0, p, len);
      this.pendLen = rest;
    }
  }

  private reserve(n: number): void {
    if (n <= this.pend.length) return;
    const next = Buffer.allocUnsafe(Math.max(n, this.pend.length * 2, 16 * 1024));
    this.pend.copy(next, 0, 0, this.pendLen);
    this.pend = next;
  }
}
