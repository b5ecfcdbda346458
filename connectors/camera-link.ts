import { errorMessage } from '../engine/errors.js';
import type { Logger } from '../engine/log.js';
import type { CameraStatus, VideoCodec } from '../engine/types.js';

export interface ReconnectOptions {
  initialMs?: number;
  maxMs?: number;
  /** Delay after the camera rejected the credentials (default max(maxMs, 60 s)): retrying faster only locks accounts. */
  authFailedMs?: number;
}

/** Configuration every camera source takes, whatever its protocol. */
export interface CameraSourceBase {
  schoolId: string;
  cameraId: string;
  /** rtsp:// or http(s)://, [user:pass@]host[:port]/path */
  url: string;
  user?: string;
  pass?: string;
  onStatus: (s: CameraStatus) => void;
  log?: Logger;
  reconnect?: ReconnectOptions;
}

/**
 * The connectivity half every camera source shares: online/offline status (online emitted once per
 * change, `since` kept across repeated failures), the failure count and the reconnect backoff.
 */
export class CameraLink {
  private isOnline = false;
  private offlineSince: number | undefined;
  /** Consecutive failures since media last flowed; drives the backoff. */
  private failureCount = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly authFailedMs: number;

  constructor(
    private readonly ids: { schoolId: string; cameraId: string },
    private readonly onStatus: (s: CameraStatus) => void,
    private readonly log: Logger,
    reconnect?: ReconnectOptions,
  ) {
    this.initialMs = reconnect?.initialMs ?? 1000;
    this.maxMs = reconnect?.maxMs ?? 30_000;
    this.authFailedMs = reconnect?.authFailedMs ?? Math.max(this.maxMs, 60_000);
  }

  get online(): boolean {
    return this.isOnline;
  }

  get failures(): number {
    return this.failureCount;
  }

  /** Media arrived: reports camera-online on the change from offline and resets the backoff. */
  markOnline(codec: VideoCodec): void {
    if (this.isOnline) return;
    this.isOnline = true;
    this.offlineSince = undefined;
    this.failureCount = 0;
    this.emit({ type: 'camera-online', ...this.ids, at: Date.now(), codec });
  }

  markOffline(reason: string): void {
    const now = Date.now();
    this.isOnline = false;
    this.offlineSince ??= now;
    this.emit({ type: 'camera-offline', ...this.ids, at: now, since: this.offlineSince, reason });
  }

  /** Counts a failed attempt and returns the delay before the next one. */
  failed(authFailed: boolean): number {
    this.failureCount++;
    if (authFailed) return this.authFailedMs * (1 + Math.random() * 0.25);
    // Equal jitter: spreads a school's cameras apart after a shared outage, never retries instantly.
    const base = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failureCount - 1, 20));
    return base / 2 + Math.random() * (base / 2);
  }

  /** Delivers a status; a throwing callback is logged, never propagated into the source. */
  emit(s: CameraStatus): void {
    try {
      this.onStatus(s);
    } catch (err) {
      this.log.error('onStatus threw', { err: errorMessage(err) });
    }
  }
}
