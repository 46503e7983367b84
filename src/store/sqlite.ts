// SQLite implementation of the StateStore port (better-sqlite3, synchronous).
//
// Every public write is a single statement in autocommit mode, so it is committed before
// the call returns. Errors raised by SQLite are not caught here: they reach the caller.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Database as DB, Statement } from 'better-sqlite3';
import { systemClock, type Clock } from '../ports/clock';
import type { StateStore } from '../ports/store';
import { ShipitError } from '../domain/errors';
import { LOGS_MIGRATION, SqliteLogStore } from './sqlite-logs';
import { PREVIEWS_MIGRATION, SqlitePreviewStore } from './sqlite-previews';
import { AUDIT_MIGRATION, SqliteAuditStore } from './sqlite-audit';
import type { AuditEntry, AuditRecord } from '../ports/audit';
import type {
  DeployEvent,
  ReleaseRecord,
  ReleaseStatus,
  ServiceSpec,
  StrategyName,
} from '../domain/types';

/**
 * Schema migrations, applied in order. `PRAGMA user_version` records how many have run.
 * Append new entries; never edit or reorder an entry that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: initial schema
  `
  CREATE TABLE releases (
    service     TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    image       TEXT    NOT NULL,
    strategy    TEXT    NOT NULL,
    spec        TEXT    NOT NULL,  -- JSON ServiceSpec
    status      TEXT    NOT NULL,
    replicas    INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    result      TEXT,
    reason      TEXT,
    demoted_at  INTEGER,
    PRIMARY KEY (service, number)
  );
  CREATE INDEX releases_started ON releases (started_at DESC, number DESC);
  CREATE INDEX releases_status ON releases (status, service, number);

  CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT    NOT NULL,
    release INTEGER,
    at      INTEGER NOT NULL,
    type    TEXT    NOT NULL,
    message TEXT    NOT NULL,
    data    TEXT              -- JSON object or NULL
  );
  CREATE INDEX events_service ON events (service, release, id);
  CREATE INDEX events_release ON events (release, id);

  CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    detail TEXT    NOT NULL   -- JSON object
  );
  CREATE INDEX audit_at ON audit (at);
  `,
  // 2: aggregated container logs (see sqlite-logs.ts)
  LOGS_MIGRATION,
  // 3: preview environments (see sqlite-previews.ts)
  PREVIEWS_MIGRATION,
  // 4: audit log with who, address, route and outcome (see sqlite-audit.ts)
  AUDIT_MIGRATION,
];

export const DEFAULT_RELEASE_LIMIT = 100;

interface ReleaseRow {
  service: string;
  number: number;
  image: string;
  strategy: string;
  spec: string;
  status: string;
  replicas: number;
  started_at: number;
  finished_at: number | null;
  result: string | null;
  reason: string | null;
  demoted_at: number | null;
}

interface EventRow {
  id: number;
  service: string;
  release: number | null;
  at: number;
  type: string;
  message: string;
  data: string | null;
}

type ReleasePatch = Parameters<StateStore['updateRelease']>[2];

function toRelease(row: ReleaseRow): ReleaseRecord {
  return {
    service: row.service,
    number: row.number,
    image: row.image,
    strategy: row.strategy as StrategyName,
    spec: JSON.parse(row.spec) as ServiceSpec,
    status: row.status as ReleaseStatus,
    replicas: row.replicas,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    result: row.result,
    reason: row.reason,
    demotedAt: row.demoted_at,
  };
}

function toEvent(row: EventRow): DeployEvent {
  const e: DeployEvent = {
    service: row.service,
    release: row.release,
    at: row.at,
    type: row.type,
    message: row.message,
  };
  if (row.data !== null) e.data = JSON.parse(row.data) as Record<string, unknown>;
  return e;
}

/** SQLite LIMIT: a non-negative count, or -1 for "no limit". */
function sqlLimit(limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isFinite(limit)) return -1;
  return Math.max(0, Math.floor(limit));
}

/** Applies pending migrations; safe to call on every open, also from concurrent processes. */
function migrate(db: DB): void {
  const version = (): number => db.pragma('user_version', { simple: true }) as number;
  if (version() > MIGRATIONS.length) {
    throw new ShipitError(
      'config',
      `state database schema version ${version()} is newer than this shipit supports (${MIGRATIONS.length})`,
      'upgrade shipit, or point it at a different state file',
    );
  }
  if (version() === MIGRATIONS.length) return;
  // IMMEDIATE takes the write lock first, so two processes opening a fresh file at once
  // cannot both run migration 1; the version is re-read under the lock.
  db.transaction(() => {
    for (let v = version(); v < MIGRATIONS.length; v++) {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    }
  }).immediate();
}

export class SqliteStore implements StateStore {
  private readonly db: DB;
  private readonly clock: Clock;
  /** Aggregated container logs, in the same database. */
  readonly logs: SqliteLogStore;
  /** Preview environments, in the same database. */
  readonly previews: SqlitePreviewStore;
  /** The audit log of mutating API calls, in the same database. */
  readonly auditLog: SqliteAuditStore;

