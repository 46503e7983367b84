// Authentication of the control API, route by route: the routes come from the table the server
// dispatches through (ROUTES), so a route added there is checked here without anyone listing it.
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ShipitError } from '../domain/errors';
import { fakePlane, request, type Target } from '../testing/api-client';
import { ROUTES } from './routes';
import { ApiServer, type ApiOptions } from './server';

const TOKEN = 'dGhlLWNvbnRyb2wtYXBpLXRva2VuLWZvci10ZXN0cw';
const silent = pino({ level: 'silent' });
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** A concrete URL for a route pattern. */
const urlOf = (p: string) => p.replace(':service', 'web').replace(':name', 'pr-1');

const BAD: [string, Record<string, string>][] = [
  ['missing', {}],
  ['wrong', bearer(`${TOKEN.slice(0, -1)}${TOKEN.endsWith('A') ? 'B' : 'A'}`)],
  ['wrong, other length', bearer('not-the-token')],
  ['longer', bearer(`${TOKEN}x`)],
  ['truncated', bearer(TOKEN.slice(0, -1))],
  ['truncated to 8', bearer(TOKEN.slice(0, 8))],
  ['empty bearer', { authorization: 'Bearer ' }],
  ['scheme only', { authorization: 'Bearer' }],
  ['Basic scheme', { authorization: `Basic ${TOKEN}` }],
  ['Token scheme', { authorization: `Token ${TOKEN}` }],
  ['no scheme', { authorization: TOKEN }],
  ['token in a cookie', { cookie: `shipit_session=${TOKEN}` }],
];

async function serve(opts: ApiOptions = {}, socketPath?: string) {
  // Rotating "to" the same token keeps the other cases' token valid.
  const f = fakePlane({
    rotateToken: () => (f.calls.push('rotateToken'), { token: TOKEN, file: 'f' }),
  });
  const api = new ApiServer(f.plane, TOKEN, silent, opts);
  await api.listen(socketPath ? { socketPath } : { host: '127.0.0.1', port: 0 });
  const to: Target = socketPath
    ? { socketPath }
    : { port: (api.address() as net.AddressInfo).port };
  return { ...f, api, to };
}

describe('every API route but /healthz needs the token', () => {
  let s: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    s = await serve({ rateLimit: { maxFailures: 1_000_000 } });
  });
  afterAll(() => s.api.close());
  beforeEach(() => {
    s.calls.length = 0;
    s.audited.length = 0;
  });

  it('the route table holds every route of SPEC §4 (and is what the server dispatches)', () => {
    const names = ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'GET /v1/status',
        'GET /v1/releases',
        'GET /v1/logs',
        'GET /v1/events',
        'GET /v1/previews',
        'GET /v1/audit',
        'GET /metrics',
        'POST /v1/services/:service/deploy',
        'POST /v1/services/:service/promote',
        'POST /v1/services/:service/abort',
        'POST /v1/services/:service/rollback',
        'POST /v1/services/:service/scale',
        'POST /v1/previews',
        'DELETE /v1/previews/:name',
        'POST /v1/token/rotate',
      ]),
    );
    expect(new Set(names).size).toBe(names.length);
  });

  it('every mutating route has a name for the audit log', () => {
    for (const r of ROUTES)
      if (r.method !== 'GET') expect([r.path, r.action]).toEqual([r.path, expect.any(String)]);
  });

  describe.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))('%s', (_name, route) => {
    const url = urlOf(route.path);

    it.each(BAD)('%s token: 401 with a JSON error, and nothing runs', async (_kind, headers) => {
      const body = route.method === 'GET' ? undefined : '{}';
      const r = await request(s.to, route.method, url, headers, body);
      expect(r.status).toBe(401);
      expect(r.headers['content-type']).toBe('application/json');
      expect(JSON.parse(r.body)).toEqual({
        error: 'missing or wrong API token',
        code: 'unauthorized',
        hint: expect.stringContaining('.shipit/token'),
      });
      expect(s.calls).toEqual([]);
    });

    it('the right token reaches the handler', async () => {
      const r = await request(
        s.to,
        route.method,
        url,
        bearer(TOKEN),
        route.method === 'GET' ? undefined : '{}',
      );
      expect([401, 403, 404, 429]).not.toContain(r.status);
      // Either the plane was called, or the handler's validation refused the empty body.
      if (r.status === 400) expect(JSON.parse(r.body).error).toMatch(/^invalid request: /);
      else expect(s.calls.length).toBeGreaterThan(0);
    });
  });

  it('/healthz needs no token, and a wrong one does not matter', async () => {
    for (const headers of [{}, bearer('wrong')]) {
      const r = await request(s.to, 'GET', '/healthz', headers);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({ ok: true, pid: process.pid });
    }
  });

  it('an unknown route is a 401 without the token (no route discovery), a 404 with it', async () => {
    expect((await request(s.to, 'GET', '/v1/nope')).status).toBe(401);
    expect((await request(s.to, 'POST', '/v1/services/web/explode')).status).toBe(401);
    expect((await request(s.to, 'GET', '/v1/nope', bearer(TOKEN))).status).toBe(404);
  });
});

