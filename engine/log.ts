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
  return loggerFor(component, (level, comp, msg, fields) => {
    if (order[level] < order[minLevel]) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level, component: comp, ...fields, msg }));
  });
}

/** Where a logger's lines go: `component` is the logger's, children's joined with '.' (the root may be ''). */
export type LogEmit = (level: LogLevel, component: string, msg: string, fields?: LogFields) => void;

/** A Logger (and its children) that hands every line to `emit`. */
export function loggerFor(component: string, emit: LogEmit): Logger {
  return {
    debug: (m, f) => emit('debug', component, m, f),
    info: (m, f) => emit('info', component, m, f),
    warn: (m, f) => emit('warn', component, m, f),
    error: (m, f) => emit('error', component, m, f),
    child: (sub) => loggerFor(component ? `${component}.${sub}` : sub, emit),
  };
}
