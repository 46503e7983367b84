import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AuditRecord } from '../ports/audit';
import { MIGRATIONS, SqliteStore } from './sqlite';
import { AUDIT_KEEP, SqliteAuditStore } from './sqlite-audit';

const clock = { now: () => 1234, sleep: async () => {} };

function row(i: number, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    who: 'token',
    address: '10.0.0.1',
    method: 'POST',
    path: `/v1/services/s${i}/promote`,
    action: 'promote',
    target: `s${i}`,
    result: 'ok',
    status: 200,
    detail: { i },
    ...over,
  };
}

describe('SqliteAuditStore', () => {
  let store: SqliteStore;
  beforeEach(() => (store = SqliteStore.openMemory(clock)));
  afterEach(() => store.close());

  it('round-trips every field, with nulls, newest last', () => {
    store.auditLog.append(row(1));
    store.auditLog.append(
      row(2, {
        who: 'anonymous',
        address: 'unix',
        action: null,
        target: null,
        result: 'refused',
        status: 401,
        detail: {},
      }),
    );
    expect(store.auditLog.list()).toEqual([
      { id: 1, at: 1234, ...row(1) },
      {
        id: 2,
        at: 1234,
        ...row(2),
        who: 'anonymous',
        address: 'unix',
        action: null,
        target: null,
        result: 'refused',
        status: 401,
        detail: {},
      },
    ]);
  });

  it('lists the newest N: default 100, NaN means the default, Infinity means all', () => {
    for (let i = 1; i <= 150; i++) store.auditLog.append(row(i));
    const targets = (l: { target: string | null }[]) => l.map((e) => e.target);
    expect(targets(store.auditLog.list(3))).toEqual(['s148', 's149', 's150']);
    expect(store.auditLog.list()).toHaveLength(100);
    expect(store.auditLog.list(NaN)).toHaveLength(100);
    expect(store.auditLog.list(Infinity)).toHaveLength(150);
    expect(store.auditLog.list(0)).toEqual([]);
    expect(store.auditLog.list(-5)).toEqual([]);
    expect(store.auditLog.list(2.9).map((e) => e.target)).toEqual(['s149', 's150']);
  });

  it(`keeps the last ${AUDIT_KEEP} rows, trimming in batches as rows are added`, () => {
    for (let i = 1; i <= AUDIT_KEEP + 250; i++) store.audit(row(i));
    const all = store.listAudit(Infinity);
    expect(all.length).toBeGreaterThanOrEqual(AUDIT_KEEP);
    expect(all.length).toBeLessThan(AUDIT_KEEP + 100);
    expect(all.at(-1)!.target).toBe(`s${AUDIT_KEEP + 250}`);
    expect(store.auditLog.trim()).toBe(all.length - AUDIT_KEEP);
    expect(store.listAudit(Infinity)[0].target).toBe('s251');
  });

  it('trims exactly: keep 5, every 2 inserts', () => {
    const db = new Database(':memory:');
    for (const m of MIGRATIONS) db.exec(m);
    const log = new SqliteAuditStore(db, clock, 5, 2);
    const sizes: number[] = [];
    for (let i = 1; i <= 9; i++) {
      log.append(row(i));
      sizes.push(log.list(Infinity).length);
    }
    expect(sizes).toEqual([1, 2, 3, 4, 5, 5, 6, 5, 6]);
    expect(log.list(Infinity).map((e) => e.target)).toEqual(['s4', 's5', 's6', 's7', 's8', 's9']);
    // Opening trims too (a daemon restarted with a full log).
    expect(new SqliteAuditStore(db, clock, 5, 2).list(Infinity)).toHaveLength(5);
    db.close();
  });
});

describe('migration 4 (audit with who, address, route and outcome)', () => {
  it('keeps the rows of the old audit table, marked result "unknown"', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-audit-mig-'));
    const file = path.join(dir, 'state.db');
    const db = new Database(file);
    for (const m of MIGRATIONS.slice(0, 3)) db.exec(m);
    db.pragma('user_version = 3');
    const insert = db.prepare('INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)');
    insert.run(10, 'api', 'deploy', JSON.stringify({ service: 'web', body: { x: 1 } }));
    insert.run(11, 'api', 'preview-down', JSON.stringify({ name: 'pr-1' }));
    insert.run(12, 'api', 'shutdown', JSON.stringify({ remove: false }));
    db.close();
    const store = SqliteStore.open(file, clock);
    expect(store.schemaVersion()).toBe(MIGRATIONS.length);
    const log = store.auditLog;
    expect(log.list()).toEqual([
      {
        id: 1,
        at: 10,
        who: 'api',
        address: '',
        method: '',
        path: '',
        action: 'deploy',
        target: 'web',
        result: 'unknown',
        status: null,
        detail: { service: 'web', body: { x: 1 } },
      },
      expect.objectContaining({ id: 2, action: 'preview-down', target: 'pr-1' }),
      expect.objectContaining({ id: 3, action: 'shutdown', target: null }),
    ]);
    log.append(row(4));
    expect(log.list(1)[0].id).toBe(4); // ids go on after the kept rows
    store.close();
    const raw = new Database(file, { readonly: true });
    const names = raw.prepare(
      "SELECT name FROM sqlite_master WHERE name LIKE 'audit%' ORDER BY name",
    );
    expect(names.all()).toEqual([{ name: 'audit' }, { name: 'audit_at' }]);
    raw.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is migration number 4, after logs (2) and previews (3)', () => {
    const store = SqliteStore.openMemory(clock);
    expect(store.schemaVersion()).toBeGreaterThanOrEqual(4);
    expect(MIGRATIONS[3]).toContain('CREATE TABLE audit');
    store.close();
  });
});
