import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { ApiServer, type ControlPlane } from './server';
import { Dashboard, SESSION_TTL_MS, SessionStore, UI_DIR, parseCookies } from './ui';

const TOKEN = 'c2VjcmV0LXRva2VuLWZvci10ZXN0cw';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(
  port: number,
  method: string,
  urlPath: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: urlPath, headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function sessionCookie(r: Reply): string {
  const set = r.headers['set-cookie'] ?? [];
  const c = set.find((x) => x.startsWith('shipit_session='));
  if (!c) throw new Error(`no session cookie in ${JSON.stringify(set)}`);
  return c.split(';')[0];
}

describe('SessionStore', () => {
  it('issues distinct random ids that are valid until they expire', () => {
    let now = 1_000;
    const s = new SessionStore(60_000, () => now);
    const a = s.create();
    const b = s.create();
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s.valid(a)).toBe(true);
    expect(s.valid(`${a}x`)).toBe(false);
    expect(s.valid(undefined)).toBe(false);
    expect(s.valid('')).toBe(false);
    now += 59_999;
    expect(s.valid(a)).toBe(true);
    now += 1;
    expect(s.valid(a)).toBe(false);
    expect(s.size).toBe(1); // the expired one checked above is gone
    s.create(); // creating prunes the other expired one
    expect(s.size).toBe(1);
    expect(s.valid(b)).toBe(false);
  });

  it('destroys a session on logout', () => {
    const s = new SessionStore();
    const a = s.create();
    s.destroy(a);
    s.destroy(undefined);
    expect(s.valid(a)).toBe(false);
  });

  it('keeps at most 1000 sessions, dropping the oldest', () => {
    const s = new SessionStore();
    const first = s.create();
    for (let i = 0; i < 1000; i++) s.create();
    expect(s.size).toBe(1000);
    expect(s.valid(first)).toBe(false);
  });

  it('defaults to a 12 hour lifetime', () => {
    expect(SESSION_TTL_MS).toBe(12 * 3600 * 1000);
  });
});

describe('parseCookies', () => {
  it('reads name=value pairs and keeps the first of duplicates', () => {
    expect(parseCookies('a=1; shipit_session=xyz; b = 2 ; a=3; junk; =v')).toEqual({
      a: '1',
      shipit_session: 'xyz',
      b: '2',
    });
    expect(parseCookies(undefined)).toEqual({});
  });
});

describe('Dashboard.authenticate', () => {
  const fakeReq = (method: string, headers: Record<string, string>) =>
    ({ method, headers }) as unknown as http.IncomingMessage;

  it('bearer wins; a session cookie needs the UI header on POST; an expired one counts for nothing', () => {
    let now = 0;
    const d = new Dashboard(TOKEN, new SessionStore(1000, () => now));
    const id = d.sessions.create();
    const cookie = `shipit_session=${id}`;
    expect(d.authenticate(fakeReq('POST', {}), true)).toBe('bearer');
    expect(d.authenticate(fakeReq('GET', {}), false)).toBe('none');
    expect(d.authenticate(fakeReq('GET', { cookie }), false)).toBe('session');
    expect(d.authenticate(fakeReq('POST', { cookie }), false)).toBe('csrf');
    expect(d.authenticate(fakeReq('POST', { cookie, 'x-shipit-ui': '0' }), false)).toBe('csrf');
    expect(d.authenticate(fakeReq('POST', { cookie, 'x-shipit-ui': '1' }), false)).toBe('session');
    expect(d.authenticate(fakeReq('GET', { cookie: `shipit_session=${TOKEN}` }), false)).toBe(
      'none',
    );
    now = 1000;
    expect(d.authenticate(fakeReq('GET', { cookie }), false)).toBe('none');
  });
});

