import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ShipitError } from '../domain/errors';
import type { DeployEvent, ReleaseRecord, ServiceSpec } from '../domain/types';
import { MIGRATIONS, SqliteStore } from './sqlite';

function spec(name = 'web', image = 'app:1'): ServiceSpec {
  return {
    name,
    image,
    port: 8080,
    hosts: ['example.test'],
    replicas: 2,
    env: { A: '1' },
    command: ['node', 'server.js'],
    resources: { memoryBytes: 256 * 1024 * 1024, cpus: 0.5 },
    healthcheck: {
      path: '/healthz',
      intervalMs: 1000,
      timeoutMs: 500,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    },
    deploy: {
      strategy: 'blue-green',
      deployTimeoutMs: 60000,
      drainTimeoutMs: 5000,
      keepPreviousMs: 600000,
    },
  };
}

function release(over: Partial<ReleaseRecord> = {}): ReleaseRecord {
  const service = over.service ?? 'web';
  return {
    service,
    number: 1,
    image: 'app:1',
    strategy: 'blue-green',
    spec: spec(service),
    status: 'deploying',
    replicas: 2,
    startedAt: 1000,
    finishedAt: null,
    result: null,
    reason: null,
    demotedAt: null,
    ...over,
  };
}

function event(over: Partial<DeployEvent> = {}): DeployEvent {
  return { service: 'web', release: 1, at: 1, type: 'step', message: 'm', ...over };
}

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-store-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('SqliteStore releases', () => {
  let store: SqliteStore;
  beforeEach(() => {
    store = SqliteStore.openMemory();
  });
  afterEach(() => store.close());

  it('round-trips a release with all fields, including the JSON spec', () => {
    const r = release({
      number: 7,
      status: 'live',
      finishedAt: 2000,
      result: 'succeeded',
      reason: 'because',
      demotedAt: 3000,
      strategy: 'canary',
    });
    store.insertRelease(r);
    expect(store.getRelease('web', 7)).toEqual(r);
    expect(store.getRelease('web', 8)).toBeNull();
    expect(store.getRelease('api', 7)).toBeNull();
  });

  it('round-trips nulls', () => {
    const r = release();
    store.insertRelease(r);
    const got = store.getRelease('web', 1)!;
    expect(got.finishedAt).toBeNull();
    expect(got.result).toBeNull();
    expect(got.reason).toBeNull();
    expect(got.demotedAt).toBeNull();
  });

  it('numbers releases per service as 1 + the highest recorded', () => {
    expect(store.nextReleaseNumber('web')).toBe(1);
    store.insertRelease(release({ number: 1 }));
    expect(store.nextReleaseNumber('web')).toBe(2);
    store.insertRelease(release({ number: 5 }));
    store.insertRelease(release({ number: 3 }));
    expect(store.nextReleaseNumber('web')).toBe(6);
    expect(store.nextReleaseNumber('api')).toBe(1);
  });

  it('rejects a duplicate (service, number) with the SQLite error', () => {
    store.insertRelease(release());
    expect(() => store.insertRelease(release())).toThrow(/UNIQUE constraint failed/);
    // the same number in another service is fine
    store.insertRelease(release({ service: 'api' }));
  });

  it('updateRelease touches only the given fields', () => {
    const r = release({ reason: 'keep me', replicas: 3 });
    store.insertRelease(r);
    store.updateRelease('web', 1, { status: 'live', finishedAt: 5000, result: 'succeeded' });
    expect(store.getRelease('web', 1)).toEqual({
      ...r,
      status: 'live',
      finishedAt: 5000,
      result: 'succeeded',
    });

    store.updateRelease('web', 1, { status: 'previous', demotedAt: 6000, replicas: 1 });
    expect(store.getRelease('web', 1)).toEqual({
      ...r,
      status: 'previous',
      finishedAt: 5000,
      result: 'succeeded',
      demotedAt: 6000,
      replicas: 1,
    });

    // explicit null clears, undefined leaves alone
    store.updateRelease('web', 1, { reason: null, demotedAt: undefined });
    const got = store.getRelease('web', 1)!;
    expect(got.reason).toBeNull();
    expect(got.demotedAt).toBe(6000);

    // an empty patch changes nothing
    store.updateRelease('web', 1, {});
    expect(store.getRelease('web', 1)).toEqual(got);
  });

  it('updateRelease does not touch other releases', () => {
    store.insertRelease(release({ number: 1 }));
    store.insertRelease(release({ number: 2 }));
    store.insertRelease(release({ service: 'api', number: 1 }));
    store.updateRelease('web', 2, { status: 'failed' });
    expect(store.getRelease('web', 1)!.status).toBe('deploying');
    expect(store.getRelease('api', 1)!.status).toBe('deploying');
    expect(store.getRelease('web', 2)!.status).toBe('failed');
  });

  it('updateRelease of a missing release throws not-found', () => {
    let err: unknown;
    try {
      store.updateRelease('web', 9, { status: 'live' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ShipitError);
    expect((err as ShipitError).code).toBe('not-found');
  });

  it('lists releases of one service newest first by number', () => {
    store.insertRelease(release({ number: 2, startedAt: 100 }));
    store.insertRelease(release({ number: 3, startedAt: 50 }));
    store.insertRelease(release({ number: 1, startedAt: 200 }));
    store.insertRelease(release({ service: 'api', number: 9 }));
    expect(store.listReleases('web').map((r) => r.number)).toEqual([3, 2, 1]);
    expect(store.listReleases('web', 2).map((r) => r.number)).toEqual([3, 2]);
    expect(store.listReleases('nope')).toEqual([]);
  });

  it('lists releases across services by start time, then number, newest first', () => {
    store.insertRelease(release({ service: 'web', number: 1, startedAt: 100 }));
    store.insertRelease(release({ service: 'api', number: 1, startedAt: 300 }));
    store.insertRelease(release({ service: 'web', number: 2, startedAt: 200 }));
    store.insertRelease(release({ service: 'api', number: 2, startedAt: 200 }));
    store.insertRelease(release({ service: 'web', number: 3, startedAt: 200 }));
    const got = store.listReleases().map((r) => `${r.service}/${r.number}`);
    expect(got).toEqual(['api/1', 'web/3', 'api/2', 'web/2', 'web/1']);
    expect(store.listReleases(undefined, 2).map((r) => `${r.service}/${r.number}`)).toEqual([
      'api/1',
      'web/3',
    ]);
  });

  it('limits release lists to 100 by default', () => {
    for (let n = 1; n <= 105; n++) store.insertRelease(release({ number: n, startedAt: n }));
    expect(store.listReleases('web')).toHaveLength(100);
    expect(store.listReleases()).toHaveLength(100);
    expect(store.listReleases('web')[0].number).toBe(105);
    expect(store.listReleases('web', 1000)).toHaveLength(105);
    expect(store.listReleases('web', 0)).toHaveLength(0);
  });

  it('finds releases by status, newest first', () => {
    store.insertRelease(release({ number: 1, status: 'retired', startedAt: 1 }));
    store.insertRelease(release({ number: 2, status: 'previous', startedAt: 2 }));
    store.insertRelease(release({ number: 3, status: 'live', startedAt: 3 }));
    store.insertRelease(release({ number: 4, status: 'failed', startedAt: 4 }));
    store.insertRelease(release({ service: 'api', number: 1, status: 'live', startedAt: 5 }));
    store.insertRelease(release({ service: 'api', number: 2, status: 'deploying', startedAt: 6 }));

    const key = (rs: ReleaseRecord[]) => rs.map((r) => `${r.service}/${r.number}`);
    expect(key(store.releasesWithStatus(['live']))).toEqual(['api/1', 'web/3']);
    expect(key(store.releasesWithStatus(['live', 'previous'], 'web'))).toEqual(['web/3', 'web/2']);
    expect(key(store.releasesWithStatus(['deploying', 'live']))).toEqual([
      'api/2',
      'api/1',
      'web/3',
    ]);
    expect(store.releasesWithStatus(['deploying'], 'web')).toEqual([]);
    expect(store.releasesWithStatus([])).toEqual([]);

    store.updateRelease('web', 3, { status: 'previous' });
    expect(key(store.releasesWithStatus(['previous'], 'web'))).toEqual(['web/3', 'web/2']);
  });
});

describe('SqliteStore events and audit', () => {
  let store: SqliteStore;
  beforeEach(() => {
    store = SqliteStore.openMemory({ now: () => 4242, sleep: async () => {} });
  });
  afterEach(() => store.close());

  it('round-trips events, with and without data', () => {
    const a = event({ data: { weights: { 1: 50, 2: 50 }, ok: true, list: [1, 'x'] } });
    const b = event({ release: null, type: 'note', message: 'no release' });
    store.appendEvent(a);
    store.appendEvent(b);
    const got = store.listEvents();
    expect(got).toEqual([a, b]);
    expect('data' in got[1]).toBe(false);
  });

  it('returns events oldest first in append order, filtered and limited to the most recent', () => {
    for (let i = 1; i <= 5; i++)
      store.appendEvent(event({ release: 1, at: i, message: `w1-${i}` }));
    for (let i = 1; i <= 3; i++)
      store.appendEvent(event({ release: 2, at: 10 + i, message: `w2-${i}` }));
    store.appendEvent(event({ service: 'api', release: 1, at: 20, message: 'a1' }));
    store.appendEvent(event({ release: null, at: 21, message: 'w-none' }));

    const msgs = (es: DeployEvent[]) => es.map((e) => e.message);
    expect(msgs(store.listEvents())).toEqual([
      'w1-1',
      'w1-2',
      'w1-3',
      'w1-4',
      'w1-5',
      'w2-1',
      'w2-2',
      'w2-3',
      'a1',
      'w-none',
    ]);
    expect(msgs(store.listEvents(undefined, undefined, 3))).toEqual(['w2-3', 'a1', 'w-none']);
    expect(msgs(store.listEvents('web', 1))).toEqual(['w1-1', 'w1-2', 'w1-3', 'w1-4', 'w1-5']);
    expect(msgs(store.listEvents('web', 1, 2))).toEqual(['w1-4', 'w1-5']);
    expect(msgs(store.listEvents('web', undefined, 2))).toEqual(['w2-3', 'w-none']);
    expect(msgs(store.listEvents('api'))).toEqual(['a1']);
    expect(msgs(store.listEvents(undefined, 1, 2))).toEqual(['w1-5', 'a1']);
    expect(store.listEvents('web', 1, 0)).toEqual([]);
    expect(store.listEvents('nope')).toEqual([]);
  });

  it('orders events by append order even when timestamps go backwards', () => {
    store.appendEvent(event({ at: 100, message: 'first' }));
    store.appendEvent(event({ at: 50, message: 'second' }));
    expect(store.listEvents().map((e) => e.message)).toEqual(['first', 'second']);
  });

  it('records audit entries with the clock time, newest last (sqlite-audit.test.ts has the rest)', () => {
    const deploy = {
      who: 'token',
      address: 'unix',
      method: 'POST',
      path: '/v1/services/web/deploy',
      action: 'deploy',
      target: 'web',
      result: 'ok' as const,
      status: 200,
      detail: { image: 'app:2' },
    };
    const rollback = {
      ...deploy,
      path: '/v1/services/web/rollback',
      action: 'rollback',
      result: 'failed' as const,
      status: 409,
      detail: {},
    };
    store.audit(deploy);
    store.audit(rollback);
    expect(store.listAudit()).toEqual([
      { id: 1, at: 4242, ...deploy },
      { id: 2, at: 4242, ...rollback },
    ]);
    expect(store.listAudit(1).map((a) => a.action)).toEqual(['rollback']);
  });
});

describe('SqliteStore on disk', () => {
  it('creates the parent directory and uses WAL', () => {
    const file = path.join(tmp, 'a', 'b', 'state.db');
    const store = SqliteStore.open(file);
    store.insertRelease(release());
    store.close();
    expect(fs.existsSync(file)).toBe(true);

    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('migrations are idempotent: reopening keeps data and schema version', () => {
    const file = path.join(tmp, 'state.db');
    const s1 = SqliteStore.open(file);
    expect(s1.schemaVersion()).toBe(MIGRATIONS.length);
    s1.insertRelease(release());
    s1.appendEvent(event());
    s1.close();

    const s2 = SqliteStore.open(file);
    expect(s2.schemaVersion()).toBe(MIGRATIONS.length);
    expect(s2.getRelease('web', 1)).toEqual(release());
    expect(s2.listEvents()).toHaveLength(1);
    // and two connections open at the same time are fine
    const s3 = SqliteStore.open(file);
    expect(s3.nextReleaseNumber('web')).toBe(2);
    s3.close();
    s2.close();
  });

  it('refuses a database from a newer schema', () => {
    const file = path.join(tmp, 'state.db');
    const raw = new Database(file);
    raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    expect(() => SqliteStore.open(file)).toThrow(/newer/);
  });

  it('surfaces SQLite errors from open', () => {
    const file = path.join(tmp, 'not-a-db');
    fs.writeFileSync(file, 'this is not a sqlite database, not even a little bit'.repeat(100));
    expect(() => SqliteStore.open(file)).toThrow(/not a database/);
  });

  it('close is idempotent', () => {
    const store = SqliteStore.openMemory();
    store.close();
    expect(() => store.close()).not.toThrow();
  });

  it('keeps a write made by a process killed with SIGKILL right after it', async () => {
    const file = path.join(tmp, 'state.db');
    const parent = SqliteStore.open(file);
    parent.insertRelease(release({ number: 1, status: 'live' }));

    // The child loads the real TypeScript module via a tiny transpile-on-require hook, writes,
    // reports "written", then idles with the database still open until it is killed.
    const child = `
      const fs = require('fs');
      const ts = require(${JSON.stringify(require.resolve('typescript'))});
      require.extensions['.ts'] = (m, filename) => {
        const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
          fileName: filename,
          compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        }).outputText;
        m._compile(out, filename);
      };
      const { SqliteStore } = require(${JSON.stringify(path.join(__dirname, 'sqlite.ts'))});
      const store = SqliteStore.open(process.argv[1]);
      const r = JSON.parse(process.argv[2]);
      r.number = store.nextReleaseNumber(r.service);
      store.insertRelease(r);
      store.appendEvent({ service: r.service, release: r.number, at: 7, type: 'child', message: 'hi' });
      process.stdout.write('written\\n');
      setInterval(() => {}, 1000);
    `;
    const proc = spawn(
      process.execPath,
      ['-e', child, file, JSON.stringify(release({ startedAt: 2000 }))],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        let out = '';
        proc.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('written')) proc.kill('SIGKILL');
        });
        proc.on('error', reject);
        proc.on('exit', (code, signal) => resolve({ code, signal }));
      },
    );
    expect(stderr).toBe('');
    expect(exit.signal).toBe('SIGKILL');

    // the killed process never closed or checkpointed: its commit is only in the WAL
    expect(fs.existsSync(`${file}-wal`)).toBe(true);
    expect(parent.getRelease('web', 2)).toMatchObject({
      service: 'web',
      number: 2,
      startedAt: 2000,
    });
    parent.close();

    const reopened = SqliteStore.open(file);
    expect(reopened.getRelease('web', 1)!.status).toBe('live');
    expect(reopened.getRelease('web', 2)).toEqual(release({ number: 2, startedAt: 2000 }));
    expect(reopened.listEvents('web', 2)).toEqual([
      { service: 'web', release: 2, at: 7, type: 'child', message: 'hi' },
    ]);
    expect(reopened.nextReleaseNumber('web')).toBe(3);
    reopened.close();
  });
});
