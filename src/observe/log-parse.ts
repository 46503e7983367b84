// Turns one line of container output into level + message. Pure.
//
// JSON lines in the pino/bunyan style give their level (numeric 10..60 or a name), their
// message (`msg` or `message`) and their time (`time`, ms epoch or ISO 8601). Plain text gets
// level null: many programs write ordinary progress to stderr, so the stream says nothing
// about severity, and guessing from words in the text would mislabel lines.

import type { LogLevel } from '../ports/logs';

export interface ParsedLine {
  level: LogLevel | null;
  msg: string;
  /** The line's own time (ms epoch) when it is a JSON line that has one. */
  timeMs: number | null;
}

const NAMED: Record<string, LogLevel> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  information: 'info',
  notice: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  err: 'error',
  fatal: 'fatal',
  critical: 'fatal',
  crit: 'fatal',
  alert: 'fatal',
  emerg: 'fatal',
  emergency: 'fatal',
  panic: 'fatal',
};

/** pino/bunyan numbers: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal. */
export function levelOf(value: unknown): LogLevel | null {
  if (typeof value === 'number' && Number.isFinite(value)) {
    if (value <= 10) return 'trace';
    if (value <= 20) return 'debug';
    if (value <= 30) return 'info';
    if (value <= 40) return 'warn';
    if (value <= 50) return 'error';
    return 'fatal';
  }
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (/^\d+$/.test(v)) return levelOf(Number(v));
    return NAMED[v] ?? null;
  }
  return null;
}

function timeOf(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) {
    // Seconds (possibly fractional) from some loggers; pino and bunyan use ms.
    return Math.round(value < 1e11 ? value * 1000 : value);
  }
  if (typeof value === 'string' && value) {
    const t = Date.parse(value);
    return Number.isFinite(t) ? t : null;
  }
  return null;
}

export function parseLogLine(text: string): ParsedLine {
  const plain: ParsedLine = { level: null, msg: text, timeMs: null };
  const t = text.trim();
  if (!t.startsWith('{') || !t.endsWith('}')) return plain;
  let obj: unknown;
  try {
    obj = JSON.parse(t);
  } catch {
    return plain;
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return plain;
  const o = obj as Record<string, unknown>;
  const m = typeof o.msg === 'string' ? o.msg : typeof o.message === 'string' ? o.message : null;
  return {
    level: levelOf(o.level ?? o.severity),
    msg: m ?? text,
    timeMs: timeOf(o.time ?? o.timestamp),
  };
}

/** "ssssssssss.nnnnnnnnn" -> ms epoch. */
export function nsToMs(ts: string): number {
  const dot = ts.indexOf('.');
  if (dot < 0) return Number(ts) * 1000;
  return Number(ts.slice(0, dot)) * 1000 + Number(ts.slice(dot + 1, dot + 4).padEnd(3, '0'));
}
