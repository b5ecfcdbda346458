/**
 * `kuzet replay <video-file> --config <yaml>`: the full analytics on a recorded file, as fast as the machine
 * allows: frames sampled at `fps` → the configured detector (the same pools the engine uses) → tracker →
 * analytics → alarm state machine, on the file's own media clock. For tuning zones and thresholds on real
 * footage and for forensic review; nothing is published or stored.
 */
import { videoFrames } from '../connectors/file/video-frames.js';
import { AlarmStateMachine } from '../pipelines/alarms/state-machine.js';
import { CameraAnalytics } from '../pipelines/analytics/camera-analytics.js';
import type { Alarm, Track } from '../pipelines/analytics/types.js';
import type { KuzetConfig } from './config/schema.js';
import { KuzetError } from './errors.js';
import { configPath } from './paths.js';
import { Detector, detectorOptionsFromConfig } from './pools/index.js';
import type { Detection } from './types.js';

export interface ReplayOptions {
  file: string;
  config: KuzetConfig;
  /** `school/camera` whose zones and pipeline apply; default the first camera of the config. */
  camera?: string;
  /** Frames per second taken from the file (default: the pipeline's maxFps for keyframe sampling, else 2). */
  fps?: number;
  /** Wall-clock time of the file's first frame (zone schedules are evaluated at it); default now. */
  startMs?: number;
}

export interface ReplayFrame {
  index: number;
  timeMs: number;
  detections: Detection[];
  tracks: Track[];
}

export interface ReplayResult {
  frames: number;
  /** Every alarm state change, in order. */
  changes: Alarm[];
  /** Final state of each alarm raised. */
  alarms: Alarm[];
}

export async function replay(
  opts: ReplayOptions,
  onFrame?: (f: ReplayFrame) => void,
  onAlarm?: (a: Alarm) => void,
): Promise<ReplayResult> {
  const cfg = opts.config;
  const cameras = cfg.schools.flatMap((s) => s.cameras.map((c) => ({ school: s, camera: c })));
  const picked = opts.camera
    ? cameras.find(({ school, camera }) => `${school.id}/${camera.id}` === opts.camera)
    : cameras[0];
  if (!picked)
    throw new KuzetError(
      'KUZET_ERR_CONFIG',
      opts.camera ? `replay: no camera ${opts.camera} in the config` : 'replay: the config has no camera',
    );
  const { school, camera } = picked;
  const pipeline = cfg.pipelines.find((p) => p.id === camera.pipeline);
  const d = cfg.detectors.find((x) => x.id === pipeline?.detector);
  if (!pipeline || !d)
    throw new KuzetError('KUZET_ERR_CONFIG', `replay: camera ${camera.id} has no pipeline/detector`);
  const fps = opts.fps ?? (pipeline.sampling.type === 'keyframes' ? pipeline.sampling.maxFps : 2);
  // Built at the first frame: a file ffmpeg cannot read then fails before any worker loads a model (stopping
  // a worker while onnxruntime initialises can abort the process).
  let detector: Detector | null = null;
  const analytics = new CameraAnalytics({
    schoolId: school.id,
    cameraId: camera.id,
    zones: camera.zones,
    timeZone: school.timeZone,
    settings: pipeline.analytics,
  });
  const a = cfg.engine.alarms;
  const alarms = new AlarmStateMachine({
    resolveAfterMs: a.resolveAfterMs,
    cooldownMs: a.cooldownMs,
    elevatedZones: a.elevatedZones,
  });
  const start = opts.startMs ?? Date.now();
  const changes: Alarm[] = [];
  const emit = (x: Alarm) => {
    changes.push(x);
    onAlarm?.(x);
  };
  let frames = 0;
  let lastMs = start;
  try {
    for await (const f of videoFrames(opts.file, fps)) {
      const timeMs = start + f.ptsMs;
      lastMs = timeMs;
      detector ??= new Detector(detectorOptionsFromConfig(d, configPath));
      const r = await detector.detectJpeg(f.jpeg);
      const out = analytics.process({
        seq: f.index,
        timeMs,
        width: r.width,
        height: r.height,
        detections: r.detections,
        cues: r.cues,
      });
      frames++;
      onFrame?.({ index: f.index, timeMs, detections: out.detections, tracks: out.tracks });
      for (const c of out.candidates) {
        const change = alarms.offer(c);
        if (change) emit(change);
      }
      for (const change of alarms.tick(timeMs)) emit(change);
    }
    // The recording ends: let every open alarm run out as it would with no more evidence.
    for (const change of alarms.tick(lastMs + a.resolveAfterMs + 1)) emit(change);
  } finally {
    await detector?.close();
  }
  const last = new Map<string, Alarm>();
  for (const c of changes) last.set(c.id, c);
  return { frames, changes, alarms: [...last.values()] };
}