describe('the API token can never be empty', () => {
  it('an ApiServer refuses to be built with an empty or blank token', () => {
    for (const t of ['', '   ', '\n'])
      expect(() => new ApiServer(fakePlane().plane, t, silent)).toThrow(ShipitError);
  });

  it('setToken refuses an empty token and keeps the old one', async () => {
    const s = await serve();
    try {
      expect(() => s.api.setToken('')).toThrow(/non-empty token/);
      expect((await request(s.to, 'GET', '/v1/status', bearer(TOKEN))).status).toBe(200);
      expect((await request(s.to, 'GET', '/v1/status', { authorization: 'Bearer ' })).status).toBe(
        401,
      );
    } finally {
      await s.api.close();
    }
  });
});

describe('auth failures are rate-limited per client', () => {
  let now = 0;
  const opts = (): ApiOptions => ({
    rateLimit: { maxFailures: 3, cooldownMs: 10_000, now: () => now },
  });
  const login = (to: Target, token: string) =>
    request(
      to,
      'POST',
      '/ui/login',
      { 'content-type': 'application/json' },
      JSON.stringify({ token }),
    );

  beforeEach(() => (now = 1_000_000));

  it('after 3 wrong tokens: 429 with Retry-After, even for the right token; the cool-down doubles', async () => {
    const s = await serve(opts());
    try {
      for (let i = 0; i < 3; i++)
        expect((await request(s.to, 'GET', '/v1/status', bearer('guess'))).status).toBe(401);
      const r = await request(s.to, 'GET', '/v1/status', bearer(TOKEN));
      expect(r.status).toBe(429);
      expect(r.headers['retry-after']).toBe('10');
      expect(r.headers['content-type']).toBe('application/json');
      expect(JSON.parse(r.body)).toMatchObject({
        code: 'rate-limited',
        error: 'too many failed authentication attempts from 127.0.0.1: try again in 10s',
      });
      expect(s.calls).toEqual([]);
      expect((await request(s.to, 'GET', '/healthz')).status).toBe(200); // no token: not limited
      now += 10_000;
      expect((await request(s.to, 'GET', '/v1/status', bearer(TOKEN))).status).toBe(200);
      for (let i = 0; i < 3; i++) await request(s.to, 'GET', '/v1/status', bearer('guess'));
      expect((await request(s.to, 'GET', '/v1/status', bearer(TOKEN))).headers['retry-after']).toBe(
        '20',
      );
    } finally {
      await s.api.close();
    }
  });

  it('requests without any credential are not guesses: they do not count', async () => {
    const s = await serve(opts());
    try {
      for (let i = 0; i < 10; i++)
        expect((await request(s.to, 'GET', '/v1/status')).status).toBe(401);
      for (let i = 0; i < 5; i++)
        expect(
          (await request(s.to, 'GET', '/v1/status', { cookie: 'shipit_session=stale' })).status,
        ).toBe(401);
      expect((await login(s.to, '')).status).toBe(401);
      expect((await request(s.to, 'GET', '/v1/status', bearer(TOKEN))).status).toBe(200);
    } finally {
      await s.api.close();
    }
  });

  it('the dashboard login goes through the same limiter, both ways', async () => {
    const s = await serve(opts());
    try {
      for (let i = 0; i < 3; i++) expect((await login(s.to, 'guess')).status).toBe(401);
      const blocked = await login(s.to, TOKEN);
      expect(blocked.status).toBe(429);
      expect(blocked.headers['set-cookie']).toBeUndefined();
      expect((await request(s.to, 'GET', '/v1/status', bearer(TOKEN))).status).toBe(429);
      now += 10_000;
      await request(s.to, 'GET', '/v1/status', bearer('guess'));
      await request(s.to, 'GET', '/v1/status', bearer('guess'));
      await login(s.to, 'guess');
      expect((await login(s.to, TOKEN)).status).toBe(429);
      expect((await request(s.to, 'GET', '/ui/app.js')).status).toBe(200); // static files stay public
    } finally {
      await s.api.close();
    }
  });

  it('unix-socket clients are one local client, audited as "unix"; refusals of mutating calls are audited once per lock-out', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-rl-'));
    const s = await serve(opts(), path.join(dir, 'api.sock'));
    try {
      const promote = (t: string) =>
        request(s.to, 'POST', '/v1/services/web/promote', bearer(t), '{}');
      for (let i = 0; i < 3; i++) expect((await promote('guess')).status).toBe(401);
      expect((await promote(TOKEN)).status).toBe(429);
      expect((await promote(TOKEN)).status).toBe(429);
      expect((await request(s.to, 'GET', '/v1/status', bearer('guess'))).status).toBe(429);
      expect(
        s.audited.map((a) => [a.who, a.address, a.action, a.target, a.result, a.status]),
      ).toEqual([
        ['anonymous', 'unix', 'promote', 'web', 'refused', 401],
        ['anonymous', 'unix', 'promote', 'web', 'refused', 401],
        ['anonymous', 'unix', 'promote', 'web', 'refused', 401],
        ['anonymous', 'unix', 'promote', 'web', 'refused', 429],
      ]);
      expect(s.calls).toEqual([]);
    } finally {
      await s.api.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
