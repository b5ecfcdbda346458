import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import type { Sql } from 'postgres';
import { startFleet } from '../bench/fleet/server.js';
import { Bus } from '../connectors/nats/index.js';
import { HttpSnapshotSource } from '../connectors/http-snapshot/index.js';
import type { CameraSourceBase } from '../connectors/camera-link.js';
import { RtspCameraSource } from '../connectors/rtsp/index.js';
import {
  connectTimescale,
  AlarmActionWriter,
  AlarmWriter,
  alarmsLeftOpen,
  DetectionWriter,
  migrate,
  startEmbeddedTimescale,
} from '../connectors/timescale/index.js';
import { BoostController } from './boost.js';
import { CameraHealth, cameraKey, type CameraCounters } from './camera-health.js';
import type { DetectorConfig, KuzetConfig } from './config/schema.js';
import { KuzetError, errorMessage } from './errors.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { startMetricsServer } from './metrics-server.js';
import { configPath, repoPath } from './paths.js';
import { Detector, detectorOptionsFromConfig, type DetectorOptions } from './pools/index.js';
import { FramePipeline, type PipelineResult } from './pipeline.js';
import { AlarmStateMachine } from '../pipelines/alarms/state-machine.js';
import { CameraAnalytics } from '../pipelines/analytics/camera-analytics.js';
import { ensureAlarmStream, ScannerConsumer } from '../connectors/nats/scanner-consumer.js';
import {
  CameraHealthWriter,
  CanteenCountWriter,
  FindingWriter,
  PresenceWriter,
  ScannerEventWriter,
} from '../connectors/timescale/fusion-writers.js';
import {
  AlarmSocketServer,
  type AcknowledgeRequest,
  type AcknowledgeResult,
  type CameraInfo,
} from '../connectors/http/alarm-socket.js';
import { LiveViews } from '../connectors/http/live-view.js';
import { EvidenceStore } from '../pipelines/evidence/index.js';
import { FusionService, type FusionWriters } from './fusion.js';
import type { Alarm } from '../pipelines/analytics/types.js';
import { autoPoolThreads } from './pools/sizing.js';
import { formatStatus, type StatusSnapshot } from './status-line.js';
import type { CameraStatus, FrameDetections, OperatorAction, Sample } from './types.js';

type Closer = { name: string; close: () => Promise<void> };

/** What the engine needs of any camera source (RTSP or HTTP snapshot). */
interface CameraSource {
  start(): void;
  stop(): Promise<void>;
  boost(fps: number, durationMs: number): void;
  /** Under an alarm or operator boost now: its samples take the pipeline's priority lane. */
  boosted(): boolean;
  readonly counters: CameraCounters;
}

export interface EngineOptions {
  log: Logger;
  /** Print the live one-line summary (on a TTY it rewrites itself; elsewhere one line every 10 s). */
  statusLine?: boolean;
  metrics?: Metrics;
}

/**
 * The engine: builds every unit from the config, wires camera → sampler → decode pool → infer pool →
 * NATS + TimescaleDB + Prometheus, and tears it all down in reverse order under one deadline.
 * A unit that fails to start is logged once and the engine keeps running what it can.
 */
export class Engine {
  readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly closers: Closer[] = [];
  private readonly cameras: Array<{ key: string; schoolId: string; cameraId: string; source: CameraSource }> =
    [];
  private health: CameraHealth | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private boost: BoostController | null = null;
  private readonly online = new Map<string, boolean>();
  private readonly lastStatus = new Map<string, CameraStatus['type']>();
  private readonly pipelines = new Map<string, FramePipeline>();
  private readonly detectors = new Map<string, Detector>();
  private bus: Bus | null = null;
  private busRetry: NodeJS.Timeout | null = null;
  private writer: DetectionWriter | null = null;
  private alarmWriter: AlarmWriter | null = null;
  private healthWriter: CameraHealthWriter | null = null;
  /** Tracker + analytics per camera key, built from the camera's zones and its pipeline's analytics settings. */
  private readonly cameraAnalytics = new Map<string, CameraAnalytics>();
  private readonly alarmStates: AlarmStateMachine;
  private alarmTimer: NodeJS.Timeout | null = null;
  /** Scanner and sensor events fused with the cameras (null when engine.fusion.enabled is false). */
  private readonly fusion: FusionService | null;
  private scanner: ScannerConsumer | null = null;
  private alarmSocket: AlarmSocketServer | null = null;
  /** Room and live-view URL (with credentials) per camera key, for the operators' server. */
  private readonly cameraInfo = new Map<string, CameraInfo>();
  /** Recent samples and rendered evidence JPEGs (null when engine.http is disabled). */
  private readonly evidence: EvidenceStore | null;
  private liveViews: LiveViews | null = null;
  private actionWriter: AlarmActionWriter | null = null;
  /** The database writers exist (or there is no database): scanner events can be consumed and acked. */
  private databaseOpened = false;
  private fusionWriters: FusionWriters = { scanner: null, presence: null, findings: null, canteen: null };
  private sql: Sql | null = null;
  private dbState = 'starting';
  private statusTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  metricsPort = 0;
  databaseUrl = '';
  /** Wall-clock ms of construction: alarms stored before it belong to an earlier run. */
  private readonly startedAt = Date.now();

