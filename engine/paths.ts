import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found by walking up from this file (works from `dist/` and from sources). */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'engine'))) return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('Kuzet repository root not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export const repoRoot = findRepoRoot();

/** Absolute path of a file shipped in the repository (model, fixtures, migrations). */
export function repoPath(...parts: string[]): string {
  return resolve(repoRoot, ...parts);
}

/** A path from the configuration: absolute as given, otherwise relative to the repository root. */
export function configPath(p: string): string {
  return isAbsolute(p) ? p : repoPath(p);
}

/** Compiled JavaScript of a TypeScript unit, for worker threads and child processes. */
export function compiledPath(...sourceParts: string[]): string {
  const rel = join(...sourceParts).replace(/\.ts$/, '.js');
  return resolve(repoRoot, 'dist', rel);
}
