import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { repoPath } from '../../engine/paths.js';
import type { MachineInfo } from './types.js';

const benchPackages = ['onnxruntime-node', 'sharp', 'node-av', 'piscina'];

function packageVersion(name: string): string {
  try {
    const pkg = JSON.parse(readFileSync(repoPath('node_modules', name, 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

function gpu(): string {
  try {
    const out = execFileSync('nvidia-smi', ['-L'], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return out.length > 0 ? out.replace(/\n/g, '; ') : 'none';
  } catch {
    return 'none';
  }
}

/** What a reader needs to judge a number from another machine. */
export function describeMachine(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    packages: Object.fromEntries(benchPackages.map((p) => [p, packageVersion(p)])),
    gpu: gpu(),
    loadAverage1m: Math.round(os.loadavg()[0] * 100) / 100,
  };
}
