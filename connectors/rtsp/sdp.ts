/**
 * SDP (RFC 8866) as far as an RTSP video client needs it: the media sections, their RTP mapping,
 * the codec parameter sets carried in fmtp, and the control URLs resolved to absolute ones.
 */
import type { VideoCodec } from '../../engine/types.js';

export interface SdpMedia {
  /** 'video', 'audio', 'application' … */
  kind: string;
  /** Payload types listed on the m= line. */
  payloadTypes: number[];
  /** Of the first payload type with an rtpmap: encoding name as written (e.g. 'H264'). */
  encoding: string;
  payloadType: number;
  clockRate: number;
  /** fmtp parameters of that payload type, keys lower-cased. */
  fmtp: Record<string, string>;
  /** Absolute control URL for SETUP (already resolved). */
  control: string;
  /** Set for H.264 / H.265 tracks. */
  codec?: VideoCodec;
  /** Parameter sets from sprop-parameter-sets (H.264) or sprop-vps/sps/pps (H.265), NAL units without start codes. */
  parameterSets: Uint8Array[];
}

export interface SessionDescription {
  /** Absolute control URL for aggregate requests (PLAY, TEARDOWN). */
  control: string;
  media: SdpMedia[];
}

/** Resolves an SDP control attribute against the base (RFC 2326 C.1.1): absolute stays, '*' is the base itself. */
export function resolveControl(base: string, control: string | undefined): string {
  if (control === undefined || control === '' || control === '*') return base;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(control)) return control;
  // String concatenation, not URL resolution, is what cameras expect (and what ffmpeg and live555 do):
  // bases like rtsp://h/cam/realmonitor?channel=1 would lose their query under RFC 3986 rules.
  const dirBase = base.endsWith('/') ? base : base + '/';
  return dirBase + (control.startsWith('/') ? control.slice(1) : control);
}

function decodeBase64List(value: string): Uint8Array[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => new Uint8Array(Buffer.from(s, 'base64')))
    .filter((b) => b.length > 0);
}

function codecOf(encoding: string): VideoCodec | undefined {
  const e = encoding.toUpperCase();
  if (e === 'H264') return 'h264';
  if (e === 'H265' || e === 'HEVC') return 'h265';
  return undefined;
}

/**
 * Parses an SDP body. `base` is the URL control attributes are relative to: Content-Base, else
 * Content-Location, else the DESCRIBE request URL (RFC 2326 C.1.1), chosen by the caller.
 */
export function parseSdp(text: string, base: string): SessionDescription {
  let sessionControl: string | undefined;
  interface Raw {
    kind: string;
    payloadTypes: number[];
    rtpmap: Map<number, { encoding: string; clockRate: number }>;
    fmtp: Map<number, string>;
    control?: string;
  }
  const raws: Raw[] = [];
  let cur: Raw | undefined;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line.length < 2 || line[1] !== '=') continue;
    const type = line[0];
    const value = line.slice(2);
    if (type === 'm') {
      const parts = value.split(/\s+/);
      cur = {
        kind: parts[0] ?? '',
        payloadTypes: parts
          .slice(3)
          .map((p) => Number(p))
          .filter((n) => Number.isInteger(n)),
        rtpmap: new Map(),
        fmtp: new Map(),
      };
      raws.push(cur);
      continue;
    }
    if (type !== 'a') continue;
    const colon = value.indexOf(':');
    const name = colon < 0 ? value : value.slice(0, colon);
    const arg = colon < 0 ? '' : value.slice(colon + 1).trim();
    if (name === 'control') {
      if (cur) cur.control = arg;
      else sessionControl = arg;
    } else if (cur && name === 'rtpmap') {
      const m = /^(\d+)\s+([^/\s]+)\/(\d+)/.exec(arg);
      if (m) cur.rtpmap.set(Number(m[1]), { encoding: m[2] ?? '', clockRate: Number(m[3]) });
    } else if (cur && name === 'fmtp') {
      const m = /^(\d+)\s+(.*)$/.exec(arg);
      if (m) cur.fmtp.set(Number(m[1]), m[2] ?? '');
    }
  }

  const control = resolveControl(base, sessionControl);
  const media: SdpMedia[] = raws.map((r) => {
    const pt = r.payloadTypes.find((p) => r.rtpmap.has(p)) ?? r.payloadTypes[0] ?? -1;
    // Static payload types (< 96) may come without rtpmap; video ones we care about are dynamic.
    const map = r.rtpmap.get(pt) ?? { encoding: '', clockRate: 90000 };
    const fmtp: Record<string, string> = {};
    for (const kv of (r.fmtp.get(pt) ?? '').split(';')) {
      const eq = kv.indexOf('=');
      if (eq < 0) continue;
      fmtp[kv.slice(0, eq).trim().toLowerCase()] = kv.slice(eq + 1).trim();
    }
    const codec = codecOf(map.encoding);
    let parameterSets: Uint8Array[] = [];
    if (codec === 'h264' && fmtp['sprop-parameter-sets']) {
      parameterSets = decodeBase64List(fmtp['sprop-parameter-sets']);
    } else if (codec === 'h265') {
      for (const key of ['sprop-vps', 'sprop-sps', 'sprop-pps']) {
        if (fmtp[key]) parameterSets.push(...decodeBase64List(fmtp[key]));
      }
    }
    const m: SdpMedia = {
      kind: r.kind,
      payloadTypes: r.payloadTypes,
      encoding: map.encoding,
      payloadType: pt,
      clockRate: map.clockRate,
      fmtp,
      control: resolveControl(base, r.control),
      parameterSets,
    };
    if (codec) m.codec = codec;
    return m;
  });
  return { control, media };
}
