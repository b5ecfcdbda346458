/** Public surface of the HTTP snapshot connector; everything else in this folder is internal. */
export {
  HttpSnapshotSource,
  type HttpSnapshotSourceConfig,
  type HttpSnapshotCounters,
  type JpegSample,
  type SnapshotCameraStatus,
  type SnapshotOfflineReason,
} from './source.js';