  /** The NATS server in use (a local one when none answered at the configured URL). */
  get natsUrl(): string | null {
    return this.bus?.url ?? null;
  }

  constructor(
    private readonly cfg: KuzetConfig,
    private readonly opts: EngineOptions,
  ) {
    this.log = opts.log;
    this.metrics = opts.metrics ?? new Metrics();
    for (const school of cfg.schools)
      for (const cam of school.cameras)
        this.cameraInfo.set(cameraKey(school.id, cam.id), {
          room: cam.room ?? null,
          rtspUrl: cam.url.startsWith('rtsp://') ? withCredentials(cam.url, cam.credentials) : null,
        });
    const h = cfg.engine.http;
    this.evidence = h.enabled
      ? new EvidenceStore({
          dir: configPath(h.evidence.dir),
          keepPerCamera: h.evidence.keepPerCamera,
          retentionDays: h.evidence.retentionDays,
          log: this.log.child('evidence'),
          onDrop: (reason) => this.metrics.dropped.inc({ stage: 'evidence', reason }),
        })
      : null;
    const evidence = this.evidence;
    if (evidence) this.metrics.evidenceHeldBytesProbe = () => evidence.heldBytes;
    const a = cfg.engine.alarms;
    this.alarmStates = new AlarmStateMachine({
      resolveAfterMs: a.resolveAfterMs,
      cooldownMs: a.cooldownMs,
      elevatedZones: a.elevatedZones,
      onEvidenceChanged: (alarm) => void this.evidence?.render(alarm),
    });
    this.fusion = cfg.engine.fusion.enabled
      ? new FusionService(
          cfg,
          {
            alarm: (c) => {
              const change = this.alarmStates.offer(c);
              if (change) this.onAlarm(change);
            },
            boost: (school, cameras) => {
              for (const cameraId of cameras) this.alarmBoost(school, cameraId);
            },
            finding: (f) => {
              this.metrics.findings.inc({ kind: f.kind });
              this.log.info('Finding', { kind: f.kind, school: f.schoolId, subject: f.subject, day: f.day });
              if (!this.bus?.publishFinding(f))
                this.metrics.dropped.inc({ stage: 'bus', reason: 'bus_unavailable' });
            },
            writers: () => this.fusionWriters,
            unstored: () => this.metrics.dropped.inc({ stage: 'store', reason: 'db_unavailable' }),
          },
          this.log.child('fusion'),
        )
      : null;
  }

  async start(): Promise<void> {
    const e = this.cfg.engine;
    const m = await startMetricsServer(this.metrics.registry, e.metrics.host, e.metrics.port);
    this.metricsPort = m.port;
    this.closers.push({ name: 'metrics', close: m.close });
    this.log.info('Serving Prometheus metrics', { url: `http://${e.metrics.host}:${m.port}/metrics` });

    if (this.cfg.demoFleet.enabled) await this.startDemoFleet();
    await Promise.all([this.openDatabase(), this.openBus()]);
    this.databaseOpened = true;
    if (this.bus && !this.scanner) await this.openScanner(this.bus);
    this.startDetectors();
    this.startCameras();
    // Escalation and resolution happen with time, not only when a frame arrives.
    this.alarmTimer = setInterval(() => {
      const now = Date.now();
      for (const change of this.alarmStates.tick(now)) this.onAlarm(change);
      this.fusion?.tick(now);
    }, 1000);
    this.alarmTimer.unref();
    if (this.opts.statusLine ?? e.statusLine) this.startStatusLine();
  }

  private async startDemoFleet(): Promise<void> {
    const f = this.cfg.demoFleet;
    try {
      const cameras = Array.from({ length: f.cameras }, (_, i) => ({
        path: `cam${String(i + 1).padStart(2, '0')}`,
        clip: configPath(f.clip),
      }));
      const fleet = await startFleet({ host: f.host, port: f.port, cameras, log: this.log.child('fleet') });
      this.closers.push({ name: 'demo fleet', close: () => fleet.stop() });
      this.log.info('Demo camera fleet serving', { cameras: f.cameras, port: fleet.port });
    } catch (err) {
      this.log.error('Demo camera fleet failed to start; cameras that use it will stay offline', {
        port: f.port,
        error: errorMessage(err),
      });
    }
  }

