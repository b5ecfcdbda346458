/**
 * `kuzet probe`: connects to one camera with Kuzet's own client and measures what it really sends
 * (codec, profile, size from the SPS, frame rate from RTP timestamps, GOP, bitrate) for a few
 * seconds. What an installer runs before adding a camera to a school's configuration.
 */
import { KuzetError } from '../../engine/errors.js';
import { createLogger, type Logger } from '../../engine/log.js';
import type { VideoCodec } from '../../engine/types.js';
import {
  RtspClient,
  RtspStatusError,
  UnsupportedCodecError,
  type RtspSessionInfo,
  type RtspTransport,
} from './client.js';
import { newDepacketizerCounters } from './h264-depacketizer.js';
import { depacketizerFor, type Depacketizer } from './source.js';
import { parseH264Sps, parseH265Sps, type SpsInfo } from './sps.js';

export interface ProbeOptions {
  /** Measuring window after PLAY (default 5). */
  seconds?: number;
  transport?: RtspTransport;
  user?: string;
  pass?: string;
  requestTimeoutMs?: number;
  log?: Logger;
}

export interface ProbeResult {
  /** The URL, password replaced by ***. */
  url: string;
  codec: VideoCodec;
  /** Profile name from the SPS, e.g. 'High', 'Main'; null when no SPS was seen. */
  profile: string | null;
  width: number | null;
  height: number | null;
  /** Access units per second, from their RTP timestamps. */
  fps: number | null;
  /** Access units from one keyframe to the next (last complete GOP seen). */
  gopLength: number | null;
  bitrateKbps: number;
  keyframes: number;
  accessUnits: number;
  transport: 'tcp' | 'udp';
}

export type ProbeFailureKind =
  'unreachable' | 'auth-failed' | 'unsupported-codec' | 'no-media' | 'rtsp-error';

/** A probe that could not measure; `exitCode` is what `kuzet probe` exits with. */
export class ProbeError extends KuzetError {
  constructor(
    readonly kind: ProbeFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(
      kind === 'unreachable' || kind === 'no-media' ? 'KUZET_ERR_CAMERA' : 'KUZET_ERR_RTSP',
      message,
      options,
    );
  }

  get exitCode(): number {
    return PROBE_EXIT_CODES[this.kind];
  }
}

export const PROBE_EXIT_CODES: Record<ProbeFailureKind, number> = {
  'rtsp-error': 1,
  unreachable: 2,
  'auth-failed': 3,
  'unsupported-codec': 4,
  'no-media': 5,
};

/** `scheme://user:pass@` → `scheme://user:***@`: a URL, or every URL inside a text (e.g. an ffmpeg error line). */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][\w+.-]*:\/\/)([^@/\s]*)@/gi, (_m, scheme: string, cred: string) => {
    const colon = cred.indexOf(':');
    return colon < 0 ? `${scheme}${cred}@` : `${scheme}${cred.slice(0, colon)}:***@`;
  });
}

