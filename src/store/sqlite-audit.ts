// The audit part of the SQLite store: the `audit` table as migration 4 in sqlite.ts reshapes it.
// One row per mutating control-API call; the newest AUDIT_KEEP rows are kept.

import type { Database as DB, Statement } from 'better-sqlite3';
import type { Clock } from '../ports/clock';
import type { AuditEntry, AuditLog, AuditRecord } from '../ports/audit';

// Migration 1's audit(at, actor, action, detail) was written before the action ran, so its
// rows keep their action but have no address, method, path, status or result ('unknown').
export const AUDIT_MIGRATION = `
  DROP INDEX audit_at;
  ALTER TABLE audit RENAME TO audit_v1;
  CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,            -- ms epoch
    who     TEXT    NOT NULL,            -- token | dashboard | anonymous
    address TEXT    NOT NULL,            -- remote IP, or unix
    method  TEXT    NOT NULL,
    path    TEXT    NOT NULL,
    action  TEXT,                        -- deploy, scale, token-rotate... NULL: no such route
    target  TEXT,                        -- service or preview name
    result  TEXT    NOT NULL,            -- ok | failed | refused (unknown: from migration 1)
    status  INTEGER,                     -- HTTP status the client was told
    detail  TEXT    NOT NULL             -- JSON object
  );
  INSERT INTO audit (id, at, who, address, method, path, action, target, result, status, detail)
    SELECT id, at, actor, '', '', '', action,
           COALESCE(json_extract(detail, '$.service'), json_extract(detail, '$.name')),
           'unknown', NULL, detail
    FROM audit_v1 ORDER BY id;
  DROP TABLE audit_v1;
  CREATE INDEX audit_at ON audit (at);
`;

/** Rows kept: older ones are deleted, a batch at a time. */
export const AUDIT_KEEP = 10_000;
const TRIM_EVERY = 100;
export const DEFAULT_AUDIT_LIMIT = 100;

interface AuditRow {
  id: number;
  at: number;
  who: string;
  address: string;
  method: string;
  path: string;
  action: string | null;
  target: string | null;
  result: string;
  status: number | null;
  detail: string;
}

const COLS = 'id, at, who, address, method, path, action, target, result, status, detail';

export class SqliteAuditStore implements AuditLog {
  private readonly stInsert: Statement<[Omit<AuditRow, 'id'>]>;
  private readonly stList: Statement<[number], AuditRow>;
  private readonly stTrim: Statement<[number]>;
  private sinceTrim = 0;

  constructor(
    db: DB,
    private readonly clock: Clock,
    private readonly keep = AUDIT_KEEP,
    private readonly trimEvery = TRIM_EVERY,
  ) {
    this.stInsert = db.prepare(
      `INSERT INTO audit (at, who, address, method, path, action, target, result, status, detail)
       VALUES (@at, @who, @address, @method, @path, @action, @target, @result, @status, @detail)`,
    );
    this.stList = db.prepare(
      `SELECT * FROM (SELECT ${COLS} FROM audit ORDER BY id DESC LIMIT ?) ORDER BY id ASC`,
    );
    // Everything older than the keep-th newest row (no row at that offset: nothing to delete).
    this.stTrim = db.prepare(
      'DELETE FROM audit WHERE id < (SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?)',
    );
    this.trim();
  }

  append(r: AuditRecord): void {
    this.stInsert.run({
      at: this.clock.now(),
      who: r.who,
      address: r.address,
      method: r.method,
      path: r.path,
      action: r.action,
      target: r.target,
      result: r.result,
      status: r.status,
      detail: JSON.stringify(r.detail),
    });
    if (++this.sinceTrim >= this.trimEvery) this.trim();
  }

  /** Deletes all but the newest `keep` rows; returns how many went. */
  trim(): number {
    this.sinceTrim = 0;
    return this.stTrim.run(this.keep - 1).changes;
  }

  /** The newest `limit` entries (default 100, also for NaN; Infinity: all), oldest first. */
  list(limit?: number): AuditEntry[] {
    const want = limit === undefined || Number.isNaN(limit) ? DEFAULT_AUDIT_LIMIT : limit;
    const n = Number.isFinite(want) ? Math.max(0, Math.floor(want)) : -1;
    return this.stList.all(n).map((r) => ({
      ...r,
      result: r.result as AuditEntry['result'],
      detail: JSON.parse(r.detail) as Record<string, unknown>,
    }));
  }
}