  private readonly stNextNumber: Statement<[string], { n: number }>;
  private readonly stInsertRelease: Statement<[ReleaseRow]>;
  private readonly stUpdateRelease: Statement<[Record<string, unknown>]>;
  private readonly stGetRelease: Statement<[string, number], ReleaseRow>;
  private readonly stListReleasesAll: Statement<[number], ReleaseRow>;
  private readonly stListReleasesService: Statement<[string, number], ReleaseRow>;
  private readonly stStatusAll: Statement<[string], ReleaseRow>;
  private readonly stStatusService: Statement<[string, string], ReleaseRow>;
  private readonly stInsertEvent: Statement<[Omit<EventRow, 'id'>]>;
  private readonly stEventsAll: Statement<[number], EventRow>;
  private readonly stEventsService: Statement<[string, number], EventRow>;
  private readonly stEventsServiceRelease: Statement<[string, number, number], EventRow>;
  private readonly stEventsRelease: Statement<[number, number], EventRow>;

  private constructor(db: DB, clock: Clock) {
    this.db = db;
    this.clock = clock;
    migrate(db);
    this.logs = new SqliteLogStore(db);
    this.previews = new SqlitePreviewStore(db);
    this.auditLog = new SqliteAuditStore(db, clock);

    const releaseCols =
      'service, number, image, strategy, spec, status, replicas, started_at, finished_at, result, reason, demoted_at';
    const acrossServices = 'ORDER BY started_at DESC, number DESC, service ASC';

    this.stNextNumber = db.prepare(
      'SELECT COALESCE(MAX(number), 0) + 1 AS n FROM releases WHERE service = ?',
    );
    this.stInsertRelease = db.prepare(
      `INSERT INTO releases (${releaseCols}) VALUES (@service, @number, @image, @strategy, @spec,
        @status, @replicas, @started_at, @finished_at, @result, @reason, @demoted_at)`,
    );
    // One statement for every patch shape: each column keeps its value unless its flag is set,
    // so an explicit null in the patch clears the column and an absent key leaves it alone.
    this.stUpdateRelease = db.prepare(
      `UPDATE releases SET
         status      = CASE WHEN @set_status      THEN @status      ELSE status      END,
         finished_at = CASE WHEN @set_finished_at THEN @finished_at ELSE finished_at END,
         result      = CASE WHEN @set_result      THEN @result      ELSE result      END,
         reason      = CASE WHEN @set_reason      THEN @reason      ELSE reason      END,
         replicas    = CASE WHEN @set_replicas    THEN @replicas    ELSE replicas    END,
         demoted_at  = CASE WHEN @set_demoted_at  THEN @demoted_at  ELSE demoted_at  END
       WHERE service = @service AND number = @number`,
    );
    this.stGetRelease = db.prepare(
      `SELECT ${releaseCols} FROM releases WHERE service = ? AND number = ?`,
    );
    this.stListReleasesAll = db.prepare(
      `SELECT ${releaseCols} FROM releases ${acrossServices} LIMIT ?`,
    );
    this.stListReleasesService = db.prepare(
      `SELECT ${releaseCols} FROM releases WHERE service = ? ORDER BY number DESC LIMIT ?`,
    );
    // The status list is bound as one JSON array so a single prepared statement serves any set.
    this.stStatusAll = db.prepare(
      `SELECT ${releaseCols} FROM releases
       WHERE status IN (SELECT value FROM json_each(?)) ${acrossServices}`,
    );
    this.stStatusService = db.prepare(
      `SELECT ${releaseCols} FROM releases
       WHERE status IN (SELECT value FROM json_each(?)) AND service = ? ORDER BY number DESC`,
    );

    this.stInsertEvent = db.prepare(
      `INSERT INTO events (service, release, at, type, message, data)
       VALUES (@service, @release, @at, @type, @message, @data)`,
    );
    // "Most recent N, oldest first": take the newest N by id, then flip.
    const events = (where: string): string =>
      `SELECT * FROM (SELECT id, service, release, at, type, message, data FROM events ${where}
       ORDER BY id DESC LIMIT ?) ORDER BY id ASC`;
    this.stEventsAll = db.prepare(events(''));
    this.stEventsService = db.prepare(events('WHERE service = ?'));
    this.stEventsServiceRelease = db.prepare(events('WHERE service = ? AND release = ?'));
    this.stEventsRelease = db.prepare(events('WHERE release = ?'));
  }

