// Aggregated container logs: what the collector stores and the API reads.

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export type LogStream = 'stdout' | 'stderr';

export interface LogEntry {
  /** Engine time of the line, ms epoch (for queries). */
  ts: number;
  /** Engine time, fixed-width "ssssssssss.nnnnnnnnn" (for catch-up without duplicates). */
  tsNs: string;
  service: string;
  release: number;
  /** Container name, `<project>-<service>-r<release>-<n>`. */
  container: string;
  stream: LogStream;
  /** From a JSON line's level; null for plain text. */
  level: LogLevel | null;
  /** A JSON line's msg/message, else the line itself. */
  msg: string;
  /** The line as the container wrote it. */
  text: string;
}

export interface StoredLogEntry extends LogEntry {
  /** Increases with every stored line and is never reused: a follow cursor. */
  id: number;
}

/** How far a container's output has been stored: its last line's time, and how many lines had it. */
export interface LogCursor {
  containerId: string;
  ts: string;
  n: number;
}

export interface LogFilter {
  service?: string;
  release?: number;
  /** ts >= sinceMs. */
  sinceMs?: number;
  /** A JavaScript regular expression the raw line must match. */
  grep?: string;
  /** id > afterId. */
  afterId?: number;
}

export interface LogStore {
  /** Stores lines and the containers' cursors in one transaction. */
  appendLogs(entries: LogEntry[], cursors: LogCursor[]): void;
  /** The newest `limit` matching lines, oldest first (by time, then id). */
  tailLogs(f: LogFilter, limit: number): StoredLogEntry[];
  /** Matching lines with id > afterId, in id order, at most `limit`. */
  logsAfter(f: LogFilter, afterId: number, limit: number): StoredLogEntry[];
  /** Highest id ever stored (0 when none). */
  lastLogId(): number;
  logCursors(): LogCursor[];
  forgetLogCursors(containerIds: string[]): void;
  /** Deletes lines older than `olderThanMs` and all but the newest `maxLines`; returns how many. */
  pruneLogs(olderThanMs: number, maxLines: number): number;
}
