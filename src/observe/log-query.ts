// GET /v1/logs parameters -> a validated request, and stored lines -> what the API returns.

import { usageError } from '../domain/errors';
import { tryParseDuration } from '../config/duration';
import type { LogFilter, LogLevel, LogStream, StoredLogEntry } from '../ports/logs';

export const DEFAULT_LOG_LIMIT = 100;
export const MAX_LOG_LIMIT = 100_000;

export interface LogRequest extends LogFilter {
  /** The proxy access log instead of container logs. */
  access: boolean;
  /** How many of the newest matching lines (the backlog when following). */
  limit: number;
  /** Then stream every new matching line until the client leaves. */
  follow: boolean;
}

/** One line as the API returns it (JSON array, or one per NDJSON line). */
export interface LogLineOut {
  id: number;
  ts: number;
  time: string;
  service: string;
  release: number;
  container: string;
  stream: LogStream;
  level: LogLevel | null;
  msg: string;
}

export function toLogLine(e: StoredLogEntry): LogLineOut {
  return {
    id: e.id,
    ts: e.ts,
    time: new Date(e.ts).toISOString(),
    service: e.service,
    release: e.release,
    container: e.container,
    stream: e.stream,
    level: e.level,
    msg: e.msg,
  };
}

/**
 * `since`: a duration back from now ("90s", "5m", "1h30m", "2d"), or a point in time:
 * bare digits are ms since the epoch, or an ISO 8601 date/time.
 */
export function parseSince(value: string, now: number): number {
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const d = tryParseDuration(v);
  if (d !== undefined) return now - d;
  if (/^\d{4}-\d\d-\d\d/.test(v)) {
    const t = Date.parse(v);
    if (Number.isFinite(t)) return t;
  }
  throw usageError(
    `since: expected a duration like "5m" or a time (ms since the epoch, or ISO 8601), got "${value}"`,
  );
}

/** Throws a usage error naming the problem when `pattern` is not a valid regular expression. */
export function checkGrep(pattern: string): string {
  if (pattern.length > 1000) throw usageError('grep: the pattern is longer than 1000 characters');
  try {
    new RegExp(pattern);
  } catch (e) {
    throw usageError(`grep: invalid regular expression: ${(e as Error).message}`);
  }
  return pattern;
}

function count(q: URLSearchParams, key: string, min: number, max: number): number | undefined {
  const raw = q.get(key);
  if (raw === null || raw === '') return undefined;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) {
    throw usageError(`${key}: expected a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

function flag(q: URLSearchParams, key: string): boolean {
  const v = q.get(key);
  return v !== null && v !== '0' && v !== 'false';
}

export function parseLogRequest(q: URLSearchParams, now: number): LogRequest {
  const r: LogRequest = {
    access: flag(q, 'access'),
    follow: flag(q, 'follow'),
    limit: count(q, 'limit', 0, MAX_LOG_LIMIT) ?? DEFAULT_LOG_LIMIT,
  };
  const service = q.get('service');
  if (service) {
    if (!/^[a-z0-9-]{1,32}$/.test(service))
      throw usageError(`service: expected a service name like "web", got "${service}"`);
    r.service = service;
  }
  const release = count(q, 'release', 1, Number.MAX_SAFE_INTEGER);
  if (release !== undefined) r.release = release;
  const after = count(q, 'after', 0, Number.MAX_SAFE_INTEGER);
  if (after !== undefined) r.afterId = after;
  const since = q.get('since');
  if (since) r.sinceMs = parseSince(since, now);
  const grep = q.get('grep');
  if (grep) r.grep = checkGrep(grep);
  return r;
}
