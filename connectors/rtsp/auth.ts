/**
 * RTSP authentication: Basic and Digest (RFC 2617, MD5, qop=auth or none), and credentials carried
 * in the URL. RTSP reuses HTTP's scheme unchanged, so the RFC 2617 examples apply verbatim.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface AuthChallenge {
  scheme: 'basic' | 'digest';
  realm: string;
  nonce: string;
  opaque?: string;
  /** Only 'auth' is supported; undefined = legacy RFC 2069 digest. */
  qop?: 'auth';
  algorithm?: string;
}

/** Splits `a="x, y", b=z` into pairs, honouring quoted strings. */
function parseParams(s: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\s*([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    if (m[0].length === 0) break;
    const key = (m[1] ?? '').toLowerCase();
    const value = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    out.set(key, value);
  }
  return out;
}

/** Parses WWW-Authenticate header values (one challenge per header, as RTSP servers send them). */
export function parseChallenges(values: readonly string[]): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  for (const v of values) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(v);
    if (!m) continue;
    const scheme = (m[1] ?? '').toLowerCase();
    const params = parseParams(m[2] ?? '');
    if (scheme === 'basic') {
      out.push({ scheme: 'basic', realm: params.get('realm') ?? '', nonce: '' });
    } else if (scheme === 'digest') {
      const algorithm = params.get('algorithm');
      // MD5-sess and SHA-256 are rare on cameras; unsupported ones are left out so Basic can be tried.
      if (algorithm !== undefined && algorithm.toUpperCase() !== 'MD5') continue;
      const qops = (params.get('qop') ?? '').split(',').map((q) => q.trim().toLowerCase());
      const c: AuthChallenge = {
        scheme: 'digest',
        realm: params.get('realm') ?? '',
        nonce: params.get('nonce') ?? '',
      };
      const opaque = params.get('opaque');
      if (opaque !== undefined) c.opaque = opaque;
      if (qops.includes('auth')) c.qop = 'auth';
      else if (qops.some((q) => q.length > 0)) continue; // auth-int only: cannot answer
      if (algorithm !== undefined) c.algorithm = algorithm;
      out.push(c);
    }
  }
  return out;
}

/** Digest is preferred: Basic sends the password in clear on every request. */
export function pickChallenge(challenges: readonly AuthChallenge[]): AuthChallenge | undefined {
  return challenges.find((c) => c.scheme === 'digest') ?? challenges.find((c) => c.scheme === 'basic');
}

const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');

export function basicAuthorization(user: string, pass: string): string {
  return 'Basic ' + Buffer.from(`${user}:${pass}`, 'utf8').toString('base64');
}

export interface DigestInput {
  user: string;
  pass: string;
  method: string;
  uri: string;
  challenge: AuthChallenge;
  /** Nonce count, 1 for the first request with this nonce. */
  nc: number;
  cnonce: string;
}

/** The `response` value of a Digest Authorization header. */
export function digestResponse(i: DigestInput): string {
  const ha1 = md5(`${i.user}:${i.challenge.realm}:${i.pass}`);
  const ha2 = md5(`${i.method}:${i.uri}`);
  if (i.challenge.qop === 'auth') {
    const nc = i.nc.toString(16).padStart(8, '0');
    return md5(`${ha1}:${i.challenge.nonce}:${nc}:${i.cnonce}:auth:${ha2}`);
  }
  return md5(`${ha1}:${i.challenge.nonce}:${ha2}`);
}

export function digestAuthorization(i: DigestInput): string {
  const q = (s: string) => '"' + s.replace(/["\\]/g, '\\$&') + '"';
  const parts = [
    `username=${q(i.user)}`,
    `realm=${q(i.challenge.realm)}`,
    `nonce=${q(i.challenge.nonce)}`,
    `uri=${q(i.uri)}`,
    `response=${q(digestResponse(i))}`,
  ];
  if (i.challenge.algorithm !== undefined) parts.push(`algorithm=${i.challenge.algorithm}`);
  if (i.challenge.opaque !== undefined) parts.push(`opaque=${q(i.challenge.opaque)}`);
  if (i.challenge.qop === 'auth') {
    parts.push('qop=auth', `nc=${i.nc.toString(16).padStart(8, '0')}`, `cnonce=${q(i.cnonce)}`);
  }
  return 'Digest ' + parts.join(', ');
}

/** Produces Authorization headers for one session once a challenge was received. */
export class Authenticator {
  private nc = 0;
  private readonly cnonce = randomBytes(8).toString('hex');
  constructor(
    private readonly user: string,
    private readonly pass: string,
    readonly challenge: AuthChallenge,
  ) {}

  header(method: string, uri: string): string {
    if (this.challenge.scheme === 'basic') return basicAuthorization(this.user, this.pass);
    this.nc += 1;
    return digestAuthorization({
      user: this.user,
      pass: this.pass,
      method,
      uri,
      challenge: this.challenge,
      nc: this.nc,
      cnonce: this.cnonce,
    });
  }
}

/** Splits rtsp://user:pass@host/path into the URL without credentials and the (percent-decoded) credentials. */
export function credentialsFromUrl(url: string): { url: string; user?: string; pass?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url };
  }
  if (u.username === '' && u.password === '') return { url };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { url: u.toString(), user, pass };
}
