import { connect, type NatsConnection } from 'nats';
import { Packr } from 'msgpackr';
import { errorMessage, KuzetError } from '../../engine/errors.js';
import type { Logger } from '../../engine/log.js';
import type { Metrics } from '../../engine/metrics.js';
import type { CameraStatus, FrameDetections } from '../../engine/types.js';
import type { Finding } from '../../pipelines/fusion/types.js';
import type { Alarm } from '../../pipelines/analytics/types.js';
import { startNatsServer, type LocalNatsServer } from './server.js';

/**
 * Kuzet's NATS adapter. Payloads are msgpack maps with plain keys (no msgpackr records), so any
 * msgpack decoder in any language reads them.
 */
export const subjects = {
  detections: (schoolId: string, cameraId: string) => `kuzet.det.${schoolId}.${cameraId}`,
  camera: (schoolId: string, cameraId: string) => `kuzet.cam.${schoolId}.${cameraId}`,
  /** Severity first, so the police can subscribe to `kuzet.alarm.critical.>` across all schools. */
  alarm: (severity: string, schoolId: string) => `kuzet.alarm.${severity}.${schoolId}`,
  /** Administrative findings of fusion (canteen discrepancies, staff audit, presence mismatches). */
  finding: (kind: string, schoolId: string) => `kuzet.finding.${kind}.${schoolId}`,
} as const;

const packr = new Packr({ useRecords: false, variableMapSize: true });

/** The wire shape of `kuzet.det.*` (version 1). Boxes are [x1, y1, x2, y2] in source pixels. */
export interface DetectionMessage {
  v: 1;
  school: string;
  camera: string;
  seq: number;
  time: number;
  width: number;
  height: number;
  detections: Array<{
    class: string;
    classId: number;
    score: number;
    box: [number, number, number, number];
    track: number | null;
  }>;
}

export function encodeDetections(f: FrameDetections): Uint8Array {
  const msg: DetectionMessage = {
    v: 1,
    school: f.schoolId,
    camera: f.cameraId,
    seq: f.seq,
    time: f.captureTimeMs,
    width: f.width,
    height: f.height,
    detections: f.detections.map((d) => ({
      class: d.className,
      classId: d.classId,
      score: Math.round(d.score * 1000) / 1000,
      box: [Math.round(d.x1), Math.round(d.y1), Math.round(d.x2), Math.round(d.y2)],
      track: d.trackId,
    })),
  };
  return packr.pack(msg);
}

/**
 * The wire shape of `kuzet.alarm.*` (version 1): one message per state change of an alarm. Times are epoch
 * ms; `time` is the time of this change. The evidence frame is `ref` (`<school>/<camera>/<seq>`).
 */
export interface AlarmMessage {
  v: 1;
  id: string;
  state: Alarm['state'];
  kind: Alarm['kind'];
  severity: Alarm['severity'];
  school: string;
  camera: string;
  zone: string | null;
  tracks: number[];
  score: number;
  frames: number;
  cues: Alarm['cues'];
  time: number;
  openedAt: number;
  confirmedAt: number | null;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  resolvedAt: number | null;
  evidence: { ref: string; seq: number; box: [number, number, number, number] | null };
}

export function encodeAlarm(a: Alarm): Uint8Array {
  const box = a.evidence.box;
  const msg: AlarmMessage = {
    v: 1,
    id: a.id,
    state: a.state,
    kind: a.kind,
    severity: a.severity,
    school: a.schoolId,
    camera: a.cameraId,
    zone: a.zoneId,
    tracks: a.trackIds,
    score: Math.round(a.score * 1000) / 1000,
    frames: a.frames,
    cues: a.cues,
    time: a.updatedAt,
    openedAt: a.openedAt,
    confirmedAt: a.confirmedAt,
    acknowledgedAt: a.acknowledgedAt,
    acknowledgedBy: a.acknowledgedBy,
    resolvedAt: a.resolvedAt,
    evidence: {
      ref: `${a.schoolId}/${a.cameraId}/${a.evidence.seq}`,
      seq: a.evidence.seq,
      box: box ? [Math.round(box.x1), Math.round(box.y1), Math.round(box.x2), Math.round(box.y2)] : null,
    },
  };
  return packr.pack(msg);
}

export function decodeMessage<T>(data: Uint8Array): T {
  return packr.unpack(data) as T;
}

