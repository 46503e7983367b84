// The audit log as the API writes it (into a real in-memory store), and `POST /v1/token/rotate`.
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { conflict, failed } from '../domain/errors';
import type { DeployEvent } from '../domain/types';
import { SqliteStore } from '../store/sqlite';
import { fakePlane, request, type Target } from '../testing/api-client';
import { ensureToken, rotateTokenFile } from './auth';
import { ApiServer, type ControlPlane } from './server';

const silent = pino({ level: 'silent' });

function spec(over: Record<string, unknown> = {}) {
  return {
    name: 'web',
    image: 'app:2',
    port: 8080,
    hosts: ['example.test'],
    replicas: 2,
    env: { DB_PASSWORD: 'hunter2' },
    healthcheck: {
      path: '/healthz',
      intervalMs: 1000,
      timeoutMs: 500,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    },
    deploy: {
      strategy: 'rolling',
      deployTimeoutMs: 60000,
      drainTimeoutMs: 5000,
      keepPreviousMs: 0,
    },
    ...over,
  };
}

const until = async (ok: () => boolean) => {
  const deadline = Date.now() + 3000;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  expect(ok()).toBe(true);
};

describe('the audit log of mutating API calls', () => {
  let dir: string;
  let store: SqliteStore;
  let api: ApiServer;
  let to: Target;
  let token: string;
  let deploy: ControlPlane['deploy'];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-audit-'));
    const file = path.join(dir, 'token');
    token = ensureToken(file);
    store = SqliteStore.openMemory({ now: () => 1_700_000_000_000, sleep: async () => {} });
    deploy = async (_b, service, sink) => {
      sink({ service, release: 3, at: 1, type: 'step', message: 'starting' });
      return { service, release: 3 };
    };
    const f = fakePlane({
      audit: (r) => store.audit(r),
      auditLog: (limit) => ({ entries: store.listAudit(limit) }),
      rotateToken: () => ({ token: rotateTokenFile(file), file }),
      deploy: (b, s, sink) => deploy(b, s, sink),
    });
    api = new ApiServer(f.plane, token, silent);
    await api.listen({ host: '127.0.0.1', port: 0 });
    to = { port: (api.address() as net.AddressInfo).port };
  });
  afterEach(async () => {
    await api.close();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const auth = () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
  const post = (p: string, body: unknown = {}, headers = auth()) =>
    request(to, 'POST', p, headers, JSON.stringify(body));
  const rows = () => store.listAudit(Infinity);

  it('a deploy: who, from where, what, the result and status, once its stream has ended; never the env', async () => {
    const r = await post('/v1/services/web/deploy', { spec: spec() });
    expect(r.status).toBe(200);
    expect(rows()).toEqual([
      {
        id: 1,
        at: 1_700_000_000_000,
        who: 'token',
        address: '127.0.0.1',
        method: 'POST',
        path: '/v1/services/web/deploy',
        action: 'deploy',
        target: 'web',
        result: 'ok',
        status: 200,
        detail: { image: 'app:2', strategy: 'rolling', release: 3 },
      },
    ]);
    expect(JSON.stringify(rows())).not.toContain('hunter2');
  });

  it('a deploy that outlives its client (--no-wait) is recorded when it ends, with how it ended', async () => {
    let finish!: (v: unknown) => void;
    let fail!: (e: Error) => void;
    let started = 0;
    deploy = (_b, service, sink) => {
      started++;
      sink({ service, release: 4, at: 1, type: 'step', message: 'starting' } as DeployEvent);
      return new Promise((res, rej) => ((finish = res), (fail = rej)));
    };
    // Read the first event, then hang up, as `deploy --no-wait` does.
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        {
          ...to,
          host: '127.0.0.1',
          method: 'POST',
          path: '/v1/services/web/deploy',
          headers: auth(),
        },
        (res) => res.once('data', () => (res.destroy(), resolve())),
      );
      req.on('error', reject);
      req.end(JSON.stringify({ spec: spec() }));
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(rows()).toEqual([]); // still running: nothing recorded yet
    finish({ service: 'web', release: 4 });
    await until(() => rows().length === 1);
    expect(rows()[0]).toMatchObject({
      action: 'deploy',
      result: 'ok',
      status: 200,
      detail: { release: 4 },
    });

    const second = post('/v1/services/web/deploy', { spec: spec() });
    await until(() => started === 2);
    fail(failed('web r5 failed its health checks; rolled back'));
    const r = await second;
    expect(r.status).toBe(200); // the error is the stream's last line
    expect(rows()[1]).toMatchObject({
      action: 'deploy',
      result: 'failed',
      status: 500,
      detail: { code: 'failed', error: 'web r5 failed its health checks; rolled back' },
    });
  });

  it('failures before the stream starts, bad bodies, unknown routes: failed, with their status', async () => {
    deploy = async () => {
      throw conflict('a deploy of web is in progress');
    };
    expect((await post('/v1/services/web/deploy', { spec: spec() })).status).toBe(409);
    expect((await post('/v1/services/web/scale', { replicas: -1 })).status).toBe(400);
    expect((await post('/v1/services/web/deploy', { spec: spec({ name: 'api' }) })).status).toBe(
      400,
    );
    expect((await post('/v1/explode')).status).toBe(404);
    expect(rows().map((a) => [a.action, a.target, a.result, a.status, a.detail.code])).toEqual([
      ['deploy', 'web', 'failed', 409, 'conflict'],
      ['scale', 'web', 'failed', 400, 'usage'],
      ['deploy', 'web', 'failed', 400, 'usage'],
      [null, null, 'failed', 404, 'not-found'],
    ]);
  });

  it('each mutating route, named; reads are not audited', async () => {
    await post('/v1/services/web/promote');
    await post('/v1/services/web/abort');
    await post('/v1/services/web/rollback', { to: 2 });
    await post('/v1/services/web/scale', { replicas: 3 });
    await post('/v1/previews', { name: 'pr-1', service: 'web', image: 'app:3', spec: spec() });
    await request(to, 'DELETE', '/v1/previews/pr%2D7', auth());
    await request(to, 'GET', '/v1/status', auth());
    await request(to, 'GET', '/v1/audit', auth());
    await post('/v1/shutdown', { remove: true });
    expect(rows().map((a) => [a.method, a.action, a.target, a.result, a.detail])).toEqual([
      ['POST', 'promote', 'web', 'ok', { release: 2 }],
      ['POST', 'abort', 'web', 'ok', { release: 2 }],
      ['POST', 'rollback', 'web', 'ok', { to: 2, release: 2 }],
      ['POST', 'scale', 'web', 'ok', { replicas: 3, release: 2 }],
      ['POST', 'preview-up', 'pr-1', 'ok', { service: 'web', image: 'app:3', release: 2 }],
      ['DELETE', 'preview-down', 'pr-7', 'ok', {}],
      ['POST', 'shutdown', null, 'ok', { remove: true }],
    ]);
  });

  it('refused calls: 401 as "anonymous", CSRF-less cookie POSTs as "dashboard"', async () => {
    await post(
      '/v1/services/web/rollback',
      {},
      { authorization: 'Bearer nope', 'content-type': 'application/json' },
    );
    const login = await request(to, 'POST', '/ui/login', {}, JSON.stringify({ token }));
    const cookie = String(login.headers['set-cookie']).split(';')[0];
    await request(to, 'POST', '/ui/login', {}, JSON.stringify({ token: 'guess' }));
    await post('/v1/services/web/promote', {}, { cookie } as never);
    await post('/v1/services/web/promote', {}, { cookie, 'x-shipit-ui': '1' } as never);
    await request(to, 'POST', '/ui/logout', { cookie, 'x-shipit-ui': '1' });
    expect(rows().map((a) => [a.who, a.action, a.result, a.status])).toEqual([
      ['anonymous', 'rollback', 'refused', 401],
      ['dashboard', 'login', 'ok', 200],
      ['dashboard', 'login', 'refused', 401],
      ['dashboard', 'promote', 'refused', 403],
      ['dashboard', 'promote', 'ok', 200],
      ['dashboard', 'logout', 'ok', 200],
    ]);
    expect(rows()[0].detail).toEqual({ code: 'unauthorized', error: 'missing or wrong API token' });
  });

  it('GET /v1/audit?limit=N: the newest N, newest last', async () => {
    for (const s of ['a', 'b', 'c']) await post(`/v1/services/${s}/promote`);
    const r = await request(to, 'GET', '/v1/audit?limit=2', auth());
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).entries.map((e: { target: string }) => e.target)).toEqual(['b', 'c']);
  });

  it('a failing audit write does not break the call', async () => {
    store.close();
    expect((await post('/v1/services/web/promote')).status).toBe(200);
  });

  it('token rotate: new 0600 file, old token refused at once, dashboard sessions dropped, audited', async () => {
    const old = token;
    const login = await request(to, 'POST', '/ui/login', {}, JSON.stringify({ token: old }));
    const cookie = String(login.headers['set-cookie']).split(';')[0];
    expect((await request(to, 'GET', '/v1/status', { cookie })).status).toBe(200);

    const r = await post('/v1/token/rotate');
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body);
    expect(body).toEqual({ ok: true, file: path.join(dir, 'token'), token: expect.any(String) });
    expect(body.token).not.toBe(old);
    expect(fs.readFileSync(body.file, 'utf8')).toBe(`${body.token}\n`);
    expect(fs.statSync(body.file).mode & 0o777).toBe(0o600);

    expect(
      (await request(to, 'GET', '/v1/status', { authorization: `Bearer ${old}` })).status,
    ).toBe(401);
    expect((await request(to, 'GET', '/v1/status', { cookie })).status).toBe(401);
    expect(
      (await request(to, 'POST', '/ui/login', {}, JSON.stringify({ token: old }))).status,
    ).toBe(401);
    expect(
      (await request(to, 'GET', '/v1/status', { authorization: `Bearer ${body.token}` })).status,
    ).toBe(200);
    expect(rows()[1]).toMatchObject({
      who: 'token',
      action: 'token-rotate',
      result: 'ok',
      status: 200,
      detail: { file: body.file },
    });
    expect(JSON.stringify(rows())).not.toContain(body.token);
  });

  it('token rotate that cannot write the file keeps the old token', async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    const r = await post('/v1/token/rotate');
    expect(r.status).toBe(500);
    expect((await request(to, 'GET', '/v1/status', auth())).status).toBe(200);
    expect(rows()[0]).toMatchObject({ action: 'token-rotate', result: 'failed', status: 500 });
  });
});
