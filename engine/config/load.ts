import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { LineCounter, isNode, parseDocument } from 'yaml';
import type { ZodError } from 'zod';
import { KuzetError } from '../errors.js';
import { configSchema, type KuzetConfig } from './schema.js';

/** `schools[0].cameras[3].url` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(root)';
}

/**
 * Replaces `${VAR}` and `${VAR:-default}` in string values. Unset variables without a default are an
 * error naming the key, so a missing secret never becomes an empty password.
 */
function interpolate(
  value: unknown,
  path: (string | number)[],
  env: NodeJS.ProcessEnv,
  errors: string[],
): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{[^}]+\}$/.test(value);
    const out = value.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
      (_m, name: string, def?: string) => {
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (def !== undefined) return def;
        errors.push(`${formatPath(path)}: environment variable ${name} is not set`);
        return '';
      },
    );
    // A value that is only a placeholder takes the type its text has, so `port: ${PORT:-9464}` is a number.
    if (whole && /^-?\d+(\.\d+)?$/.test(out)) return Number(out);
    if (whole && (out === 'true' || out === 'false')) return out === 'true';
    return out;
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...path, i], env, errors));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, [...path, k], env, errors);
    return out;
  }
  return value;
}

/** Parses and validates a YAML config text; every problem is reported as `key: what (file:line)`. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): KuzetConfig {
  const shown = relative(process.cwd(), file) || file;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const at = e.linePos?.[0] ? `:${e.linePos[0].line}` : '';
    throw new KuzetError('KUZET_ERR_CONFIG', `${shown}${at}: YAML syntax error: ${e.message.split('\n')[0]}`);
  }
  const where = (path: readonly PropertyKey[]): string => {
    // Walk up to the nearest node that exists, so a missing key points at its parent's line.
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as (string | number)[], true);
      if (isNode(node) && node.range) return `${shown}:${lineCounter.linePos(node.range[0]).line}`;
    }
    return shown;
  };
  const envErrors: string[] = [];
  const raw = interpolate(doc.toJS(), [], env, envErrors);
  if (envErrors.length)
    throw new KuzetError('KUZET_ERR_CONFIG', envErrors.map((m) => `${m} (${shown})`).join('\n'));
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) throw new KuzetError('KUZET_ERR_CONFIG', describeIssues(result.error, where));
  return result.data;
}

function describeIssues(err: ZodError, where: (path: readonly PropertyKey[]) => string): string {
  return err.issues
    .map((issue) => {
      const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
      return `${formatPath(issue.path)}: ${issue.message}${keys} (${where(issue.path)})`;
    })
    .join('\n');
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): KuzetConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KuzetError('KUZET_ERR_CONFIG', `${file}: cannot read config file (${(err as Error).message})`);
  }
  return parseConfig(text, file, env);
}
