/** Public surface of the TimescaleDB connector; everything else in this folder is private to it. */
export { connectTimescale, type ConnectOptions } from './connect.js';
export {
  startEmbeddedTimescale,
  type EmbeddedTimescale,
  type EmbeddedTimescaleOptions,
} from './embedded/embedded.js';
export { migrate, type MigrateOptions, type MigrateResult } from './migrate.js';
export { DetectionWriter, type DetectionRow, type DetectionWriterOptions } from './writer.js';
export { AlarmWriter, alarmsLeftOpen, type AlarmRow, type AlarmWriterOptions } from './alarm-writer.js';
export { AlarmActionWriter, type AlarmActionRow } from './alarm-action-writer.js';