export interface BusOptions {
  url: string;
  embedded: 'auto' | 'always' | 'never';
  storeDir: string;
  log: Logger;
  metrics?: Metrics;
}

export class Bus {
  /** False while the client is reconnecting: detections are then dropped (counted), not buffered without bound. */
  private connected = true;

  private constructor(
    readonly nc: NatsConnection,
    readonly url: string,
    private readonly local: LocalNatsServer | null,
    private readonly log: Logger,
    private readonly metrics?: Metrics,
  ) {
    void this.watchStatus();
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') {
        if (this.connected)
          this.log.warn('NATS connection lost; dropping detections until it returns', { url: this.url });
        this.connected = false;
      } else if (s.type === 'reconnect') {
        this.connected = true;
        this.log.info('NATS connection restored', { url: this.url });
      }
    }
  }

  get isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  /** Connects to `url`; with `embedded: auto` starts a local nats-server when nothing answers there. */
  static async open(opts: BusOptions): Promise<Bus> {
    const url = opts.url;
    if (opts.embedded !== 'always') {
      try {
        const nc = await Bus.connectTo(url, 2000);
        opts.log.info('Connected to NATS', { url });
        return new Bus(nc, url, null, opts.log, opts.metrics);
      } catch (err) {
        if (opts.embedded === 'never')
          throw new KuzetError('KUZET_ERR_BUS', `NATS at ${url} is unreachable: ${errorMessage(err)}`);
        opts.log.info('No NATS server answers; starting a local one', { url, reason: errorMessage(err) });
      }
    }
    const local = await startNatsServer({ storeDir: opts.storeDir, log: opts.log });
    try {
      const nc = await Bus.connectTo(local.url, 5000);
      return new Bus(nc, local.url, local, opts.log, opts.metrics);
    } catch (err) {
      await local.stop();
      throw new KuzetError('KUZET_ERR_BUS', `cannot connect to the local nats-server: ${errorMessage(err)}`);
    }
  }

  private static connectTo(url: string, timeoutMs: number): Promise<NatsConnection> {
    return connect({
      servers: url,
      timeout: timeoutMs,
      name: 'kuzet-engine',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
    });
  }

  /** Publishes without throwing: a broker outage is counted, never propagated into the frame path. */
  publish(subject: string, payload: Uint8Array, family: string): boolean {
    if (!this.isConnected) {
      this.metrics?.dropped.inc({ stage: 'bus', reason: 'bus_disconnected' });
      return false;
    }
    try {
      this.nc.publish(subject, payload);
      this.metrics?.busPublished.inc({ family });
      return true;
    } catch (err) {
      this.metrics?.dropped.inc({ stage: 'bus', reason: 'publish_failed' });
      this.log.debug('Publish failed', { subject, error: errorMessage(err) });
      return false;
    }
  }

  publishDetections(f: FrameDetections): boolean {
    return this.publish(subjects.detections(f.schoolId, f.cameraId), encodeDetections(f), 'det');
  }

  /** One alarm state change. Like every publish, dropped and counted (never thrown) while NATS is away. */
  /** `{ v: 1, kind, school, subject, day, values, time }` on kuzet.finding.<kind>.<schoolId>. */
  publishFinding(f: Finding): boolean {
    const msg = {
      v: 1,
      kind: f.kind,
      school: f.schoolId,
      subject: f.subject,
      day: f.day,
      values: f.values,
      time: f.time,
    };
    return this.publish(subjects.finding(f.kind, f.schoolId), packr.pack(msg), 'finding');
  }

  publishAlarm(alarm: Alarm): boolean {
    return this.publish(subjects.alarm(alarm.severity, alarm.schoolId), encodeAlarm(alarm), 'alarm');
  }

  publishCameraStatus(s: CameraStatus): boolean {
    return this.publish(subjects.camera(s.schoolId, s.cameraId), packr.pack({ v: 1, ...s }), 'cam');
  }

  /** Other camera events (health transitions) on the same subject as state changes. */
  publishCameraEvent(schoolId: string, cameraId: string, event: { type: string }): boolean {
    return this.publish(subjects.camera(schoolId, cameraId), packr.pack({ v: 1, ...event }), 'cam');
  }

  async close(): Promise<void> {
    try {
      await this.nc.drain();
    } catch (err) {
      this.log.warn('NATS drain failed', { error: errorMessage(err) });
    }
    if (this.local) await this.local.stop();
  }
}
