import { createServer } from 'node:net';
import { loggerFor, type LogFields, type Logger } from '../log.js';
import type { Detection } from '../types.js';

export interface LogLine {
  level: string;
  msg: string;
  fields?: LogFields;
}

/** Keeps log lines for assertions instead of printing them. */
export function recordingLogger(lines: LogLine[]): Logger {
  return loggerFor('', (level, _component, msg, fields) => void lines.push({ level, msg, fields }));
}

/** Drops every log line. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

/** A port that was free a moment ago (for child processes that need a fixed port in their config). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Reference box from models/README.md as centre x, centre y, w, h → corners. */
export function centreBox(cx: number, cy: number, w: number, h: number): [number, number, number, number] {
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
}

export function iou(a: readonly number[], b: readonly number[]): number {
  const ix = Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!));
  const iy = Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!));
  const inter = ix * iy;
  const area = (r: readonly number[]) => (r[2]! - r[0]!) * (r[3]! - r[1]!);
  return inter / (area(a) + area(b) - inter);
}

/** Reference person boxes of the fixture images (shared/models/README.md, source pixels). */
export const referencePersons = {
  person: [centreBox(232, 235, 87, 277)],
  bus: [centreBox(132, 646, 164, 508), centreBox(284, 629, 131, 453), centreBox(747, 661, 127, 431)],
};

/** True when every reference box has a detected box with IoU ≥ minIou. */
export function matchesAll(refs: number[][], boxes: number[][], minIou = 0.5): boolean {
  return refs.every((r) => boxes.some((b) => iou(r, b) >= minIou));
}

export function boxOf(d: Detection): number[] {
  return [d.x1, d.y1, d.x2, d.y2];
}

export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
