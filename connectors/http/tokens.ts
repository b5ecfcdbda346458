import { createHash, timingSafeEqual } from 'node:crypto';

export type TokenRole = 'police' | 'school-admin' | 'city-operator';

export interface TokenEntry {
  name: string;
  /** Lower-case hex SHA-256 of the bearer token. */
  sha256: string;
  role: TokenRole;
  /** Scope; when neither schools nor districts is given the token sees the whole city. */
  schools?: string[];
  districts?: string[];
}

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * The configured bearer tokens (stored hashed) and their scopes. Every lookup compares against every entry in
 * constant time, so neither the token nor its position in the list leaks through timing.
 */
export class TokenBook {
  private readonly hashes: Array<{ entry: TokenEntry; hash: Buffer }>;

  constructor(
    tokens: TokenEntry[],
    /** schoolId → district, for district-scoped tokens. */
    private readonly districts: Record<string, string> = {},
  ) {
    this.hashes = tokens.map((entry) => ({ entry, hash: Buffer.from(entry.sha256, 'hex') }));
  }

  find(token: string): TokenEntry | null {
    const h = createHash('sha256').update(token, 'utf8').digest();
    let found: TokenEntry | null = null;
    for (const { entry, hash } of this.hashes) {
      if (hash.length === h.length && timingSafeEqual(hash, h) && found === null) found = entry;
    }
    return found;
  }

  /** From an `Authorization` header: undefined = no header, null = a header that names no valid token. */
  fromHeader(authorization: string): TokenEntry | null | undefined {
    if (!authorization) return undefined;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return m ? this.find(m[1]!) : null;
  }

  inScope(t: TokenEntry, schoolId: string): boolean {
    if (!t.schools && !t.districts) return true;
    if (t.schools?.includes(schoolId)) return true;
    const d = this.districts[schoolId];
    return d !== undefined && (t.districts?.includes(d) ?? false);
  }
}
