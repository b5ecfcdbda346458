import { z } from 'zod';

/**
 * The configuration contract: city → schools → cameras → zones, plus detectors and pipelines.
 * Detectors are a discriminated union on `type`, so adding a model family is adding a variant.
 */

const id = z
  .string()
  .regex(
    /^[A-Za-z0-9_-]{1,64}$/,
    'must be 1-64 characters of letters, digits, "-" or "_" (it is used in NATS subjects)',
  );

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day as HH:MM');
const weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

export const scheduleSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('always') }).strict(),
  z
    .object({
      type: z.literal('after-hours'),
      /** The zone is restricted outside [open, close) on school days, and all day on other days. */
      open: hhmm,
      close: hhmm,
      schoolDays: z.array(weekday).default(['mon', 'tue', 'wed', 'thu', 'fri', 'sat']),
    })
    .strict(),
  z
    .object({
      type: z.literal('weekly'),
      windows: z.array(z.object({ days: z.array(weekday).min(1), from: hhmm, to: hhmm }).strict()).min(1),
    })
    .strict(),
]);

const point = z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]);

export const zoneSchema = z
  .object({
    id,
    kind: z.enum(['restricted', 'crowding', 'entrance', 'canteen']),
    /** Normalised image coordinates (0..1), at least three points. */
    polygon: z.array(point).min(3, 'needs at least 3 points'),
    schedule: scheduleSchema.default({ type: 'always' }),
    maxPeople: z.number().int().positive().optional(),
  })
  .strict();

export const credentialsSchema = z
  .object({
    /** Credentials are never written in the file: they are read from these environment variables. */
    userEnv: z.string().min(1),
    passEnv: z.string().min(1),
  })
  .strict();

export const cameraSchema = z
  .object({
    id,
    /** rtsp:// for video cameras; http(s):// for JPEG snapshot URLs (ONVIF-style), polled per `snapshot`. */
    url: z
      .string()
      .regex(/^(rtsp|https?):\/\/[^\s]+$/, 'must be an rtsp:// or http(s):// URL')
      .refine(
        (u) => !/^[a-z]+:\/\/[^/@]*:[^/@]*@/.test(u),
        'must not embed a password: use credentials.userEnv/passEnv',
      ),
    credentials: credentialsSchema.optional(),
    /** RTP transport for rtsp:// cameras: auto tries UDP and falls back to TCP interleaved. */
    transport: z.enum(['tcp', 'udp', 'auto']).default('tcp'),
    snapshot: z
      .object({
        everySeconds: z.number().gt(0).max(3600).default(1),
        timeoutMs: z.number().int().positive().default(5000),
        maxBytes: z
          .number()
          .int()
          .positive()
          .default(8 * 1024 * 1024),
      })
      .strict()
      .optional(),
    /** Nominal stream frame rate; enables the low-fps health check. */
    expectedFps: z.number().gt(0).max(120).optional(),
    room: z.string().optional(),
    floor: z.number().int().optional(),
    pipeline: id.default('default'),
    enabled: z.boolean().default(true),
    zones: z.array(zoneSchema).default([]),
  })
  .strict();

export const schoolSchema = z
  .object({
    id,
    name: z.string().min(1),
    district: z.string().optional(),
    /** IANA time zone of the school: zone schedules and timetables are in local time. */
    timeZone: z.string().min(1).default('Asia/Almaty'),
    /** Teaching shifts: lateness is measured against `start` for the classes listed (unlisted classes: the first shift). */
    shifts: z
      .array(
        z
          .object({
            id,
            start: hhmm,
            end: hhmm,
            /** Arriving this many minutes after `start` counts as late. */
            graceMinutes: z.number().int().min(0).max(120).default(5),
            classes: z.array(z.string().min(1)).default([]),
          })
          .strict(),
      )
      .default([]),
    /** Canteen meal windows: palm confirmations are reconciled with what the canteen cameras count. */
    mealWindows: z
      .array(
        z
          .object({
            id,
            from: hhmm,
            to: hhmm,
            /** Cameras whose `entrance`/`canteen` zones count people entering the canteen in this window. */
            cameras: z.array(id).default([]),
          })
          .strict(),
      )
      .default([]),
    cameras: z.array(cameraSchema).default([]),
  })
  .strict();

