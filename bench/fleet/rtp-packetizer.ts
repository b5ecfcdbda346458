/** RFC 6184 packetization (mode 1 subset: single NAL unit and FU-A), payloads only. */

/** Largest RTP payload; with RTP, IP and TCP/UDP headers this stays under a 1500-byte MTU. */
export const MAX_PAYLOAD = 1400;

/** The RTP payloads that carry one NAL unit (without start code). */
export function packetizeNal(nal: Buffer, maxPayload = MAX_PAYLOAD): Buffer[] {
  if (nal.length <= maxPayload) return [nal];
  const out: Buffer[] = [];
  const indicator = (nal[0] & 0xe0) | 28;
  const type = nal[0] & 0x1f;
  const chunk = maxPayload - 2;
  for (let off = 1; off < nal.length; off += chunk) {
    const end = Math.min(nal.length, off + chunk);
    const p = Buffer.allocUnsafe(2 + end - off);
    p[0] = indicator;
    p[1] = (off === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
    nal.copy(p, 2, off, end);
    out.push(p);
  }
  return out;
}
