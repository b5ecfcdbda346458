/**
 * Postgres v3 wire-protocol pieces the multiplexer needs: framing of client bytes that arrive in arbitrary
 * TCP chunks, the few backend messages we answer ourselves (startup, errors), and a walk over PGlite's
 * responses to learn the transaction status. Kept free of sockets so it can be tested byte by byte.
 */

export const PROTOCOL_V3 = 196608;
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

/** Startup-phase packet: no type byte, length-prefixed; the first int32 of the body says what it is. */
export interface StartupPacket {
  code: number;
  params: Record<string, string>;
}

/** A typed (post-startup) frontend message, bytes included so it can be forwarded untouched. */
export interface FrontendMessage {
  type: string;
  /** The whole message: type byte, int32 length, body. */
  bytes: Buffer;
}

/** Largest frontend message we accept; Postgres itself caps at 1 GiB, our WASM backend dies far earlier. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export class ProtocolViolation extends Error {}

/**
 * Accumulates TCP chunks and yields whole messages. Copies only when a message spans chunks, so the usual
 * case (a query fits in one read) costs no extra allocation.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  get buffered(): number {
    return this.buf.length;
  }

  /** Next startup-phase packet, or null until all of it has arrived. */
  nextStartup(): StartupPacket | null {
    if (this.buf.length < 8) return null;
    const len = this.buf.readInt32BE(0);
    if (len < 8 || len > 10_000) throw new ProtocolViolation(`Invalid startup packet length ${len}`);
    if (this.buf.length < len) return null;
    const body = this.buf.subarray(4, len);
    this.buf = this.buf.subarray(len);
    const code = body.readInt32BE(0);
    const params: Record<string, string> = {};
    if (code === PROTOCOL_V3) {
      const parts = body.subarray(4).toString('utf8').split('\0');
      for (let i = 0; i + 1 < parts.length; i += 2) {
        if (parts[i] === '') break;
        params[parts[i]!] = parts[i + 1]!;
      }
    }
    return { code, params };
  }

  /** Next typed message, or null until all of it has arrived. */
  next(): FrontendMessage | null {
    if (this.buf.length < 5) return null;
    const len = this.buf.readInt32BE(1);
    if (len < 4 || len > MAX_MESSAGE_BYTES) throw new ProtocolViolation(`Invalid message length ${len}`);
    const total = 1 + len;
    if (this.buf.length < total) return null;
    const bytes = this.buf.subarray(0, total);
    this.buf = this.buf.subarray(total);
    return { type: String.fromCharCode(bytes[0]!), bytes };
  }
}

export function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

export function cstring(s: string): Buffer {
  return Buffer.from(s + '\0', 'utf8');
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

export const authenticationOk = (): Buffer => message('R', int32(0));
export const parameterStatus = (name: string, value: string): Buffer =>
  message('S', Buffer.concat([cstring(name), cstring(value)]));
export const backendKeyData = (pid: number, secret: number): Buffer =>
  message('K', Buffer.concat([int32(pid), int32(secret)]));
export const readyForQuery = (status: 'I' | 'T' | 'E'): Buffer => message('Z', Buffer.from(status, 'latin1'));
export const query = (sql: string): Buffer => message('Q', cstring(sql));
export const sync = (): Buffer => message('S', Buffer.alloc(0));

/** Close ('C') of a prepared statement ('S') or portal ('P'). Closing a name that does not exist is not an error. */
export const close = (kind: 'S' | 'P', name: string): Buffer =>
  message('C', Buffer.concat([Buffer.from(kind, 'latin1'), cstring(name)]));

export function errorResponse(severity: 'ERROR' | 'FATAL', sqlState: string, text: string): Buffer {
  return message(
    'E',
    Buffer.concat([
      Buffer.from('S'),
      cstring(severity),
      Buffer.from('V'),
      cstring(severity),
      Buffer.from('C'),
      cstring(sqlState),
      Buffer.from('M'),
      cstring(text),
      Buffer.from([0]),
    ]),
  );
}

/** What a backend response tells the multiplexer: whether it ended a cycle and in which transaction state. */
export interface ResponseSummary {
  /** True when the last message is ReadyForQuery: the backend waits for the next command. */
  endsWithReady: boolean;
  /** Status of the last ReadyForQuery seen ('I' idle, 'T' in transaction, 'E' failed transaction), or null. */
  lastStatus: 'I' | 'T' | 'E' | null;
}

export function summarizeResponse(bytes: Uint8Array): ResponseSummary {
  let offset = 0;
  let lastType = -1;
  let lastStatus: ResponseSummary['lastStatus'] = null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  while (offset + 5 <= bytes.length) {
    const type = bytes[offset]!;
    const len = view.getInt32(offset + 1);
    if (len < 4) break;
    if (type === 0x5a && len === 5 && offset + 5 < bytes.length) {
      const s = String.fromCharCode(bytes[offset + 5]!);
      if (s === 'I' || s === 'T' || s === 'E') lastStatus = s;
    }
    lastType = type;
    offset += 1 + len;
  }
  // A truncated tail means the response is not a complete cycle, whatever came before.
  const complete = offset === bytes.length;
  return { endsWithReady: complete && lastType === 0x5a, lastStatus };
}

/** Reads a NUL-terminated string at `at`; returns it and the offset just past the NUL. */
export function readCString(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at);
  if (end < 0) throw new ProtocolViolation('Unterminated string in message');
  return [buf.toString('utf8', at, end), end + 1];
}

