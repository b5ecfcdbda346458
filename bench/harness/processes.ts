import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * A forked node script that answers requests over IPC: each request carries an `id`, the child replies with
 * the same `id` (or `{ type: 'error', error }`). Benches put load generators and measured sides in their own
 * processes with it, so one side's CPU does not land on the other's event loop.
 */
export class IpcChild {
  readonly proc: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();

  /** `command args…` must run a node script with an IPC channel (e.g. `node script` or `taskset -c 1 node script`). */
  constructor(command: string, args: string[], label: string) {
    this.proc = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (m: Record<string, unknown>) => {
      const w = this.waiting.get(m.id as number);
      if (!w) return;
      this.waiting.delete(m.id as number);
      if (m.type === 'error') w.reject(new Error(`${label}: ${String(m.error)}`));
      else w.resolve(m);
    });
    this.proc.on('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`${label} exited (${code})`));
      this.waiting.clear();
    });
  }

  request<T>(msg: object, timeoutMs = 60_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no reply to ${JSON.stringify(msg).slice(0, 60)} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (m) => {
          clearTimeout(t);
          resolve(m as T);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.proc.send({ ...msg, id });
    });
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

/** USER_HZ, the unit of /proc times (100 on every Linux ABI Node ships for, when getconf is missing). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (utime + stime) of a process from /proc; 0 when unknown or gone. */
export function procCpuS(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}
