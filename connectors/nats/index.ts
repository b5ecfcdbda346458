export {
  Bus,
  subjects,
  encodeDetections,
  decodeMessage,
  type BusOptions,
  type DetectionMessage,
} from './bus.js';
export { startNatsServer, type LocalNatsServer } from './server.js';
export { parseScanEvent, scanSubject, scanKinds, type ScanParseResult } from './scanner-events.js';
export {
  ScannerConsumer,
  ensureAlarmStream,
  scanSubjects,
  dlqPrefix,
  dlqHeaders,
  type ScannerConsumerOptions,
  type ScanOutcome,
} from './scanner-consumer.js';
