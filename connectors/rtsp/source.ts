/**
 * One camera: keeps an RTSP session alive, samples keyframes from it and reports status.
 *
 * Everything that can go wrong with a camera (unreachable, wrong password, stream stops, garbage)
 * ends as an offline status and a jittered, exponentially backed-off reconnect; nothing throws out
 * of this class, because one bad camera must never take down a process serving thousands.
 */
import { CameraLink, type CameraSourceBase } from '../camera-link.js';
import { errorMessage, KuzetError } from '../../engine/errors.js';
import { createLogger, type Logger } from '../../engine/log.js';
import type { Sample, VideoCodec } from '../../engine/types.js';
import { RtspClient, RtspStatusError, type RtspSessionInfo, type RtspTransport } from './client.js';
import {
  H264Depacketizer,
  newDepacketizerCounters,
  type DepacketizerCounters,
  type H264AccessUnit,
} from './h264-depacketizer.js';
import { H265Depacketizer } from './h265-depacketizer.js';
import { createSampler, type Sampler, type SamplingPolicy } from './sampler.js';

export interface RtspCameraSourceConfig extends CameraSourceBase {
  /** Keyframes per second to sample at most (default 1); ignored when `sampling` is given. */
  maxFps?: number;
  /** Sampling policy: keyframes at most maxFps, or the first keyframe of every N seconds. */
  sampling?: SamplingPolicy;
  onSample: (s: Sample) => void;
  /** No media for this long while playing = offline (default 10 000). */
  silenceTimeoutMs?: number;
  /** Connect and per-request timeout (default 10 000). */
  requestTimeoutMs?: number;
  /** RTP transport (default 'tcp'): 'auto' tries UDP and falls back to TCP interleaved. */
  transport?: RtspTransport;
  /** RTCP receiver report period (default 5000; 0 = none). */
  rtcpIntervalMs?: number;
}

/** What both depacketizers offer the source. */
export interface Depacketizer {
  push(pkt: Uint8Array): void;
  readonly currentSps: Uint8Array | undefined;
}

/** Builds the depacketizer for the session's codec (from the SDP rtpmap). */
export function depacketizerFor(
  info: Pick<RtspSessionInfo, 'video'>,
  wantNext: (keyframe: boolean, rtpTimestamp: number) => boolean,
  onAccessUnit: (au: H264AccessUnit) => void,
  counters?: DepacketizerCounters,
): Depacketizer {
  const v = info.video;
  if (v.codec === 'h265') {
    const maxDonDiff = Number(v.fmtp['sprop-max-don-diff'] ?? 0) || 0;
    return new H265Depacketizer({
      payloadType: v.payloadType,
      parameterSets: v.parameterSets,
      maxDonDiff,
      wantNext,
      onAccessUnit,
      counters,
    });
  }
  return new H264Depacketizer({
    payloadType: v.payloadType,
    parameterSets: v.parameterSets,
    wantNext,
    onAccessUnit,
    counters,
  });
}

export interface RtspSourceCounters extends DepacketizerCounters {
  /** Connection attempts after the first. */
  reconnects: number;
  /** RTCP receiver reports sent, over all sessions. */
  rtcpReportsSent: number;
  /** RTCP sender reports received, over all sessions. */
  rtcpSenderReports: number;
}

/** Short, bounded-cardinality reasons for camera-offline (details go to the log). */
export type OfflineReason =
  | 'auth-failed'
  | 'unreachable'
  | 'connection-closed'
  | 'media-timeout'
  | 'rtsp-error'
  | 'unsupported-stream'
  | 'stopped';

function reasonOf(err: unknown): OfflineReason {
  if (err instanceof RtspStatusError) return err.status === 401 ? 'auth-failed' : 'rtsp-error';
  if (err instanceof KuzetError && err.code === 'KUZET_ERR_RTSP') return 'unsupported-stream';
  if (err instanceof KuzetError && /connection closed/.test(err.message)) return 'connection-closed';
  return 'unreachable';
}

export class RtspCameraSource {
  readonly counters: RtspSourceCounters = {
    ...newDepacketizerCounters(),
    reconnects: 0,
    rtcpReportsSent: 0,
    rtcpSenderReports: 0,
  };
  private readonly log: Logger;
  private readonly sampler: Sampler;
  private readonly link: CameraLink;
  private readonly silenceMs: number;

  private running = false;
  private attempts = 0;
  private client: RtspClient | undefined;
  private depacketizer: Depacketizer | undefined;
  private codec: VideoCodec = 'h264';
  private rtcpSeen = { sent: 0, srs: 0 };
  private retryTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private seq = 0;

  /** Samples faster (still keyframes only, so capped by the GOP) for `durationMs`, e.g. under alarm. */
  boost(fps: number, durationMs: number): void {
    this.sampler.boost(fps, durationMs);
  }

  /** Is a boost running now? The engine puts boosted cameras' samples in the priority lane. */
  boosted(): boolean {
    return this.sampler.boosted();
  }

