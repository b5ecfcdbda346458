/**
 * Structured logging: one JSON object per line on stderr, fields first, message capitalised.
 * Nothing per frame above debug. Level from KUZET_LOG_LEVEL (debug, info, warn, error).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | null | undefined>;

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function envLevel(): LogLevel {
  const v = process.env.KUZET_LOG_LEVEL;
  return v === 'debug' || v === 'info' || v === 'warn' || v === 'error' ? v : 'info';
}

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(component: string): Logger;
}

type Sink = (line: string) => void;
let sink: Sink = (line) => process.stderr.write(line + '\n');

/** Redirects log lines (the live status line uses this to keep the terminal tidy; tests capture logs). */
export function setLogSink(next: Sink): Sink {
  const prev = sink;
  sink = next;
  return prev;
}

export function createLogger(component: string, minLevel: LogLevel = envLevel()): Logger {
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (order[level] < order[minLevel]) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level, component, ...fields, msg }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (sub) => createLogger(`${component}.${sub}`, minLevel),
  };
}
