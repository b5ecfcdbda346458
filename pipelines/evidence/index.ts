/** Public surface of evidence JPEGs for alarms. The sample ring and the node-av keyframe decoder stay private. */
export {
  EvidenceStore,
  isEvidenceId,
  type EvidenceAlarm,
  type EvidenceDropReason,
  type EvidenceStoreOptions,
} from './evidence-store.js';
export {
  renderEvidenceJpeg,
  DEFAULT_BOX_COLOR,
  type EvidenceBox,
  type RenderEvidenceInput,
  type RenderedEvidence,
} from './render.js';