  constructor(private readonly cfg: RtspCameraSourceConfig) {
    this.log = (cfg.log ?? createLogger('rtsp')).child(cfg.cameraId);
    this.sampler = createSampler(cfg.sampling ?? { type: 'keyframes', maxFps: cfg.maxFps ?? 1 });
    this.link = new CameraLink(cfg, cfg.onStatus, this.log, cfg.reconnect);
    this.silenceMs = cfg.silenceTimeoutMs ?? 10_000;
  }

  get online(): boolean {
    return this.link.online;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  /** Tears the session down and cancels retries. Never rejects. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    const c = this.client;
    this.client = undefined;
    this.depacketizer = undefined;
    if (c) this.syncRtcpCounters(c);
    await c?.close();
    this.link.markOffline('stopped');
  }

  private connect(): void {
    if (!this.running) return;
    if (this.attempts++ > 0) this.counters.reconnects++;
    this.link.emit({
      type: 'camera-connecting',
      schoolId: this.cfg.schoolId,
      cameraId: this.cfg.cameraId,
      at: Date.now(),
    });
    this.sampler.reset();
    const client = new RtspClient({
      url: this.cfg.url,
      user: this.cfg.user,
      pass: this.cfg.pass,
      log: this.log,
      requestTimeoutMs: this.cfg.requestTimeoutMs,
      transport: this.cfg.transport,
      rtcpIntervalMs: this.cfg.rtcpIntervalMs,
      onReady: (info) => {
        if (this.client !== client) return;
        this.codec = info.video.codec ?? 'h264';
        this.rtcpSeen = { sent: 0, srs: 0 };
        this.depacketizer = depacketizerFor(
          info,
          (keyframe, ts) => this.sampler.want(keyframe, ts),
          (au) => this.emit(au),
          this.counters,
        );
      },
      onRtp: (pkt) => this.onRtp(pkt),
      onClose: (err) => {
        if (this.client === client)
          this.drop(err ?? new KuzetError('KUZET_ERR_CAMERA', 'connection closed'), 'connection-closed');
      },
    });
    this.client = client;
    client.open().then(
      (info) => {
        if (this.client !== client) {
          void client.close();
          return;
        }
        this.log.debug('Playing', {
          url: info.url,
          session: info.sessionId,
          timeoutS: info.timeoutS,
          codec: this.codec,
          transport: info.transport,
        });
        this.armWatchdog(client);
      },
      (err: unknown) => {
        if (this.client === client) this.drop(err, reasonOf(err));
      },
    );
  }

  private onRtp(pkt: Buffer): void {
    const d = this.depacketizer;
    if (!d) return;
    if (!this.link.online) {
      this.log.debug('Camera online', { url: redact(this.cfg.url) });
      this.link.markOnline(this.codec);
    }
    d.push(pkt);
  }

  private emit(au: H264AccessUnit): void {
    this.sampler.taken(au.rtpTimestamp);
    const sample: Sample = {
      schoolId: this.cfg.schoolId,
      cameraId: this.cfg.cameraId,
      codec: this.codec,
      captureTimeMs: Date.now(),
      seq: this.seq++,
      data: au.data,
    };
    try {
      this.cfg.onSample(sample);
    } catch (err) {
      this.log.error('onSample threw', { err: errorMessage(err) });
    }
  }

  /** Silence detection by polling the packet counter: no per-packet clock reads. */
  private armWatchdog(client: RtspClient): void {
    clearInterval(this.watchdog);
    let seen = this.counters.packets;
    let progressAt = Date.now();
    this.watchdog = setInterval(
      () => {
        if (this.client !== client) return;
        const now = Date.now();
        this.syncRtcpCounters(client);
        if (this.counters.packets !== seen) {
          seen = this.counters.packets;
          progressAt = now;
        } else if (now - progressAt >= this.silenceMs) {
          this.drop(
            new KuzetError('KUZET_ERR_CAMERA', `no media for ${now - progressAt} ms`),
            'media-timeout',
          );
        }
      },
      Math.max(100, Math.min(this.silenceMs / 4, 2500)),
    );
  }

  private syncRtcpCounters(client: RtspClient): void {
    const st = client.stats;
    const sent = st.reportsSent;
    const srs = st.senderReports;
    // Stats restart with each session (and an 'auto' fallback); only the increase is added.
    if (sent < this.rtcpSeen.sent || srs < this.rtcpSeen.srs) this.rtcpSeen = { sent: 0, srs: 0 };
    this.counters.rtcpReportsSent += sent - this.rtcpSeen.sent;
    this.counters.rtcpSenderReports += srs - this.rtcpSeen.srs;
    this.rtcpSeen = { sent, srs };
  }

  private drop(err: unknown, reason: OfflineReason): void {
    const c = this.client;
    if (c) this.syncRtcpCounters(c);
    this.client = undefined;
    this.depacketizer = undefined;
    clearInterval(this.watchdog);
    void c?.close();
    if (!this.running) return;
    const delay = this.link.failed(reason === 'auth-failed');
    // The engine logs state transitions once; here only the details, so a dead camera retrying
    // for hours does not flood the log (auth failures stay visible: they need a person).
    const level = reason === 'auth-failed' ? 'warn' : 'debug';
    this.log[level]('Camera offline', {
      reason,
      err: errorMessage(err),
      url: redact(this.cfg.url),
      failures: this.link.failures,
    });
    this.link.markOffline(reason);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