function classify(err: unknown, url: string): ProbeError {
  if (err instanceof ProbeError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (err instanceof RtspStatusError && err.status === 401)
    return new ProbeError('auth-failed', `${url}: authentication failed (401): check user and password`, {
      cause: err,
    });
  if (err instanceof UnsupportedCodecError)
    return new ProbeError(
      'unsupported-codec',
      `${url}: unsupported codec (offered: ${err.offered || 'none'}); Kuzet reads H.264 and H.265`,
      { cause: err },
    );
  if (err instanceof RtspStatusError)
    return new ProbeError('rtsp-error', `${url}: ${err.method} answered ${err.status}`, { cause: err });
  if (err instanceof KuzetError && err.code === 'KUZET_ERR_RTSP')
    return new ProbeError('rtsp-error', `${url}: ${msg}`, { cause: err });
  return new ProbeError('unreachable', `${url}: unreachable: ${msg}`, { cause: err });
}

/** Connects, measures for `seconds`, tears down. Rejects with a ProbeError. */
export async function probeCamera(url: string, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const shown = redactUrl(url);
  const seconds = opts.seconds ?? 5;
  const log = opts.log ?? createLogger('probe', 'warn');
  const counters = newDepacketizerCounters();
  let info: RtspSessionInfo | undefined;
  let depacketizer: Depacketizer | undefined;
  let firstPacketAt = 0;
  let accessUnits = 0;
  let keyframes = 0;
  let firstTs = 0;
  /** AU timestamps relative to the first (unwrapped); a 5 s probe at 60 fps keeps 300 numbers. */
  const stamps: number[] = [];
  let lastKeyIdx = -1;
  let gopLength: number | null = null;
  let closed: Error | undefined;

  const client = new RtspClient({
    url,
    user: opts.user,
    pass: opts.pass,
    log,
    transport: opts.transport ?? 'auto',
    requestTimeoutMs: opts.requestTimeoutMs,
    onReady: (i) => {
      info = i;
      accessUnits = keyframes = 0;
      stamps.length = 0;
      lastKeyIdx = -1;
      gopLength = null;
      depacketizer = depacketizerFor(
        i,
        (keyframe, ts) => {
          if (accessUnits === 0) firstTs = ts;
          // Signed 32-bit difference: B-frames may carry timestamps before the first unit's.
          if (stamps.length < 100_000) stamps.push((ts - firstTs) | 0);
          if (keyframe) {
            if (lastKeyIdx >= 0) gopLength = accessUnits - lastKeyIdx;
            lastKeyIdx = accessUnits;
            keyframes++;
          }
          accessUnits++;
          // Only keyframes are copied: probing a 4K camera should not cost more than sampling it.
          return keyframe;
        },
        () => {},
        counters,
      );
    },
    onRtp: (pkt) => {
      if (firstPacketAt === 0) firstPacketAt = performance.now();
      depacketizer?.push(pkt);
    },
    onClose: (err) => {
      closed = err ?? new Error('connection closed');
    },
  });

  let transport: 'tcp' | 'udp';
  try {
    transport = (await client.open()).transport;
  } catch (err) {
    throw classify(err, shown);
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const endAt = performance.now();
  await client.close();
  if (!info || !depacketizer) throw new ProbeError('rtsp-error', `${shown}: no session`);
  if (counters.packets === 0) {
    throw new ProbeError(
      'no-media',
      `${shown}: no media within ${seconds} s${closed ? ` (${closed.message})` : ''}`,
    );
  }
  if (accessUnits === 0)
    throw new ProbeError(
      'no-media',
      `${shown}: ${counters.packets} RTP packets but no complete picture within ${seconds} s`,
    );

  const codec = info.video.codec ?? 'h264';
  let sps: SpsInfo | undefined;
  const spsNal = depacketizer.currentSps;
  if (spsNal) {
    try {
      sps = codec === 'h265' ? parseH265Sps(spsNal) : parseH264Sps(spsNal);
    } catch (err) {
      log.warn('SPS not parsable', { url: shown, err: err instanceof Error ? err.message : String(err) });
    }
  }
  const clock = info.video.clockRate || 90000;
  const fps = frameRate(stamps, clock);
  const wallS = Math.max(0.001, (endAt - (firstPacketAt || endAt)) / 1000);
  return {
    url: shown,
    codec,
    profile: sps?.profile ?? null,
    width: sps?.width ?? null,
    height: sps?.height ?? null,
    fps,
    gopLength,
    // RTP packets with their headers, without TCP or UDP framing.
    bitrateKbps: Math.round((counters.bytes * 8) / wallS / 10) / 100,
    keyframes,
    accessUnits,
    transport,
  };
}

/**
 * Frames per second from access-unit RTP timestamps: the median step between sorted distinct
 * timestamps. Sorting undoes B-frame reordering (timestamps are presentation times); the median
 * ignores the holes at the window's edges and an occasional dropped frame.
 */
export function frameRate(stamps: readonly number[], clockRate: number): number | null {
  const sorted = [...new Set(stamps)].sort((a, b) => a - b);
  if (sorted.length < 2) return null;
  const steps: number[] = [];
  for (let i = 1; i < sorted.length; i++) steps.push(sorted[i] - sorted[i - 1]);
  steps.sort((a, b) => a - b);
  const median = steps[steps.length >> 1];
  return median > 0 ? Math.round((clockRate * 100) / median) / 100 : null;
}
