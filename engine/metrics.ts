import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The engine's Prometheus contract. Label cardinality stays bounded: school and camera ids at most,
 * never track or frame ids. Every drop is counted with its reason.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly framesSampled = new Counter({
    name: 'kuzet_frames_sampled_total',
    help: 'Access units chosen by the sampler and sent to decode',
    labelNames: ['school'] as const,
    registers: [this.registry],
  });
  readonly framesInferred = new Counter({
    name: 'kuzet_frames_inferred_total',
    help: 'Sampled frames that went through the detector',
    labelNames: ['school'] as const,
    registers: [this.registry],
  });
  readonly detections = new Counter({
    name: 'kuzet_detections_total',
    help: 'Detections above threshold after NMS, by class',
    labelNames: ['class'] as const,
    registers: [this.registry],
  });
  readonly dropped = new Counter({
    name: 'kuzet_dropped_total',
    help: 'Samples, messages or rows dropped, by stage and reason',
    labelNames: ['stage', 'reason'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'kuzet_errors_total',
    help: 'Errors by component and type',
    labelNames: ['component', 'type'] as const,
    registers: [this.registry],
  });
  readonly stageSeconds = new Histogram({
    name: 'kuzet_stage_seconds',
    help: 'Seconds per stage: decode_queue, decode, infer_queue, infer, pipeline (arrival to detections), end_to_end (capture to published)',
    labelNames: ['stage'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly alarms = new Counter({
    name: 'kuzet_alarms_total',
    help: 'Alarm state changes, by kind, severity and state (open, confirmed, escalated, acknowledged, resolved)',
    labelNames: ['kind', 'severity', 'state'] as const,
    registers: [this.registry],
  });
  readonly scanEvents = new Counter({
    name: 'kuzet_scan_events_total',
    help: 'Scanner and sensor events from NATS, by kind and outcome (valid, invalid: sent to the DLQ, failed)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly findings = new Counter({
    name: 'kuzet_findings_total',
    help: 'Fusion findings (canteen-discrepancy, staff-absent-from-records, presence-mismatch)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly operatorActions = new Counter({
    name: 'kuzet_operator_actions_total',
    help: 'Operator actions on the console and alarm websocket (acknowledge, view-evidence, live-start, live-stop)',
    labelNames: ['action', 'role'] as const,
    registers: [this.registry],
  });
  /** Set by the engine once the alarm websocket runs; read at scrape time. */
  alarmClientsProbe: () => number = () => 0;
  readonly alarmClients: Gauge = new Gauge({
    name: 'kuzet_alarm_clients',
    help: 'Connections to the alarm websocket (authenticated or authenticating)',
    registers: [this.registry],
    collect: (): void => this.alarmClients.set(this.alarmClientsProbe()),
  });
  readonly alarmClientDisconnects = new Counter({
    name: 'kuzet_alarm_client_disconnects_total',
    help: 'Alarm websocket connections ended, by reason: unauthorized, auth_timeout, forbidden, slow_consumer, feed_failed, shutdown, peer',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly alarmFanoutDelay = new Histogram({
    name: 'kuzet_alarm_fanout_delay_seconds',
    help: 'Alarm state change (for camera alarms: the frame time) to its write to the connected websocket clients',
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });
  /** Set by the engine when it keeps samples for evidence; read at scrape time. */
  evidenceHeldBytesProbe: () => number = () => 0;
  readonly evidenceHeldBytes: Gauge = new Gauge({
    name: 'kuzet_evidence_held_bytes',
    help: 'Bytes of recent samples kept per camera for evidence JPEGs (engine.http.evidence.keepPerCamera)',
    registers: [this.registry],
    collect: (): void => this.evidenceHeldBytes.set(this.evidenceHeldBytesProbe()),
  });
  readonly liveViews = new Gauge({
    name: 'kuzet_live_views',
    help: 'Live-view camera streams (ffmpeg transcodes) running',
    registers: [this.registry],
  });
  readonly inferBatchSize = new Histogram({
    name: 'kuzet_infer_batch_size',
    help: 'Frames per inference call (dynamic batching)',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'kuzet_queue_depth',
    help: 'Items waiting per stage queue',
    labelNames: ['stage'] as const,
    registers: [this.registry],
  });
  readonly camerasOnline = new Gauge({
    name: 'kuzet_cameras_online',
    help: 'Cameras currently streaming, per school',
    labelNames: ['school'] as const,
    registers: [this.registry],
  });
  readonly camerasConfigured = new Gauge({
    name: 'kuzet_cameras_configured',
    help: 'Cameras in the configuration, per school',
    labelNames: ['school'] as const,
    registers: [this.registry],
  });
  readonly cameraReconnects = new Counter({
    name: 'kuzet_camera_reconnects_total',
    help: 'Camera reconnect attempts, per school',
    labelNames: ['school'] as const,
    registers: [this.registry],
  });
  readonly rowsWritten = new Counter({
    name: 'kuzet_db_rows_written_total',
    help: 'Rows written to TimescaleDB, by table',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly busPublished = new Counter({
    name: 'kuzet_bus_messages_published_total',
    help: 'Messages published on NATS, by subject family',
    labelNames: ['family'] as const,
    registers: [this.registry],
  });

  constructor(withProcessMetrics = true) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'kuzet_process_' });
  }
}