  private async openDatabase(): Promise<void> {
    const d = this.cfg.engine.database;
    const log = this.log.child('db');
    let url = d.url;
    if (!url) {
      try {
        const dataDir = d.embeddedDataDir === 'memory' ? 'memory' : configPath(d.embeddedDataDir);
        const db = await startEmbeddedTimescale({ port: d.embeddedPort, dataDir, log });
        this.closers.push({ name: 'embedded TimescaleDB', close: () => db.stop() });
        url = db.url;
        log.info('Embedded TimescaleDB serving', { url: db.url, dataDir });
      } catch (err) {
        this.dbState = 'failed';
        log.error('Embedded TimescaleDB failed to start; detections will not be stored', {
          port: d.embeddedPort,
          error: errorMessage(err),
        });
        return;
      }
    }
    this.databaseUrl = url;
    const sql = connectTimescale(url, log);
    this.sql = sql;
    // A journal per table while the database is away; none for an in-memory embedded database (nothing to keep).
    const spool = (table: string) =>
      d.spoolDir && !(d.url === '' && d.embeddedDataDir === 'memory')
        ? { spoolDir: configPath(`${d.spoolDir}/${table}`) }
        : {};
    this.writer = new DetectionWriter(sql, {
      maxBatchRows: d.batchRows,
      maxQueueRows: d.maxQueueRows,
      flushIntervalMs: d.flushIntervalMs,
      metrics: this.metrics,
      log,
      ...spool('detections'),
    });
    const writerOpts = {
      maxBatchRows: d.batchRows,
      maxQueueRows: d.maxQueueRows,
      flushIntervalMs: d.flushIntervalMs,
      metrics: this.metrics,
      log,
    };
    this.alarmWriter = new AlarmWriter(sql, { ...writerOpts, ...spool('alarms') });
    this.actionWriter = new AlarmActionWriter(sql, { ...writerOpts, ...spool('alarm_actions') });
    this.healthWriter = new CameraHealthWriter(sql, { ...writerOpts, ...spool('camera_health') });
    if (this.fusion)
      this.fusionWriters = {
        scanner: new ScannerEventWriter(sql, { ...writerOpts, ...spool('scanner_events') }),
        presence: new PresenceWriter(sql, { ...writerOpts, ...spool('presence') }),
        findings: new FindingWriter(sql, { ...writerOpts, ...spool('findings') }),
        canteen: new CanteenCountWriter(sql, { ...writerOpts, ...spool('canteen_counts') }),
      };
    // Migrations wait for the database in the background: an unreachable database must not hold up
    // the cameras. Rows queue (bounded) in the writer meanwhile.
    void this.migrateUntilReady(sql, url, log);
  }

