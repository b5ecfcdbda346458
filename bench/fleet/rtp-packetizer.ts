/** RTP payloads for one NAL unit: RFC 6184 (H.264, mode 1 subset: single NAL unit and FU-A) and RFC 7798 (H.265: single NAL unit and FU). */

/** Largest RTP payload; with RTP, IP and TCP/UDP headers this stays under a 1500-byte MTU. */
export const MAX_PAYLOAD = 1400;

/** The RTP payloads that carry one H.264 NAL unit (without start code). */
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

/** RFC 7798 fragmentation unit payload type. */
export const H265_FU = 49;

/**
 * The RTP payloads that carry one H.265 NAL unit (without start code): the unit itself when it
 * fits, else FUs (§4.4.3): 2-byte payload header with type 49 (F and LayerId/TID copied), 1-byte
 * FU header S|E|type, then the NAL unit's bytes after its own 2-byte header.
 */
export function packetizeNalH265(nal: Buffer, maxPayload = MAX_PAYLOAD): Buffer[] {
  if (nal.length <= maxPayload) return [nal];
  const out: Buffer[] = [];
  const h0 = (nal[0] & 0x81) | (H265_FU << 1);
  const h1 = nal[1];
  const type = (nal[0] >> 1) & 0x3f;
  const chunk = maxPayload - 3;
  for (let off = 2; off < nal.length; off += chunk) {
    const end = Math.min(nal.length, off + chunk);
    const p = Buffer.allocUnsafe(3 + end - off);
    p[0] = h0;
    p[1] = h1;
    p[2] = (off === 2 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
    nal.copy(p, 3, off, end);
    out.push(p);
  }
  return out;
}