export type NameKind = 'S' | 'P';
export type Rename = (kind: NameKind, name: string) => string;

/**
 * Rewrites the statement and portal names in extended-protocol messages. Names are per-session in Postgres,
 * but every multiplexed client shares PGlite's one session, so each client's names go through `rename`.
 * Unnamed ("") statements and portals are left alone: each client's extended sequence runs under the lock
 * up to Sync, and clients do not rely on the unnamed statement surviving a Sync.
 */
export function rewriteNames(msg: FrontendMessage, rename: Rename): Buffer {
  const b = msg.bytes;
  const body = 5;
  const map = (kind: NameKind, name: string) => (name === '' ? '' : rename(kind, name));
  switch (msg.type) {
    case 'P': {
      const [stmt, rest] = readCString(b, body);
      return message('P', Buffer.concat([cstring(map('S', stmt)), b.subarray(rest)]));
    }
    case 'B': {
      const [portal, afterPortal] = readCString(b, body);
      const [stmt, rest] = readCString(b, afterPortal);
      return message(
        'B',
        Buffer.concat([cstring(map('P', portal)), cstring(map('S', stmt)), b.subarray(rest)]),
      );
    }
    case 'D':
    case 'C': {
      const kind = String.fromCharCode(b[body]!);
      if (kind !== 'S' && kind !== 'P') throw new ProtocolViolation(`Invalid ${msg.type} target '${kind}'`);
      const [name, rest] = readCString(b, body + 1);
      return message(
        msg.type,
        Buffer.concat([Buffer.from(kind, 'latin1'), cstring(map(kind, name)), b.subarray(rest)]),
      );
    }
    case 'E': {
      const [portal, rest] = readCString(b, body);
      return message('E', Buffer.concat([cstring(map('P', portal)), b.subarray(rest)]));
    }
    default:
      return b;
  }
}

/**
 * COPY ... FROM STDIN needs the client's CopyData in the same PGlite call as the COPY itself: PGlite reads
 * its input only from the buffer it is handed and aborts (the whole WASM instance) when the COPY finds it
 * empty. 'lead': a simple-protocol query that starts with such a COPY, which the multiplexer can emulate;
 * 'other': the phrase appears elsewhere (extended protocol, mid-script), which it refuses instead.
 */
export function copyFromStdin(sql: string): 'lead' | 'other' | null {
  if (!/\bfrom\s+stdin\b/i.test(sql)) return null;
  return /^\s*copy\s[^;]*\bfrom\s+stdin\b[^;]*;?\s*$/i.test(sql) ? 'lead' : 'other';
}

/** SQL text of a simple Query or a Parse; null for other messages. */
export function sqlText(msg: FrontendMessage): string | null {
  if (msg.type === 'Q') return readCString(msg.bytes, 5)[0];
  if (msg.type === 'P') {
    const [, at] = readCString(msg.bytes, 5);
    return readCString(msg.bytes, at)[0];
  }
  return null;
}

/** Replaces the SQL of a Query or Parse with one that fails with `text`, keeping protocol flow intact. */
export function withFailingSql(msg: FrontendMessage, text: string): Buffer {
  const raise = `DO $kuzet$ BEGIN RAISE EXCEPTION '%', ${`'${text.replace(/'/g, "''")}'`} USING ERRCODE = 'feature_not_supported'; END $kuzet$`;
  if (msg.type === 'Q') return query(raise);
  const [name, at] = readCString(msg.bytes, 5);
  const [, rest] = readCString(msg.bytes, at);
  return message('P', Buffer.concat([cstring(name), cstring(raise), msg.bytes.subarray(rest)]));
}

/** CopyInResponse: text format, no per-column formats (psql and postgres.js need no more). */
export const copyInResponse = (): Buffer => message('G', Buffer.from([0, 0, 0]));

/** The response without messages of one type (the CopyInResponse PGlite sends for an emulated COPY). */
export function withoutMessages(bytes: Buffer, type: string): Buffer {
  const code = type.charCodeAt(0);
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 5 <= bytes.length) {
    const end = offset + 1 + bytes.readInt32BE(offset + 1);
    if (bytes[offset] !== code) parts.push(bytes.subarray(offset, end));
    offset = end;
  }
  if (offset < bytes.length) parts.push(bytes.subarray(offset));
  return Buffer.concat(parts);
}
