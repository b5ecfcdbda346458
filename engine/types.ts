/** Types that cross unit boundaries on the frame path. Keep them small: they travel between threads. */

/** `jpeg`: a still from an HTTP snapshot camera; it skips the video decoder. */
export type VideoCodec = 'h264' | 'h265' | 'jpeg';

/** One sampled access unit, as it leaves a camera connector. */
export interface Sample {
  schoolId: string;
  cameraId: string;
  codec: VideoCodec;
  /** Wall-clock time (ms since epoch) when the access unit was complete at the connector. */
  captureTimeMs: number;
  /** Per-camera sample counter, for ordering and evidence ids. */
  seq: number;
  /** Annex B byte stream of one keyframe access unit, parameter sets (SPS/PPS[/VPS]) included; or a JPEG. */
  data: Uint8Array;
}

/** One detection in source-frame pixels, top-left / bottom-right corners. */
export interface Detection {
  classId: number;
  className: string;
  score: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  /** Filled by a tracker; null until one runs. */
  trackId: number | null;
}

/** Detections of one sampled frame, as published and stored. */
export interface FrameDetections {
  schoolId: string;
  cameraId: string;
  seq: number;
  captureTimeMs: number;
  width: number;
  height: number;
  detections: Detection[];
}

/** Camera state changes, published on kuzet.cam.<schoolId>.<cameraId>. */
export type CameraStatus =
  | { type: 'camera-connecting'; schoolId: string; cameraId: string; at: number }
  | {
      type: 'camera-online';
      schoolId: string;
      cameraId: string;
      at: number;
      codec: VideoCodec;
      width?: number;
      height?: number;
    }
  | { type: 'camera-offline'; schoolId: string; cameraId: string; at: number; since: number; reason: string };

/** What an operator did on the console or the alarm websocket, kept as an audit trail (alarm_actions). */
export interface OperatorAction {
  /** Wall-clock ms. */
  time: number;
  /** Null for a live view opened without an alarm. */
  alarmId: string | null;
  schoolId: string;
  cameraId: string;
  action: 'acknowledge' | 'view-evidence' | 'live-start' | 'live-stop';
  /** The token's name. */
  actor: string;
  role: string;
  comment: string | null;
}
