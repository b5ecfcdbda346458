/** The one-line live summary on the operator's terminal. */
export interface StatusSnapshot {
  camerasOnline: number;
  camerasTotal: number;
  framesSampled: number;
  framesInferred: number;
  detections: number;
  persons: number;
  queueDecode: number;
  queueInfer: number;
  waiting: number;
  dropped: number;
  dbPending: number;
  dbState: string;
  busState: string;
}

export function formatStatus(now: StatusSnapshot, prev: StatusSnapshot, seconds: number): string {
  const rate = (a: number, b: number) => ((a - b) / Math.max(seconds, 1e-3)).toFixed(1);
  return (
    `cameras ${now.camerasOnline}/${now.camerasTotal} online | ` +
    `frames ${rate(now.framesInferred, prev.framesInferred)}/s (sampled ${rate(now.framesSampled, prev.framesSampled)}/s) | ` +
    `detections ${rate(now.detections, prev.detections)}/s (person ${now.persons}) | ` +
    `queues waiting ${now.waiting} decode ${now.queueDecode} infer ${now.queueInfer} | ` +
    `dropped ${now.dropped} | db ${now.dbState} (${now.dbPending} pending) | nats ${now.busState}`
  );
}