  private async migrateUntilReady(sql: Sql, url: string, log: Logger): Promise<void> {
    let delay = 1000;
    let warned = false;
    while (!this.stopping) {
      try {
        await migrate(sql, log);
        // The timetable first: the views join it, so no passage is ever shown without its shift.
        if (this.fusion)
          await this.fusion
            .writeTimetable(sql)
            .catch((err: unknown) => log.warn('Timetable not written', { error: errorMessage(err) }));
        this.dbState = 'up';
        this.writer?.start();
        this.alarmWriter?.start();
        this.actionWriter?.start();
        this.healthWriter?.start();
        for (const w of Object.values(this.fusionWriters)) w?.start();
        await this.applyStoragePolicies(sql).catch((err: unknown) =>
          log.warn('Storage policies not applied', { error: errorMessage(err) }),
        );
        log.info('Database ready', { url: redact(url) });
        await this.resolveOrphanedAlarms(sql).catch((err: unknown) =>
          log.warn('Alarms of an earlier run not resolved', { error: errorMessage(err) }),
        );
        return;
      } catch (err) {
        this.dbState = 'unreachable';
        if (!warned)
          log.error('Database unreachable; retrying in the background', {
            url: redact(url),
            error: errorMessage(err),
          });
        warned = true;
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  /**
   * Alarms an earlier run left open, confirmed or acknowledged: nothing will ever resolve them (the state
   * machine starts empty), so operators' consoles would show them as live forever. Each gets a 'resolved'
   * change with `cues.resolvedBy = 'engine-restart'`, published and stored like any other.
   */
  private async resolveOrphanedAlarms(sql: Sql): Promise<void> {
    let resolved = 0;
    for (const a of await alarmsLeftOpen(sql, new Date(this.startedAt))) {
      if (this.alarmStates.find(a.id)) continue;
      const now = Date.now();
      this.onAlarm({
        ...a,
        state: 'resolved',
        cues: { ...a.cues, resolvedBy: 'engine-restart' },
        updatedAt: now,
        resolvedAt: now,
      });
      resolved++;
    }
    if (resolved > 0) this.log.info('Resolved alarms left open by an earlier run', { alarms: resolved });
  }

  /** engine.database compression/retention settings → kuzet_storage_policies (migration 003) → TimescaleDB jobs. */
  private async applyStoragePolicies(sql: Sql): Promise<void> {
    const d = this.cfg.engine.database;
    const days = (n: number) => `${n} days`;
    await sql`update kuzet_storage_policies set after = ${days(d.compressDetectionsAfterDays)}::interval where name = 'detections_compress'`;
    await sql`update kuzet_storage_policies set after = ${days(d.retainDetectionsDays)}::interval where name = 'detections_retain'`;
    await sql`update kuzet_storage_policies set after = ${days(d.retainScannerEventsDays)}::interval where name = 'scanner_events_retain'`;
    const [{ n }] = await sql<{ n: number }[]>`select kuzet_apply_storage_policies() as n`;
    this.log.info('Storage policies applied', { policies: n });
  }

  private async openBus(): Promise<void> {
    const n = this.cfg.engine.nats;
    const log = this.log.child('nats');
    try {
      this.bus = await Bus.open({
        url: n.url,
        embedded: n.embedded,
        storeDir: configPath(n.storeDir),
        log,
        metrics: this.metrics,
      });
      if (this.cfg.engine.boost.enabled) {
        this.boost = new BoostController({
          nc: this.bus.nc,
          lookup: (school, camera) => this.boostTargets(school, camera),
          log: this.log,
          registry: this.metrics.registry,
        });
        this.boost.start();
      }
      // Scanner events are acknowledged once written: consume only when the writers exist (see start()).
      if (this.databaseOpened) await this.openScanner(this.bus);
    } catch (err) {
      log.error('NATS unavailable; detections are counted as dropped until it is reachable', {
        url: n.url,
        error: errorMessage(err),
      });
      this.busRetry = setTimeout(() => {
        this.busRetry = null;
        if (!this.stopping) void this.openBus();
      }, 10_000);
      this.busRetry.unref();
    }
  }

  /** JetStream: the alarm stream (kept for downstream resume) and the durable consumer of scanner events. */
  private async openScanner(bus: Bus): Promise<void> {
    const fusion = this.fusion;
    const log = this.log.child('scanner');
    try {
      await ensureAlarmStream(bus.nc);
      await this.openAlarmSocket(bus);
      if (!fusion) return;
      const f = this.cfg.engine.fusion;
      this.scanner = await ScannerConsumer.open(bus.nc, {
        stream: f.stream,
        durable: f.durable,
        // Short pulls: a stop waits for the pull in progress, and the engine must stop within seconds.
        pullExpiresMs: 1000,
        handle: (e) => fusion.handle(e),
        log,
        onCounted: (outcome, kind) => {
          this.metrics.scanEvents.inc({ kind: kind ?? 'unknown', outcome });
          if (outcome !== 'valid') this.metrics.dropped.inc({ stage: 'scan', reason: outcome });
        },
      });
      log.info('Consuming scanner events', { stream: f.stream, durable: f.durable });
    } catch (err) {
      // No JetStream on an external NATS: the engine runs without fusion rather than not at all.
      log.error('JetStream unavailable: scanner events are not consumed', { error: errorMessage(err) });
    }
  }

  /** The police alarm websocket, fed from the JetStream alarm stream (resume by sequence). */
  private async openAlarmSocket(bus: Bus): Promise<void> {
    const h = this.cfg.engine.http;
    if (!h.enabled || this.alarmSocket) return;
    if (h.liveView.maxStreams > 0)
      this.liveViews = new LiveViews({
        maxStreams: h.liveView.maxStreams,
        idleStopMs: h.liveView.idleStopMs,
        outputOptions: { '-b:v': `${h.liveView.bitrateKbps}k`, '-r': String(h.liveView.fps), '-an': '' },
        log: this.log.child('live-view'),
        onEvent: () => this.metrics.liveViews.set(this.liveViews?.streams() ?? 0),
      });
    const districts: Record<string, string> = {};
    for (const s of this.cfg.schools) if (s.district) districts[s.id] = s.district;
    try {
      this.alarmSocket = await AlarmSocketServer.start({
        host: h.host,
        port: h.port,
        nc: bus.nc,
        tokens: h.tokens,
        schoolsDistrict: districts,
        maxBufferedBytes: h.maxBufferedBytes,
        log: this.log.child('alarm-socket'),
        acknowledge: (req) => this.acknowledge(req),
        camera: (school, camera) => this.cameraInfo.get(cameraKey(school, camera)) ?? null,
        ...(this.evidence ? { evidence: this.evidence } : {}),
        ...(this.liveViews ? { liveViews: this.liveViews } : {}),
        ...(h.console
          ? { consoleDir: repoPath('connectors/http/console'), consoleVendor: consoleVendor() }
          : {}),
        audit: (action) => this.audit(action),
        onClientClosed: (reason) => this.metrics.alarmClientDisconnects.inc({ reason }),
        onAlarmFannedOut: (delayMs) => this.metrics.alarmFanoutDelay.observe(Math.max(0, delayMs) / 1000),
      });
      const socket = this.alarmSocket;
      this.metrics.alarmClientsProbe = () => socket.connections();
      this.log.info('Alarm websocket listening', {
        url: `ws://${h.host}:${this.alarmSocket.port}/alarms`,
        console: h.console ? `http://${h.host}:${this.alarmSocket.port}/console/` : undefined,
        tokens: h.tokens.length,
      });
      if (h.tokens.length === 0)
        this.log.warn('No operator tokens configured: every console and websocket client is refused', {
          hint: 'npx kuzet token <name> --role police',
        });
    } catch (err) {
      this.log.error('Alarm websocket not started', { port: h.port, error: errorMessage(err) });
    }
  }

  /** An operator takes an alarm (from the console or any websocket client): state change + audit row. */
  private acknowledge(req: AcknowledgeRequest): AcknowledgeResult {
    const current = this.alarmStates.find(req.alarmId);
    if (!current || !req.inScope(current.schoolId))
      return {
        ok: false,
        reason: 'no active alarm with this id in your scope (resolved alarms cannot be acknowledged)',
      };
    if (current.state === 'acknowledged')
      return { ok: false, reason: `already acknowledged by ${current.acknowledgedBy ?? 'someone'}` };
    const now = Date.now();
    const change = this.alarmStates.acknowledge(req.alarmId, req.token.name, now);
    if (!change) return { ok: false, reason: 'the alarm cannot be acknowledged now' };
    this.onAlarm(change);
    this.audit({
      time: now,
      alarmId: change.id,
      schoolId: change.schoolId,
      cameraId: change.cameraId,
      action: 'acknowledge',
      actor: req.token.name,
      role: req.token.role,
      comment: req.comment.trim() === '' ? null : req.comment.trim(),
    });
    return { ok: true };
  }

  /** The operators' audit trail: alarm_actions, the metrics and the log. */
  private audit(a: OperatorAction): void {
    this.metrics.operatorActions.inc({ action: a.action, role: a.role });
    if (this.actionWriter) this.actionWriter.enqueue(a);
    else this.metrics.dropped.inc({ stage: 'store', reason: 'db_unavailable' });
    this.log.info('Operator action', {
      action: a.action,
      actor: a.actor,
      school: a.schoolId,
      camera: a.cameraId,
      alarm: a.alarmId ?? undefined,
    });
  }

  /** Port of the alarm websocket (0 when it is not running). */
  get alarmSocketPort(): number {
    return this.alarmSocket?.port ?? 0;
  }

  private startDetectors(): void {
    const p = this.cfg.engine.pools;
    const cores = availableParallelism();
    const auto = autoPoolThreads(cores);
    const decodeThreads = p.decodeThreads === 'auto' ? auto.decodeThreads : p.decodeThreads;
    const inferThreads = p.inferThreads === 'auto' ? auto.inferThreads : p.inferThreads;
    // Every detector has its own pools. Inference is the heavy stage: its threads beyond the cores only add
    // context switching (decode workers are light and mostly idle, so they are not counted).
    const heavy = this.cfg.detectors.length * inferThreads * p.intraOpThreads;
    if (heavy > cores)
      this.log.warn('Inference threads exceed the cores: expect contention, lower engine.pools threads', {
        inferThreads: heavy,
        cores,
        detectors: this.cfg.detectors.length,
      });
    this.log.info('Pools sized', { cores, decodeThreads, inferThreads, intraOpThreads: p.intraOpThreads });
    for (const d of this.cfg.detectors) {
      const detector = this.createDetector(d, {
        ...detectorOptionsFromConfig(d, configPath),
        decodeThreads,
        inferThreads,
        intraOpThreads: p.intraOpThreads,
        maxQueue: p.maxQueue,
        maxBatch: d.maxBatch ?? p.maxBatch,
        batchWaitMs: p.batchWaitMs,
        log: this.log.child(`detector.${d.id}`),
      });
      this.detectors.set(d.id, detector);
      this.pipelines.set(
        d.id,
        new FramePipeline({
          detector,
          metrics: this.metrics,
          maxWaiting: p.maxWaiting,
          log: this.log.child(`pipeline.${d.id}`),
          onResult: (r) => this.onDetections(r),
        }),
      );
    }
  }

  /** A bad class name or input size is a config error naming the detector, not a bare RangeError. */
  private createDetector(d: DetectorConfig, opts: DetectorOptions): Detector {
    try {
      return new Detector(opts);
    } catch (err) {
      if (err instanceof KuzetError && err.code !== 'KUZET_ERR_CONFIG') throw err;
      throw new KuzetError(
        'KUZET_ERR_CONFIG',
        `detectors[${d.id}] (${d.type}, ${d.labels}): ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
  }

  private onDetections(r: PipelineResult): void {
    const { schoolId, cameraId, seq, captureTimeMs } = r.sample;
    this.metrics.framesInferred.inc({ school: schoolId });
    // Tracking first, so the published detections carry their track ids.
    const analysed = this.cameraAnalytics.get(cameraKey(schoolId, cameraId))?.process({
      seq,
      timeMs: captureTimeMs,
      width: r.width,
      height: r.height,
      detections: r.detections,
      cues: r.cues,
    });
    for (const d of r.detections) this.metrics.detections.inc({ class: d.className });
    const frame: FrameDetections = {
      schoolId,
      cameraId,
      seq,
      captureTimeMs,
      width: r.width,
      height: r.height,
      detections: r.detections,
    };
    if (this.bus) this.bus.publishDetections(frame);
    else this.metrics.dropped.inc({ stage: 'bus', reason: 'bus_unavailable' });
    if (this.writer) this.writer.enqueue(frame);
    else if (r.detections.length)
      this.metrics.dropped.inc({ stage: 'store', reason: 'db_unavailable' }, r.detections.length);
    this.metrics.stageSeconds.observe({ stage: 'end_to_end' }, (Date.now() - captureTimeMs) / 1000);
    if (analysed && this.fusion)
      this.fusion.onTracks(schoolId, cameraId, analysed.tracks, r.width, r.height, captureTimeMs);
    for (const c of analysed?.candidates ?? []) {
      const change = this.alarmStates.offer(this.fusion ? this.fusion.adjust(c) : c);
      if (change) this.onAlarm(change);
    }
  }

  /** One alarm state change: to the police feed (NATS), to TimescaleDB, to the metrics and the log. */
  private onAlarm(a: Alarm): void {
    this.metrics.alarms.inc({ kind: a.kind, severity: a.severity, state: a.state });
    // Evidence from the camera's own frame; sensor alarms (panic, air quality) have no frame of their own.
    if (this.evidence && this.cameraInfo.has(cameraKey(a.schoolId, a.cameraId))) {
      if (a.state === 'resolved') this.evidence.forgetAlarm(a.id);
      else void this.evidence.render(a);
    }
    if (!this.bus?.publishAlarm(a)) this.metrics.dropped.inc({ stage: 'bus', reason: 'bus_unavailable' });
    if (this.alarmWriter) this.alarmWriter.enqueue(a);
    else this.metrics.dropped.inc({ stage: 'store', reason: 'db_unavailable' });
    const fields = {
      id: a.id,
      kind: a.kind,
      severity: a.severity,
      school: a.schoolId,
      camera: a.cameraId,
      zone: a.zoneId ?? undefined,
      state: a.state,
    };
    if (a.state === 'confirmed' || a.state === 'escalated') this.log.warn('Alarm', fields);
    else this.log.info('Alarm', fields);
    // Tamper is a camera event too (kuzet.cam.*), for the operators who watch camera health.
    if (a.kind === 'camera-tamper' && (a.state === 'confirmed' || a.state === 'resolved')) {
      const event = {
        type: 'camera-tamper',
        state: a.state,
        reason: String(a.cues.reason ?? ''),
        at: a.updatedAt,
      };
      this.bus?.publishCameraEvent(a.schoolId, a.cameraId, event);
    }
    // An armed person: look closer at that camera and at every camera of the school.
    if (a.kind === 'armed-person' && a.state === 'confirmed') {
      this.alarmBoost(a.schoolId, '*');
    }
  }

  private startCameras(): void {
    const c = this.cfg.engine.camera;
    const h = this.cfg.engine.health;
    this.health = new CameraHealth(this.metrics.registry, {
      windowMs: h.windowMs,
      maxLossRatio: h.maxLossRatio,
      minFpsRatio: h.minFpsRatio,
      maxSampleAgeIntervals: h.maxSampleAgeIntervals,
      onTransition: (t) => {
        if (t.type === 'camera-degraded')
          this.log.warn('Camera degraded', {
            school: t.schoolId,
            camera: t.cameraId,
            reasons: t.reasons.join(','),
          });
        else this.log.info('Camera recovered', { school: t.schoolId, camera: t.cameraId });
        this.bus?.publishCameraEvent(t.schoolId, t.cameraId, t);
      },
    });
    for (const school of this.cfg.schools) {
      const enabled = school.cameras.filter((cam) => cam.enabled);
      this.metrics.camerasConfigured.set({ school: school.id }, enabled.length);
      this.metrics.camerasOnline.set({ school: school.id }, 0);
      for (const cam of enabled) {
        const pipeline = this.cfg.pipelines.find((p) => p.id === cam.pipeline)!;
        const frames = this.pipelines.get(pipeline.detector)!;
        const key = cameraKey(school.id, cam.id);
        this.cameraAnalytics.set(
          key,
          new CameraAnalytics({
            schoolId: school.id,
            cameraId: cam.id,
            zones: cam.zones,
            timeZone: school.timeZone,
            settings: pipeline.analytics,
          }),
        );
        const user = cam.credentials ? process.env[cam.credentials.userEnv] : undefined;
        const pass = cam.credentials ? process.env[cam.credentials.passEnv] : undefined;
        if (cam.credentials && (user === undefined || pass === undefined))
          this.log.warn('Camera credentials not set in the environment', {
            school: school.id,
            camera: cam.id,
            userEnv: cam.credentials.userEnv,
            passEnv: cam.credentials.passEnv,
          });
        const onSample = (s: Sample) => {
          this.metrics.framesSampled.inc({ school: school.id });
          this.health?.onSample(key, Date.now());
          // A copy for the evidence JPEG: the pipeline transfers the sample's buffer to a worker.
          this.evidence?.remember(s);
          frames.submit(key, s, source.boosted());
        };
        const common: CameraSourceBase = {
          schoolId: school.id,
          cameraId: cam.id,
          url: cam.url,
          user,
          pass,
          reconnect: { initialMs: c.reconnectInitialMs, maxMs: c.reconnectMaxMs },
          log: this.log.child('camera'),
          onStatus: (s: CameraStatus) => this.onCameraStatus(key, s),
        };
        let source: CameraSource;
        let intervalMs: number;
        if (cam.url.startsWith('rtsp://')) {
          source = new RtspCameraSource({
            ...common,
            sampling: pipeline.sampling,
            transport: cam.transport,
            silenceTimeoutMs: c.silenceTimeoutMs,
            onSample,
          });
          // Keyframes only: the GOP may space samples wider than the policy asks, hence the floor.
          intervalMs = Math.max(
            5000,
            pipeline.sampling.type === 'keyframes'
              ? 1000 / pipeline.sampling.maxFps
              : pipeline.sampling.everySeconds * 1000,
          );
        } else {
          const snap = cam.snapshot ?? { everySeconds: 1, timeoutMs: 5000, maxBytes: 8 * 1024 * 1024 };
          source = new HttpSnapshotSource({
            ...common,
            everySeconds: snap.everySeconds,
            timeoutMs: snap.timeoutMs,
            maxBytes: snap.maxBytes,
            onJpeg: (j) => onSample({ ...j, codec: 'jpeg' }),
          });
          intervalMs = snap.everySeconds * 1000;
        }
        this.health.register({
          schoolId: school.id,
          cameraId: cam.id,
          expectedFps: cam.expectedFps,
          sampleIntervalMs: intervalMs,
        });
        this.cameras.push({ key, schoolId: school.id, cameraId: cam.id, source });
        source.start();
      }
    }
    this.healthTimer = setInterval(() => {
      const now = Date.now();
      for (const cam of this.cameras) this.health?.update(cam.key, cam.source.counters, now);
      // History for Grafana: one row per camera per update (camera_health).
      if (this.healthWriter && this.health) {
        const time = new Date(now);
        for (const c of this.health.snapshot(now))
          this.healthWriter.enqueue({
            time,
            school_id: c.schoolId,
            camera_id: c.cameraId,
            state: c.state,
            fps: c.fps,
            loss_ratio: c.lossRatio,
            bitrate_kbps: c.bitrateBps === null ? null : c.bitrateBps / 1000,
          });
      }
    }, h.updateIntervalMs);
    this.healthTimer.unref();
  }

  /** Cameras a boost request names: one camera, or every camera of a school with `*`. */
  /** The sampling boost an alarm gives a camera (`*`: every camera of the school), per engine.alarms. */
  private alarmBoost(schoolId: string, cameraId: string): void {
    const { boostFps, boostSeconds } = this.cfg.engine.alarms;
    for (const source of this.boostTargets(schoolId, cameraId)) source.boost(boostFps, boostSeconds * 1000);
  }

  private boostTargets(schoolId: string, cameraId: string): CameraSource[] {
    return this.cameras
      .filter((c) => c.schoolId === schoolId && (cameraId === '*' || c.cameraId === cameraId))
      .map((c) => c.source);
  }

  private onCameraStatus(key: string, s: CameraStatus): void {
    const prev = this.lastStatus.get(key);
    // `connecting` between retries is not a state change worth a line or a message.
    if (s.type !== 'camera-connecting') this.lastStatus.set(key, s.type);
    const wasOnline = prev === 'camera-online';
    const isOnline = s.type === 'camera-online';
    if (s.type === 'camera-connecting') return;
    this.health?.onStatus(s);
    if (wasOnline !== isOnline) {
      this.metrics.camerasOnline.inc({ school: s.schoolId }, isOnline ? 1 : -1);
      if (!isOnline) this.metrics.cameraReconnects.inc({ school: s.schoolId });
    }
    if (prev === s.type) return; // retries of a dead camera: one line per transition, not per attempt
    this.online.set(key, isOnline);
    if (s.type === 'camera-online')
      this.log.info('Camera online', { school: s.schoolId, camera: s.cameraId, codec: s.codec });
    if (s.type === 'camera-offline' && s.reason !== 'stopped')
      this.log.warn('Camera offline', { school: s.schoolId, camera: s.cameraId, reason: s.reason });
    this.bus?.publishCameraStatus(s);
  }

  /** Current figures for the status line and tests. */
  async snapshot(): Promise<StatusSnapshot> {
    const sum = async (
      name: string,
      filter?: (labels: Partial<Record<string, string | number>>) => boolean,
    ) => {
      const metric = this.metrics.registry.getSingleMetric(name);
      if (!metric) return 0;
      const data = await metric.get();
      return data.values.filter((v) => !filter || filter(v.labels)).reduce((a, v) => a + v.value, 0);
    };
    let queueDecode = 0;
    let queueInfer = 0;
    for (const d of this.detectors.values()) {
      const st = d.stats();
      queueDecode += st.decodeQueue;
      queueInfer += st.inferQueue;
    }
    let waiting = 0;
    for (const s of this.pipelines.values()) waiting += s.waiting;
    this.metrics.queueDepth.set({ stage: 'decode' }, queueDecode);
    this.metrics.queueDepth.set({ stage: 'infer' }, queueInfer);
    this.metrics.queueDepth.set({ stage: 'schedule' }, waiting);
    this.metrics.queueDepth.set({ stage: 'store' }, this.writer?.pendingRows ?? 0);
    return {
      camerasOnline: [...this.online.values()].filter(Boolean).length,
      camerasTotal: this.cameras.length,
      framesSampled: await sum('kuzet_frames_sampled_total'),
      framesInferred: await sum('kuzet_frames_inferred_total'),
      detections: await sum('kuzet_detections_total'),
      persons: await sum('kuzet_detections_total', (l) => l.class === 'person'),
      queueDecode,
      queueInfer,
      waiting,
      dropped: await sum('kuzet_dropped_total'),
      dbPending: this.writer?.pendingRows ?? 0,
      dbState: this.dbState,
      busState: this.bus ? (this.bus.isConnected ? 'up' : 'reconnecting') : 'down',
    };
  }

  private startStatusLine(): void {
    const tty = process.stdout.isTTY === true;
    const everyMs = tty ? 1000 : 10_000;
    let prev: StatusSnapshot | null = null;
    let prevAt = Date.now();
    // Rates in the first line are over the time since start, not zero.
    void this.snapshot().then((s) => {
      prev ??= s;
    });
    this.statusTimer = setInterval(() => {
      void this.snapshot().then((now) => {
        const at = Date.now();
        const line = formatStatus(now, prev ?? now, (at - prevAt) / 1000);
        prev = now;
        prevAt = at;
        if (tty) process.stdout.write(`\r\x1b[2K${line}`);
        else process.stdout.write(`${line}\n`);
      });
    }, everyMs);
    this.statusTimer.unref();
  }

  /** Stops sources, drains pipelines, flushes sinks, under one deadline; then forces. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    if (this.alarmTimer) clearInterval(this.alarmTimer);
    if (process.stdout.isTTY) process.stdout.write('\n');
    if (this.busRetry) clearTimeout(this.busRetry);
    const step = async (name: string, f: () => Promise<void>) => {
      try {
        await f();
      } catch (err) {
        this.log.warn('Shutdown step failed', { step: name, error: errorMessage(err) });
      }
    };
    await step('cameras', async () => {
      this.boost?.stop();
      if (this.healthTimer) clearInterval(this.healthTimer);
      await Promise.all(this.cameras.map((c) => c.source.stop()));
    });
    await step('pipelines', async () => {
      await Promise.all([...this.pipelines.values()].map((s) => s.stop()));
    });
    await step('detectors', async () => {
      await Promise.all([...this.detectors.values()].map((d) => d.close()));
    });
    if (this.writer) {
      const pending = this.writer.pendingRows;
      await step('database writer', () => this.writer!.stop());
      this.log.info('Flushed pending rows', { rows: pending, left: this.writer.pendingRows });
    }
    if (this.alarmSocket) await step('alarm websocket', () => this.alarmSocket!.close());
    if (this.liveViews) await step('live views', () => this.liveViews!.close());
    if (this.evidence) await step('evidence', () => this.evidence!.close());
    if (this.scanner) await step('scanner consumer', () => this.scanner!.close());
    if (this.alarmWriter) await step('alarm writer', () => this.alarmWriter!.stop());
    if (this.actionWriter) await step('operator action writer', () => this.actionWriter!.stop());
    if (this.healthWriter) await step('camera health writer', () => this.healthWriter!.stop());
    for (const [name, w] of Object.entries(this.fusionWriters))
      if (w) await step(`${name} writer`, () => w.stop());
    if (this.sql) await step('database client', () => this.sql!.end({ timeout: 2 }));
    if (this.bus) await step('nats', () => this.bus!.close());
    for (const c of this.closers.reverse()) await step(c.name, c.close);
  }
}

/** The camera's RTSP URL with its credentials from the environment, for the live-view process only. */
function withCredentials(url: string, credentials: { userEnv: string; passEnv: string } | undefined): string {
  const user = credentials ? process.env[credentials.userEnv] : undefined;
  const pass = credentials ? process.env[credentials.passEnv] : undefined;
  if (user === undefined) return url;
  const auth = `${encodeURIComponent(user)}${pass === undefined ? '' : `:${encodeURIComponent(pass)}`}@`;
  return url.replace(/^rtsp:\/\//, `rtsp://${auth}`);
}

/** The console's third-party browser files, served under /console/vendor/. */
function consoleVendor(): Record<string, string> {
  // The package's exports hide its browser build, so it is found next to its main file.
  const main = createRequire(import.meta.url).resolve('@cycjimmy/jsmpeg-player');
  return { 'jsmpeg-player.umd.min.js': join(dirname(main), 'jsmpeg-player.umd.min.js') };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
