// The aggregated-logs part of the SQLite store: the `logs` and `log_cursors` tables
// (migration 2 in sqlite.ts). Writes are batched by the caller, one transaction each.

import type { Database as DB, Statement } from 'better-sqlite3';
import type {
  LogCursor,
  LogEntry,
  LogFilter,
  LogLevel,
  LogStore,
  LogStream,
  StoredLogEntry,
} from '../ports/logs';

export const LOGS_MIGRATION = `
  CREATE TABLE logs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: follow cursors stay valid
    ts        INTEGER NOT NULL,                  -- engine time, ms epoch
    ts_ns     TEXT    NOT NULL,                  -- engine time, "ssssssssss.nnnnnnnnn"
    service   TEXT    NOT NULL,
    release   INTEGER NOT NULL,
    container TEXT    NOT NULL,                  -- container name
    stream    TEXT    NOT NULL,                  -- stdout | stderr
    level     TEXT,                              -- from JSON lines only
    msg       TEXT    NOT NULL,
    text      TEXT                               -- the raw line when it differs from msg
  );
  CREATE INDEX logs_ts ON logs (ts, id);
  CREATE INDEX logs_service ON logs (service, ts, id);

  -- Per container: engine time of the last stored line and how many stored lines had that time.
  -- Kept apart from logs so retention cannot make a restart ingest old lines again.
  CREATE TABLE log_cursors (
    container_id TEXT    PRIMARY KEY,
    ts_ns        TEXT    NOT NULL,
    n            INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

interface LogRow {
  id: number;
  ts: number;
  ts_ns: string;
  service: string;
  release: number;
  container: string;
  stream: string;
  level: string | null;
  msg: string;
  text: string | null;
}

const COLS = 'id, ts, ts_ns, service, release, container, stream, level, msg, text';

function toEntry(r: LogRow): StoredLogEntry {
  return {
    id: r.id,
    ts: r.ts,
    tsNs: r.ts_ns,
    service: r.service,
    release: r.release,
    container: r.container,
    stream: r.stream as LogStream,
    level: r.level as LogLevel | null,
    msg: r.msg,
    text: r.text ?? r.msg,
  };
}

/** `regexp(pattern, value)`, behind SQL's `value REGEXP pattern`; patterns are compiled once. */
function registerRegexp(db: DB): void {
  const cache = new Map<string, RegExp>();
  db.function('regexp', { deterministic: true }, (pattern: unknown, value: unknown) => {
    if (typeof pattern !== 'string' || typeof value !== 'string') return 0;
    let re = cache.get(pattern);
    if (!re) {
      if (cache.size > 50) cache.clear();
      re = new RegExp(pattern);
      cache.set(pattern, re);
    }
    return re.test(value) ? 1 : 0;
  });
}

export class SqliteLogStore implements LogStore {
  private readonly stInsert: Statement<[Omit<LogRow, 'id'>]>;
  private readonly stCursor: Statement<[string, string, number]>;
  private readonly stCursors: Statement<[], { container_id: string; ts_ns: string; n: number }>;
  private readonly stForget: Statement<[string]>;
  private readonly stLastId: Statement<[], { id: number | null }>;
  private readonly stPruneAge: Statement<[number]>;
  private readonly stPruneCount: Statement<[number]>;
  private readonly queries = new Map<string, Statement<unknown[], LogRow>>();

  constructor(private readonly db: DB) {
    registerRegexp(db);
    this.stInsert = db.prepare(
      `INSERT INTO logs (ts, ts_ns, service, release, container, stream, level, msg, text)
       VALUES (@ts, @ts_ns, @service, @release, @container, @stream, @level, @msg, @text)`,
    );
    this.stCursor = db.prepare(
      `INSERT INTO log_cursors (container_id, ts_ns, n) VALUES (?, ?, ?)
       ON CONFLICT (container_id) DO UPDATE SET ts_ns = excluded.ts_ns, n = excluded.n`,
    );
    this.stCursors = db.prepare('SELECT container_id, ts_ns, n FROM log_cursors');
    this.stForget = db.prepare('DELETE FROM log_cursors WHERE container_id = ?');
    this.stLastId = db.prepare(
      `SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'logs'),
                       (SELECT MAX(id) FROM logs), 0) AS id`,
    );
    this.stPruneAge = db.prepare('DELETE FROM logs WHERE ts < ?');
    // Everything at or below the id of the (maxLines+1)-th newest line; nothing when fewer.
    this.stPruneCount = db.prepare(
      'DELETE FROM logs WHERE id <= (SELECT id FROM logs ORDER BY id DESC LIMIT 1 OFFSET ?)',
    );
  }

  appendLogs(entries: LogEntry[], cursors: LogCursor[]): void {
    this.db.transaction(() => {
      for (const e of entries) {
        this.stInsert.run({
          ts: e.ts,
          ts_ns: e.tsNs,
          service: e.service,
          release: e.release,
          container: e.container,
          stream: e.stream,
          level: e.level,
          msg: e.msg,
          text: e.text === e.msg ? null : e.text,
        });
      }
      for (const c of cursors) this.stCursor.run(c.containerId, c.ts, c.n);
    })();
  }

  tailLogs(f: LogFilter, limit: number): StoredLogEntry[] {
    const { where, args } = this.where(f);
    const sql = `SELECT * FROM (SELECT ${COLS} FROM logs ${where}
      ORDER BY ts DESC, id DESC LIMIT ?) ORDER BY ts ASC, id ASC`;
    return this.query(sql)
      .all(...args, sqlLimit(limit))
      .map(toEntry);
  }

  logsAfter(f: LogFilter, afterId: number, limit: number): StoredLogEntry[] {
    const { where, args } = this.where({ ...f, afterId: Math.max(afterId, f.afterId ?? 0) });
    const sql = `SELECT ${COLS} FROM logs ${where} ORDER BY id ASC LIMIT ?`;
    return this.query(sql)
      .all(...args, sqlLimit(limit))
      .map(toEntry);
  }

  lastLogId(): number {
    return this.stLastId.get()?.id ?? 0;
  }

  logCursors(): LogCursor[] {
    return this.stCursors.all().map((r) => ({ containerId: r.container_id, ts: r.ts_ns, n: r.n }));
  }

  forgetLogCursors(containerIds: string[]): void {
    this.db.transaction(() => {
      for (const id of containerIds) this.stForget.run(id);
    })();
  }

  pruneLogs(olderThanMs: number, maxLines: number): number {
    return this.db.transaction(
      () =>
        this.stPruneAge.run(olderThanMs).changes +
        this.stPruneCount.run(Math.max(0, Math.floor(maxLines))).changes,
    )();
  }

  private where(f: LogFilter): { where: string; args: unknown[] } {
    const conds: string[] = [];
    const args: unknown[] = [];
    const add = (cond: string, arg: unknown) => {
      conds.push(cond);
      args.push(arg);
    };
    if (f.service !== undefined) add('service = ?', f.service);
    if (f.release !== undefined) add('release = ?', f.release);
    if (f.sinceMs !== undefined) add('ts >= ?', f.sinceMs);
    if (f.afterId !== undefined) add('id > ?', f.afterId);
    if (f.grep !== undefined) add('COALESCE(text, msg) REGEXP ?', f.grep);
    return { where: conds.length ? `WHERE ${conds.join(' AND ')}` : '', args };
  }

  /** One prepared statement per filter shape (a handful), reused. */
  private query(sql: string): Statement<unknown[], LogRow> {
    let st = this.queries.get(sql);
    if (!st) {
      st = this.db.prepare<unknown[], LogRow>(sql);
      this.queries.set(sql, st);
    }
    return st;
  }
}

function sqlLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : -1;
}