  /**
   * Opens (creating if needed) the state database at `file` and brings its schema up to date.
   *
   * Durability: journal_mode=WAL with synchronous=NORMAL. In WAL mode a commit appends the
   * transaction's pages to the -wal file with write(2) before COMMIT returns; NORMAL only skips
   * the fsync at commit (it still fsyncs at checkpoints). Once write(2) has returned, the data
   * lives in the kernel's page cache, which belongs to the OS, not to our process, so a crash or
   * `kill -9` of the daemon cannot lose a committed transaction: the next open replays the WAL.
   * What NORMAL gives up is the last few commits on power loss / kernel panic, and even then the
   * database stays consistent (never corrupt). If the filesystem cannot do WAL we fall back to
   * synchronous=FULL with the rollback journal.
   */
  static open(file: string, clock: Clock = systemClock): SqliteStore {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = new Database(file);
    try {
      db.pragma('busy_timeout = 5000');
      const mode = db.pragma('journal_mode = WAL', { simple: true }) as string;
      db.pragma(mode.toLowerCase() === 'wal' ? 'synchronous = NORMAL' : 'synchronous = FULL');
      return new SqliteStore(db, clock);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** A private in-memory database, for tests. */
  static openMemory(clock: Clock = systemClock): SqliteStore {
    return new SqliteStore(new Database(':memory:'), clock);
  }

  /** Schema version of the open database (number of migrations applied). */
  schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  nextReleaseNumber(service: string): number {
    return this.stNextNumber.get(service)!.n;
  }

  insertRelease(r: ReleaseRecord): void {
    this.stInsertRelease.run({
      service: r.service,
      number: r.number,
      image: r.image,
      strategy: r.strategy,
      spec: JSON.stringify(r.spec),
      status: r.status,
      replicas: r.replicas,
      started_at: r.startedAt,
      finished_at: r.finishedAt,
      result: r.result,
      reason: r.reason,
      demoted_at: r.demotedAt,
    });
  }

  /**
   * Sets only the fields present in `patch` (a key whose value is undefined counts as absent;
   * null clears the column). Throws ShipitError('not-found') if the release does not exist.
   */
  updateRelease(service: string, number: number, patch: ReleasePatch): void {
    const field = <T>(v: T | undefined): [number, T | null] =>
      v === undefined ? [0, null] : [1, v];
    const [set_status, status] = field(patch.status);
    const [set_finished_at, finished_at] = field(patch.finishedAt);
    const [set_result, result] = field(patch.result);
    const [set_reason, reason] = field(patch.reason);
    const [set_replicas, replicas] = field(patch.replicas);
    const [set_demoted_at, demoted_at] = field(patch.demotedAt);
    const info = this.stUpdateRelease.run({
      service,
      number,
      set_status,
      status,
      set_finished_at,
      finished_at,
      set_result,
      result,
      set_reason,
      reason,
      set_replicas,
      replicas,
      set_demoted_at,
      demoted_at,
    });
    if (info.changes === 0) {
      throw new ShipitError('not-found', `release ${service} r${number} does not exist`);
    }
  }

  getRelease(service: string, number: number): ReleaseRecord | null {
    const row = this.stGetRelease.get(service, number);
    return row ? toRelease(row) : null;
  }

  /**
   * Newest first: by number for one service; across services by start time, then number.
   * Default limit 100.
   */
  listReleases(service?: string, limit?: number): ReleaseRecord[] {
    const n = sqlLimit(limit, DEFAULT_RELEASE_LIMIT);
    const rows =
      service === undefined
        ? this.stListReleasesAll.all(n)
        : this.stListReleasesService.all(service, n);
    return rows.map(toRelease);
  }

  releasesWithStatus(statuses: ReleaseStatus[], service?: string): ReleaseRecord[] {
    if (statuses.length === 0) return [];
    const set = JSON.stringify(statuses);
    const rows =
      service === undefined ? this.stStatusAll.all(set) : this.stStatusService.all(set, service);
    return rows.map(toRelease);
  }

  appendEvent(e: DeployEvent): void {
    this.stInsertEvent.run({
      service: e.service,
      release: e.release,
      at: e.at,
      type: e.type,
      message: e.message,
      data: e.data === undefined ? null : JSON.stringify(e.data),
    });
  }

  /**
   * Oldest first (in append order). With `limit`, the most recent `limit` matching events.
   * `release` alone matches that release number in any service.
   */
  listEvents(service?: string, release?: number, limit?: number): DeployEvent[] {
    const n = sqlLimit(limit, -1);
    let rows: EventRow[];
    if (service !== undefined && release !== undefined) {
      rows = this.stEventsServiceRelease.all(service, release, n);
    } else if (service !== undefined) {
      rows = this.stEventsService.all(service, n);
    } else if (release !== undefined) {
      rows = this.stEventsRelease.all(release, n);
    } else {
      rows = this.stEventsAll.all(n);
    }
    return rows.map(toEvent);
  }

  atomically<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  audit(r: AuditRecord): void {
    this.auditLog.append(r);
  }

  /** Most recent `limit` audit entries (default 100), oldest first. Not part of StateStore. */
  listAudit(limit?: number): AuditEntry[] {
    return this.auditLog.list(limit);
  }

  /** Closes the database. Further calls are no-ops. */
  close(): void {
    if (this.db.open) this.db.close();
  }
}