/**
 * Fields every ONNX detector family shares; the `type` picks the output adapter (detectors/head.ts), so a
 * customer's own model drops in by config. Class names are checked against the labels file when the engine
 * starts the detector (the file is read there, not here).
 */
const onnxDetectorFields = (defaultInputSize: number) => ({
  id,
  /** Path of the ONNX file, relative to the repository root or absolute. */
  model: z.string().min(1),
  /** Class names, one per line; line i names class id i of the model output. */
  labels: z.string().min(1),
  inputSize: z.number().int().positive().default(defaultInputSize),
  scoreThreshold: z.number().gt(0).lt(1).default(0.35),
  nmsIou: z.number().gt(0).lt(1).default(0.45),
  /** Per class name, overrides scoreThreshold (e.g. a lower bar for `knife`). */
  classThresholds: z.record(z.string().min(1), z.number().gt(0).lt(1)).optional(),
  /** Report only these class names (default: every class of the labels file). */
  classes: z.array(z.string().min(1)).min(1).optional(),
  /** Tried in order; `cuda` falls back to `cpu` with a logged warning when unavailable. */
  executionProviders: z
    .array(z.enum(['cuda', 'cpu']))
    .min(1)
    .default(['cpu']),
  /**
   * Frames per inference call; overrides engine.pools.maxBatch for this detector. Needs a model with a
   * dynamic batch dimension (detectors/yolox/yolox_nano_dynamic.onnx); a fixed-batch model runs 1.
   */
  maxBatch: z.number().int().min(1).max(256).optional(),
});

/** YOLOX heads (the shipped YOLOX-Nano): BGR 0..255 input, fixed at 416. */
const yoloxDetector = z.object({ type: z.literal('yolox'), ...onnxDetectorFields(416) }).strict();
/** Ultralytics YOLOv5 exports: output [N, anchors, 5 + classes]. */
const yolov5Detector = z.object({ type: z.literal('yolov5'), ...onnxDetectorFields(640) }).strict();
/** Ultralytics YOLOv8-style exports (v8, v11): output [N, 4 + classes, anchors]. */
const yolov8Detector = z.object({ type: z.literal('yolov8'), ...onnxDetectorFields(640) }).strict();

export const detectorSchema = z.discriminatedUnion('type', [yoloxDetector, yolov5Detector, yolov8Detector]);

export const samplingSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('keyframes'),
      /** At most this many keyframes per second per camera; the rest are dropped at packet level. */
      maxFps: z.number().gt(0).max(60).default(1),
    })
    .strict(),
  z
    .object({
      type: z.literal('interval'),
      /** The first keyframe at or after every N-second mark. */
      everySeconds: z.number().gt(0).max(3600),
    })
    .strict(),
]);

const ms = z.number().int().min(0).max(86_400_000);
const share = z.number().min(0).max(1);

/** Per-pipeline analytics settings; every unit documents its defaults (README, Analytics). */
export const analyticsSchema = z
  .object({
    tracker: z
      .object({
        highScore: share.optional(),
        lowScore: share.optional(),
        newTrackScore: share.optional(),
        maxCoastMs: ms.optional(),
        minHits: z.number().int().min(1).max(100).optional(),
      })
      .strict()
      .optional(),
    intrusion: z.object({ enabled: z.boolean().optional(), dwellMs: ms.optional() }).strict().optional(),
    crowding: z
      .object({
        enabled: z.boolean().optional(),
        maxPeople: z.number().int().min(1).optional(),
        holdMs: ms.optional(),
      })
      .strict()
      .optional(),
    loitering: z.object({ enabled: z.boolean().optional(), loiterMs: ms.optional() }).strict().optional(),
    armedPerson: z
      .object({
        enabled: z.boolean().optional(),
        weaponClasses: z.array(z.string().min(1)).min(1).optional(),
        minScore: share.optional(),
        minScoreByClass: z.record(z.string(), share).optional(),
        confirmHits: z.number().int().min(1).optional(),
        confirmWindow: z.number().int().min(1).optional(),
        instantScore: share.optional(),
      })
      .strict()
      .optional(),
    fight: z
      .object({
        enabled: z.boolean().optional(),
        threshold: share.optional(),
        minSamples: z.number().int().min(1).optional(),
        windowMs: ms.optional(),
      })
      .strict()
      .optional(),
    tamper: z.object({ enabled: z.boolean().optional() }).strict().optional(),
  })
  .strict();