describe('dashboard routes on the API server', () => {
  const calls: string[] = [];
  const plane = {
    status: () => ({ project: 'p', services: [] }),
    releases: () => ({ releases: [] }),
    events: () => ({ events: [] }),
    promote: async (service: string, sink: (e: unknown) => void) => {
      calls.push(`promote ${service}`);
      sink({ service, release: 2, at: 1, type: 'live', message: `${service} r2 is live` });
      return { service, release: 2 };
    },
    abort: async () => ({}),
    rollback: async () => ({}),
    deploy: async () => ({}),
    shutdown: async () => {},
    handOver: async () => ({ from: 1, to: 2 }),
    audit: () => {},
  } as unknown as ControlPlane;
  const api = new ApiServer(plane, TOKEN, pino({ level: 'silent' }));
  let port = 0;

  beforeAll(async () => {
    await api.listen({ host: '127.0.0.1', port: 0 });
    port = (api.address() as net.AddressInfo).port;
  });
  afterAll(() => api.close());
  beforeEach(() => (calls.length = 0));

  const login = async (): Promise<string> => {
    const r = await request(
      port,
      'POST',
      '/ui/login',
      { 'content-type': 'application/json' },
      JSON.stringify({ token: TOKEN }),
    );
    expect(r.status).toBe(200);
    return sessionCookie(r);
  };

  it.each([
    ['/ui', 'index.html', 'text/html; charset=utf-8'],
    ['/ui/', 'index.html', 'text/html; charset=utf-8'],
    ['/ui/index.html', 'index.html', 'text/html; charset=utf-8'],
    ['/ui/app.js', 'app.js', 'text/javascript; charset=utf-8'],
    ['/ui/style.css', 'style.css', 'text/css; charset=utf-8'],
  ])(
    'serves %s without a token, with its type, no-store and a strict CSP',
    async (p, file, type) => {
      const r = await request(port, 'GET', p);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe(type);
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.headers['content-security-policy']).toMatch(/^default-src 'self'/);
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.body).toBe(fs.readFileSync(path.join(UI_DIR, file), 'utf8'));
    },
  );

  it('finds the assets in the top-level ui/ folder', () => {
    expect(UI_DIR).toBe(path.resolve(__dirname, '..', '..', 'ui'));
    expect(fs.readFileSync(path.join(UI_DIR, 'index.html'), 'utf8')).toContain('/ui/app.js');
  });

  it.each([
    '/ui/../package.json',
    '/ui/%2e%2e/package.json',
    '/ui/..%2fpackage.json',
    '/ui/..%2f..%2fpackage.json',
    '/ui/app.js/../../package.json',
    '/ui//etc/passwd',
    '/ui/%2fetc%2fpasswd',
    '/ui/app.js%00',
    '/ui/APP.JS',
    '/ui/ui.ts',
    '/ui/nope.html',
  ])('never serves anything outside the allow-list: %s', async (p) => {
    const r = await request(port, 'GET', p);
    expect([401, 404]).toContain(r.status);
    expect(r.body).not.toContain('"devDependencies"');
    expect(r.body).not.toContain('root:');
  });

  it('answers 404 for other methods on assets, and HEAD without a body', async () => {
    expect((await request(port, 'POST', '/ui/app.js')).status).toBe(404);
    expect((await request(port, 'DELETE', '/ui')).status).toBe(404);
    const head = await request(port, 'HEAD', '/ui');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('login with a wrong or missing token: 401 and no cookie', async () => {
    for (const body of [
      JSON.stringify({ token: 'nope' }),
      '{}',
      'not json',
      JSON.stringify({ token: 5 }),
    ]) {
      const r = await request(
        port,
        'POST',
        '/ui/login',
        { 'content-type': 'application/json' },
        body,
      );
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body).error).toMatch(/wrong token/);
      expect(r.headers['set-cookie']).toBeUndefined();
    }
    const form = await request(
      port,
      'POST',
      '/ui/login',
      { 'content-type': 'application/x-www-form-urlencoded' },
      `token=${TOKEN}x`,
    );
    expect(form.status).toBe(401);
  });

  it('login with the token sets an HttpOnly, SameSite=Strict session cookie that is not the token', async () => {
    const r = await request(
      port,
      'POST',
      '/ui/login',
      { 'content-type': 'application/json' },
      JSON.stringify({ token: TOKEN }),
    );
    expect(r.status).toBe(200);
    const set = (r.headers['set-cookie'] ?? []).join('\n');
    expect(set).toMatch(/^shipit_session=[A-Za-z0-9_-]{43}; /);
    expect(set).toContain('HttpOnly');
    expect(set).toContain('SameSite=Strict');
    expect(set).toContain('Path=/;');
    expect(set).toContain(`Max-Age=${12 * 3600}`);
    expect(set).not.toContain(TOKEN);
    const form = await request(
      port,
      'POST',
      '/ui/login',
      { 'content-type': 'application/x-www-form-urlencoded' },
      `token=${encodeURIComponent(TOKEN)}`,
    );
    expect(form.status).toBe(200);
    expect(sessionCookie(form)).not.toBe(sessionCookie(r));
  });

  it('refuses an oversized login body', async () => {
    const r = await request(
      port,
      'POST',
      '/ui/login',
      { 'content-type': 'application/json' },
      JSON.stringify({ token: 'x'.repeat(10_000) }),
    ).catch(() => ({ status: 400 }) as Reply); // the server may cut the upload short
    expect(r.status).toBe(400);
  });

  it('the session cookie authenticates reads; a made-up one does not', async () => {
    const cookie = await login();
    expect((await request(port, 'GET', '/v1/status', { cookie })).status).toBe(200);
    const forged = await request(port, 'GET', '/v1/status', { cookie: 'shipit_session=forged' });
    expect(forged.status).toBe(401);
    expect((await request(port, 'GET', '/v1/status')).status).toBe(401);
  });

  it('a POST authenticated by cookie needs X-Shipit-UI: 1 (CSRF), a bearer POST does not', async () => {
    const cookie = await login();
    const bare = await request(port, 'POST', '/v1/services/web/promote', { cookie }, '{}');
    expect(bare.status).toBe(403);
    expect(JSON.parse(bare.body).error).toContain('X-Shipit-UI: 1');
    expect(calls).toEqual([]);
    const ui = await request(
      port,
      'POST',
      '/v1/services/web/promote',
      { cookie, 'x-shipit-ui': '1', 'content-type': 'application/json' },
      '{}',
    );
    expect(ui.status).toBe(200);
    expect(ui.body.trim().split('\n').at(-1)).toBe(
      JSON.stringify({ type: 'result', result: { service: 'web', release: 2 } }),
    );
    const bearer = await request(
      port,
      'POST',
      '/v1/services/web/promote',
      { authorization: `Bearer ${TOKEN}` },
      '{}',
    );
    expect(bearer.status).toBe(200);
    expect(calls).toEqual(['promote web', 'promote web']);
  });

  it('logout needs the UI header, then clears the cookie and ends the session', async () => {
    const cookie = await login();
    expect((await request(port, 'POST', '/ui/logout', { cookie })).status).toBe(403);
    expect((await request(port, 'GET', '/v1/status', { cookie })).status).toBe(200);
    const out = await request(port, 'POST', '/ui/logout', { cookie, 'x-shipit-ui': '1' });
    expect(out.status).toBe(200);
    expect((out.headers['set-cookie'] ?? []).join('')).toMatch(/^shipit_session=; .*Max-Age=0/);
    expect((await request(port, 'GET', '/v1/status', { cookie })).status).toBe(401);
  });
});
