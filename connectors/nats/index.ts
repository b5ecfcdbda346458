export {
  Bus,
  subjects,
  encodeDetections,
  decodeMessage,
  type BusOptions,
  type DetectionMessage,
} from './bus.js';
export { startNatsServer, type LocalNatsServer } from './server.js';