export const pipelineSchema = z
  .object({
    id,
    detector: id,
    sampling: samplingSchema.default({ type: 'keyframes', maxFps: 1 }),
    analytics: analyticsSchema.default({}),
  })
  .strict();

export const engineSchema = z
  .object({
    metrics: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(9464),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 9464 }),
    nats: z
      .object({
        url: z.string().default('nats://127.0.0.1:4222'),
        /** auto: start a local `nats-server -js` child when nothing answers at `url`. */
        embedded: z.enum(['auto', 'always', 'never']).default('auto'),
        /** JetStream storage of the local nats-server (relative to the repository root, or absolute). */
        storeDir: z.string().min(1).default('data/nats'),
      })
      .strict()
      .default({ url: 'nats://127.0.0.1:4222', embedded: 'auto', storeDir: 'data/nats' }),
    database: z
      .object({
        /** External TimescaleDB/PostgreSQL. Empty: run the embedded TimescaleDB. */
        url: z.string().default(''),
        embeddedPort: z.number().int().min(0).max(65535).default(5433),
        /** Where the embedded database keeps its files; `memory` keeps nothing. */
        embeddedDataDir: z.string().default('data/pgdata'),
        batchRows: z.number().int().min(1).max(1000).default(1000),
        flushIntervalMs: z.number().int().positive().default(500),
        maxQueueRows: z.number().int().positive().default(100_000),
        /** While the database is away, rows go to an on-disk journal here (one folder per table); '' keeps them in memory only. */
        spoolDir: z.string().default('data/spool'),
        /** Storage policies (TimescaleDB only): compress detections after N days, drop detections / scanner events after N days. */
        compressDetectionsAfterDays: z.number().int().min(1).default(7),
        retainDetectionsDays: z.number().int().min(1).default(90),
        retainScannerEventsDays: z.number().int().min(1).default(400),
      })
      .strict()
      .default({
        url: '',
        embeddedPort: 5433,
        embeddedDataDir: 'data/pgdata',
        batchRows: 1000,
        flushIntervalMs: 500,
        maxQueueRows: 100_000,
        spoolDir: 'data/spool',
        compressDetectionsAfterDays: 7,
        retainDetectionsDays: 90,
        retainScannerEventsDays: 400,
      }),
    pools: z
      .object({
        /** `auto`: one decode worker per 4 cores (a keyframe decodes ~4x faster than YOLOX-Nano infers one). */
        decodeThreads: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default('auto'),
        /** `auto`: one inference worker per core (measured best on 2 cores: 1 decode + 2 infer, bench pipeline). */
        inferThreads: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default('auto'),
        intraOpThreads: z.number().int().min(1).max(64).default(1),
        /** Bounded queue per pool (frames waiting for a worker); past it frames are dropped as queue_full. */
        maxQueue: z.number().int().min(1).max(100_000).default(64),
        /** Frames per inference call for dynamic-batch models (1 = no batching, the right choice on CPU). */
        maxBatch: z.number().int().min(1).max(256).default(1),
        /** How long a free inference worker waits for its batch to fill. */
        batchWaitMs: z.number().min(0).max(1000).default(2),
        /** Cameras with a sample waiting to decode, per detector; past it the oldest sample is dropped (overload). */
        maxWaiting: z.number().int().min(1).max(1_000_000).default(4096),
      })
      .strict()
      .default({
        decodeThreads: 'auto',
        inferThreads: 'auto',
        intraOpThreads: 1,
        maxQueue: 64,
        maxBatch: 1,
        batchWaitMs: 2,
        maxWaiting: 4096,
      }),
    camera: z
      .object({
        silenceTimeoutMs: z.number().int().positive().default(10_000),
        reconnectInitialMs: z.number().int().positive().default(1000),
        reconnectMaxMs: z.number().int().positive().default(30_000),
      })
      .strict()
      .default({ silenceTimeoutMs: 10_000, reconnectInitialMs: 1000, reconnectMaxMs: 30_000 }),
    boost: z
      .object({ enabled: z.boolean().default(true) })
      .strict()
      .default({ enabled: true }),
    health: z
      .object({
        windowMs: z.number().int().positive().default(30_000),
        updateIntervalMs: z.number().int().positive().default(5000),
        maxLossRatio: z.number().min(0).max(1).default(0.02),
        minFpsRatio: z.number().min(0).max(1).default(0.5),
        maxSampleAgeIntervals: z.number().positive().default(3),
      })
      .strict()
      .default({
        windowMs: 30_000,
        updateIntervalMs: 5000,
        maxLossRatio: 0.02,
        minFpsRatio: 0.5,
        maxSampleAgeIntervals: 3,
      }),
    alarms: z
      .object({
        /** An alarm with no new evidence for this long is resolved. */
        resolveAfterMs: z.number().int().min(1000).default(30_000),
        /** After resolution the same (camera, kind, zone, track) cannot reopen for this long. */
        cooldownMs: z.number().int().min(0).default(60_000),
        /** Zone ids whose alarms are raised one severity level (e.g. a basement with the boiler). */
        elevatedZones: z.array(id).default([]),
        /** A confirmed armed-person alarm boosts sampling on its camera and the school's other cameras. */
        boostFps: z.number().gt(0).max(25).default(5),
        boostSeconds: z.number().gt(0).max(600).default(60),
      })
      .strict()
      .default({
        resolveAfterMs: 30_000,
        cooldownMs: 60_000,
        elevatedZones: [],
        boostFps: 5,
        boostSeconds: 60,
      }),
    /** The alarm websocket for police operators (`/alarms`). */
    http: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        /**
         * Bearer tokens, stored as their SHA-256 (hex), each bound to a role and a scope (schools and/or districts;
         * none = the whole city). No tokens: every connection is refused.
         */
        tokens: z
          .array(
            z
              .object({
                name: z.string().min(1),
                sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the lower-case hex SHA-256 of the token'),
                role: z.enum(['police', 'school-admin', 'city-operator']),
                schools: z.array(id).optional(),
                districts: z.array(z.string().min(1)).optional(),
              })
              .strict(),
          )
          .default([]),
        /** A client that has more than this many bytes waiting is disconnected (4008 slow consumer). */
        maxBufferedBytes: z
          .number()
          .int()
          .min(1024)
          .default(1024 * 1024),
        /** Serve the operators' console at /console/. */
        console: z.boolean().default(true),
        /** Live view of a camera (node-rtsp-stream → MPEG-1 over a websocket), started on demand. */
        liveView: z
          .object({
            /** Camera streams (ffmpeg processes) running at once; more requests get 429. */
            maxStreams: z.number().int().min(0).default(4),
            /** A stream stops this long after its last viewer left. */
            idleStopMs: z.number().int().min(0).default(5000),
            /** Output bitrate and frame rate of the MPEG-1 transcode (MPEG-1 allows only a few rates). */
            bitrateKbps: z.number().int().min(100).default(1000),
            fps: z.union([z.literal(24), z.literal(25), z.literal(30)]).default(25),
          })
          .strict()
          .default({ maxStreams: 4, idleStopMs: 5000, bitrateKbps: 1000, fps: 25 }),
        /** Evidence JPEGs (the alarm's frame with its box), served at /evidence/… to the same tokens. */
        evidence: z
          .object({
            /** Folder, relative to the config file's repo root like every data path. */
            dir: z.string().min(1).default('data/evidence'),
            retentionDays: z.number().min(0.001).default(30),
            /** Samples kept per camera until an alarm asks for one. */
            keepPerCamera: z.number().int().min(1).max(64).default(4),
          })
          .strict()
          .default({ dir: 'data/evidence', retentionDays: 30, keepPerCamera: 4 }),
      })
      .strict()
      .default({
        enabled: true,
        host: '127.0.0.1',
        port: 8080,
        tokens: [],
        maxBufferedBytes: 1024 * 1024,
        console: true,
        liveView: { maxStreams: 4, idleStopMs: 5000, bitrateKbps: 1000, fps: 25 },
        evidence: { dir: 'data/evidence', retentionDays: 30, keepPerCamera: 4 },
      }),
    /** Scanner and sensor events on NATS (kuzet.scan.<kind>.<schoolId>) fused with what the cameras see. */
    fusion: z
      .object({
        enabled: z.boolean().default(true),
        /** JetStream stream and durable consumer names (created if missing). */
        stream: z.string().min(1).default('KUZET_SCAN'),
        durable: z.string().min(1).default('kuzet-engine'),
        /** Air readings above these raise an air-quality alarm for the room. */
        air: z
          .object({
            co2Ppm: z.number().positive().default(1500),
            pm25: z.number().positive().default(35),
            maxTemperatureC: z.number().default(30),
          })
          .strict()
          .default({ co2Ppm: 1500, pm25: 35, maxTemperatureC: 30 }),
        /** A meal window whose palm count and camera count differ by more than this share (and minGap) is a finding. */
        canteenGapRatio: z.number().min(0).max(1).default(0.15),
        canteenMinGap: z.number().int().min(0).default(5),
        /** Staff registry CSV (pseudonym,school,role,contractedHours); empty: no staff audit. */
        staffRegistry: z.string().default(''),
        /** Staff on the books never seen entering for this many working days become a finding. */
        staffAbsentDays: z.number().int().min(1).max(365).default(5),
        /** Findings about fewer people than this per school are reported as a count only, without pseudonyms. */
        minGroupSize: z.number().int().min(1).max(100).default(3),
      })
      .strict()
      .default({
        enabled: true,
        stream: 'KUZET_SCAN',
        durable: 'kuzet-engine',
        air: { co2Ppm: 1500, pm25: 35, maxTemperatureC: 30 },
        canteenGapRatio: 0.15,
        canteenMinGap: 5,
        staffRegistry: '',
        staffAbsentDays: 5,
        minGroupSize: 3,
      }),
    shutdownTimeoutMs: z.number().int().positive().default(8000),
    statusLine: z.boolean().default(true),
  })
  .strict();

