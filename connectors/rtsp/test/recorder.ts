/** Test support shared by the tests that drive a real RtspCameraSource against the fleet simulator. */
import type { Logger } from '../../../engine/log.js';
import type { CameraStatus, Sample } from '../../../engine/types.js';
import { RtspCameraSource, type RtspCameraSourceConfig } from '../source.js';

/** NAL unit types of an Annex B buffer, in order. */
export function nalTypes(data: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      out.push(data[i + 3] & 0x1f);
      i += 3;
    }
  }
  return out;
}

export async function waitFor(what: string, pred: () => boolean, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A source at 1 fps that keeps every sample and status it emits; `extra` overrides any setting. */
export function recordSource(url: string, log: Logger, extra: Partial<RtspCameraSourceConfig> = {}) {
  const samples: Sample[] = [];
  const statuses: CameraStatus[] = [];
  const source = new RtspCameraSource({
    schoolId: 'school-1',
    cameraId: url.split('/').pop() ?? 'cam',
    url,
    maxFps: 1,
    onSample: (s) => samples.push(s),
    onStatus: (s) => statuses.push(s),
    log,
    reconnect: { initialMs: 200, maxMs: 1000 },
    ...extra,
  });
  return { source, samples, statuses };
}
