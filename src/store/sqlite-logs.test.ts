import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { LogEntry } from '../ports/logs';
import { MIGRATIONS, SqliteStore } from './sqlite';

const BASE = 1_700_000_000_000;

function entry(i: number, over: Partial<LogEntry> = {}): LogEntry {
  const ts = BASE + i * 1000;
  return {
    ts,
    tsNs: `${Math.floor(ts / 1000)}.${String(ts % 1000).padStart(3, '0')}000000`,
    service: 'web',
    release: 1,
    container: 'p-web-r1-0',
    stream: 'stdout',
    level: null,
    msg: `line ${i}`,
    text: `line ${i}`,
    ...over,
  };
}

describe('SqliteLogStore', () => {
  let store: SqliteStore;
  beforeEach(() => {
    store = SqliteStore.openMemory();
  });
  afterEach(() => store.close());

  it('returns the newest N matching lines oldest first, by time then id', () => {
    const logs = store.logs;
    // Stored out of time order (a catch-up after a restart): the query orders by time.
    logs.appendLogs([entry(1), entry(3), entry(2, { release: 2, container: 'p-web-r2-0' })], []);
    logs.appendLogs([entry(0, { service: 'api', container: 'p-api-r1-0' })], []);
    expect(logs.tailLogs({}, 100).map((e) => e.msg)).toEqual([
      'line 0',
      'line 1',
      'line 2',
      'line 3',
    ]);
    expect(logs.tailLogs({}, 2).map((e) => e.msg)).toEqual(['line 2', 'line 3']);
    expect(logs.tailLogs({}, 0)).toEqual([]);
    expect(logs.tailLogs({ service: 'web' }, 100).map((e) => e.msg)).toEqual([
      'line 1',
      'line 2',
      'line 3',
    ]);
    expect(logs.tailLogs({ release: 2 }, 100).map((e) => e.container)).toEqual(['p-web-r2-0']);
    expect(logs.tailLogs({ service: 'api', release: 2 }, 100)).toEqual([]);
    expect(logs.tailLogs({ sinceMs: BASE + 2000 }, 100).map((e) => e.msg)).toEqual([
      'line 2',
      'line 3',
    ]);
    const all = logs.tailLogs({}, 100);
    const idOf3 = all.find((e) => e.msg === 'line 3')!.id;
    expect(logs.tailLogs({ afterId: idOf3 }, 100).map((e) => e.msg)).toEqual(['line 0', 'line 2']);
    expect(all[0]).toEqual({ ...entry(0, { service: 'api', container: 'p-api-r1-0' }), id: 4 });
  });

  it('greps the raw line with a JavaScript regular expression', () => {
    const json = '{"level":50,"msg":"db down","code":"ECONNREFUSED"}';
    store.logs.appendLogs(
      [
        entry(1, { msg: 'GET /health 200', text: 'GET /health 200' }),
        entry(2, { msg: 'db down', text: json, level: 'error', stream: 'stderr' }),
        entry(3, { msg: 'GET /api 500', text: 'GET /api 500' }),
      ],
      [],
    );
    const grep = (g: string) => store.logs.tailLogs({ grep: g }, 100).map((e) => e.msg);
    expect(grep('GET .* [45]\\d\\d$')).toEqual(['GET /api 500']);
    expect(grep('ECONNREFUSED')).toEqual(['db down']);
    expect(grep('^db down$')).toEqual([]); // the raw line is JSON
    expect(grep('health|api')).toEqual(['GET /health 200', 'GET /api 500']);
    const [e] = store.logs.tailLogs({ grep: 'db' }, 1);
    expect(e).toMatchObject({ level: 'error', stream: 'stderr', msg: 'db down', text: json });
  });

  it('lists lines after an id in id order, in pages', () => {
    store.logs.appendLogs(
      [1, 2, 3, 4, 5].map((i) => entry(i)),
      [],
    );
    expect(store.logs.logsAfter({}, 2, 2).map((e) => e.id)).toEqual([3, 4]);
    expect(store.logs.logsAfter({ grep: '[135]$' }, 0, 10).map((e) => e.id)).toEqual([1, 3, 5]);
    expect(store.logs.logsAfter({ afterId: 4 }, 1, 10).map((e) => e.id)).toEqual([5]);
    expect(store.logs.logsAfter({}, 5, 10)).toEqual([]);
  });

  it('never reuses ids, even after every line was deleted', () => {
    expect(store.logs.lastLogId()).toBe(0);
    store.logs.appendLogs([entry(1), entry(2)], []);
    expect(store.logs.lastLogId()).toBe(2);
    expect(store.logs.pruneLogs(BASE + 10_000, 100)).toBe(2);
    expect(store.logs.lastLogId()).toBe(2);
    store.logs.appendLogs([entry(20)], []);
    expect(store.logs.tailLogs({}, 10).map((e) => e.id)).toEqual([3]);
  });

  it('prunes by age and by count, keeping the newest lines', () => {
    store.logs.appendLogs(
      Array.from({ length: 10 }, (_, i) => entry(i)),
      [],
    );
    expect(store.logs.pruneLogs(BASE + 2000, 1000)).toBe(2); // lines 0, 1
    expect(store.logs.pruneLogs(0, 5)).toBe(3); // lines 2, 3, 4
    expect(store.logs.tailLogs({}, 100).map((e) => e.msg)).toEqual([
      'line 5',
      'line 6',
      'line 7',
      'line 8',
      'line 9',
    ]);
    expect(store.logs.pruneLogs(0, 5)).toBe(0);
    expect(store.logs.pruneLogs(0, 0)).toBe(5);
  });

  it('keeps cursors apart from the lines, upserted with them in one transaction', () => {
    store.logs.appendLogs([entry(1)], [{ containerId: 'c1', ts: '1700000001.000000000', n: 1 }]);
    store.logs.appendLogs([], [{ containerId: 'c1', ts: '1700000002.000000000', n: 2 }]);
    store.logs.appendLogs([], [{ containerId: 'c2', ts: '1700000003.000000000', n: 1 }]);
    store.logs.pruneLogs(Number.MAX_SAFE_INTEGER, 0);
    expect(
      store.logs.logCursors().sort((a, b) => a.containerId.localeCompare(b.containerId)),
    ).toEqual([
      { containerId: 'c1', ts: '1700000002.000000000', n: 2 },
      { containerId: 'c2', ts: '1700000003.000000000', n: 1 },
    ]);
    store.logs.forgetLogCursors(['c1', 'nope']);
    expect(store.logs.logCursors().map((c) => c.containerId)).toEqual(['c2']);
    // A failing batch stores neither its lines nor its cursors.
    const bad = { ...entry(2), service: null as unknown as string };
    expect(() =>
      store.logs.appendLogs([entry(3), bad], [{ containerId: 'c3', ts: '1', n: 1 }]),
    ).toThrow();
    expect(store.logs.tailLogs({}, 10)).toEqual([]);
    expect(store.logs.logCursors().map((c) => c.containerId)).toEqual(['c2']);
  });

  it('migrates a version-1 database (releases kept) and survives reopening', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-logs-'));
    const file = path.join(dir, 'state.db');
    try {
      const raw = new Database(file);
      raw.exec(MIGRATIONS[0]);
      raw.pragma('user_version = 1');
      raw.close();
      const s1 = SqliteStore.open(file);
      expect(s1.schemaVersion()).toBe(MIGRATIONS.length);
      s1.logs.appendLogs([entry(1)], [{ containerId: 'c', ts: entry(1).tsNs, n: 1 }]);
      s1.close();
      const s2 = SqliteStore.open(file);
      expect(s2.logs.tailLogs({}, 10).map((e) => e.msg)).toEqual(['line 1']);
      expect(s2.logs.logCursors()).toEqual([{ containerId: 'c', ts: entry(1).tsNs, n: 1 }]);
      s2.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