export const demoFleetSchema = z
  .object({
    enabled: z.boolean().default(false),
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8554),
    cameras: z.number().int().min(1).max(10_000).default(8),
    clip: z.string().default('bench/fixtures/clips/demo-640x360.h264'),
  })
  .strict();

export const configSchema = z
  .object({
    city: z.object({ id, name: z.string().min(1) }).strict(),
    engine: engineSchema.default(engineSchema.parse({})),
    demoFleet: demoFleetSchema.default(demoFleetSchema.parse({})),
    detectors: z.array(detectorSchema).min(1),
    pipelines: z.array(pipelineSchema).min(1),
    schools: z.array(schoolSchema).min(1),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const dup = (ids: string[], path: (i: number) => (string | number)[], what: string) => {
      const seen = new Set<string>();
      ids.forEach((v, i) => {
        if (seen.has(v))
          ctx.addIssue({ code: 'custom', path: path(i), message: `duplicate ${what} id "${v}"` });
        seen.add(v);
      });
    };
    dup(
      cfg.detectors.map((d) => d.id),
      (i) => ['detectors', i, 'id'],
      'detector',
    );
    dup(
      cfg.pipelines.map((p) => p.id),
      (i) => ['pipelines', i, 'id'],
      'pipeline',
    );
    dup(
      cfg.schools.map((s) => s.id),
      (i) => ['schools', i, 'id'],
      'school',
    );
    const detectorIds = new Set(cfg.detectors.map((d) => d.id));
    const pipelineIds = new Set(cfg.pipelines.map((p) => p.id));
    cfg.pipelines.forEach((p, i) => {
      if (!detectorIds.has(p.detector))
        ctx.addIssue({
          code: 'custom',
          path: ['pipelines', i, 'detector'],
          message: `unknown detector "${p.detector}" (known: ${[...detectorIds].join(', ')})`,
        });
    });
    cfg.schools.forEach((s, si) => {
      dup(
        s.cameras.map((c) => c.id),
        (ci) => ['schools', si, 'cameras', ci, 'id'],
        'camera',
      );
      s.cameras.forEach((c, ci) => {
        if (!pipelineIds.has(c.pipeline))
          ctx.addIssue({
            code: 'custom',
            path: ['schools', si, 'cameras', ci, 'pipeline'],
            message: `unknown pipeline "${c.pipeline}" (known: ${[...pipelineIds].join(', ')})`,
          });
        dup(
          c.zones.map((z) => z.id),
          (zi) => ['schools', si, 'cameras', ci, 'zones', zi, 'id'],
          'zone',
        );
      });
    });
  });

export type KuzetConfig = z.infer<typeof configSchema>;
export type CameraConfig = z.infer<typeof cameraSchema>;
export type SchoolConfig = z.infer<typeof schoolSchema>;
export type DetectorConfig = z.infer<typeof detectorSchema>;
export type PipelineConfig = z.infer<typeof pipelineSchema>;
export type ZoneConfig = z.infer<typeof zoneSchema>;
export type EngineConfig = z.infer<typeof engineSchema>;
