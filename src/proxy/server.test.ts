import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import pino from 'pino';
import type { RouteTargetInput } from '../ports/router';
import { pickRelease } from './picker';
import { ProxyRouter } from './router';
import { buildServiceRoute, RoutingTable, type ServiceRoute } from './routing-table';
import { Target } from './target';
import { DASHBOARD_COOKIE, ProxyServer, defaultDataPath, type ProxyOptions } from './server';
import { fullAcceptQueue } from '../testing/full-accept-queue';
import type { AccessEntry } from './access-log';
import { SESSION_COOKIE } from '../api/ui';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Upstream {
  name: string;
  server: http.Server;
  port: number;
  seen: Seen[];
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, up: Upstream) => void;

/** Echoes what it received as JSON, unless a handler takes the request. */
async function upstream(name: string, handler?: Handler): Promise<Upstream> {
  const up = { name, seen: [] as Seen[] } as Upstream;
  up.server = http.createServer((req, res) => {
    if (handler) {
      up.seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: '' });
      return handler(req, res, up);
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, headers: req.headers, body };
      up.seen.push(s);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name, ...s }));
    });
  });
  await new Promise<void>((r) => up.server.listen(0, '127.0.0.1', r));
  up.port = (up.server.address() as net.AddressInfo).port;
  return up;
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function target(id: string, port: number): RouteTargetInput {
  return { id, name: `app-${id}`, host: '127.0.0.1', port };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: () => { name: string; headers: http.IncomingHttpHeaders; method: string; body: string };
}

interface CallOpts {
  /** The proxy to call: the suite's unless given. */
  port?: number;
  host?: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

let proxy: ProxyServer;
let router: ProxyRouter;
let proxyPort: number;
const upstreams: Upstream[] = [];

function send(o: CallOpts): { req: http.ClientRequest; reply: Promise<Reply> } {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.host !== undefined) headers.host = o.host;
  const req = http.request({
    host: '127.0.0.1',
    port: o.port ?? proxyPort,
    path: o.path ?? '/',
    method: o.method ?? 'GET',
    headers,
    agent: false,
  });
  const reply = new Promise<Reply>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          body,
          json: () => JSON.parse(body),
        }),
      );
    });
  });
  if (o.body !== undefined) req.write(o.body);
  req.end();
  return { req, reply };
}

const call = (o: CallOpts) => send(o).reply;

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The suite's proxy options, with extra on top. */
const options = (extra: Partial<ProxyOptions> = {}): ProxyOptions => ({
  upstreamTimeoutMs: 300,
  maxBodyBytes: 1024,
  accessLog: null,
  log: pino({ level: 'silent' }),
  ...extra,
});

/** A second proxy on the suite's router, with its own options, for the length of fn. */
async function withProxy(
  extra: Partial<ProxyOptions>,
  fn: (p: ProxyServer, port: number) => Promise<void>,
): Promise<void> {
  const p = new ProxyServer(router, options(extra));
  await p.listen(0, '127.0.0.1');
  try {
    await fn(p, p.address().port);
  } finally {
    p.server.closeAllConnections();
    await p.close();
  }
}

async function up(name: string, handler?: Handler): Promise<Upstream> {
  const u = await upstream(name, handler);
  upstreams.push(u);
  return u;
}

beforeAll(async () => {
  router = new ProxyRouter();
  proxy = new ProxyServer(router, options());
  await proxy.listen(0, '127.0.0.1');
  proxyPort = proxy.address().port;
});

afterAll(async () => {
  proxy.server.closeAllConnections();
  await proxy.close();
  for (const u of upstreams) {
    u.server.closeAllConnections();
    await new Promise<void>((r) => u.server.close(() => r()));
  }
});

describe('ProxyServer', () => {
  it('reports its bound address', () => {
    expect(proxy.address()).toEqual({ host: '127.0.0.1', port: proxyPort });
  });

  it('routes by Host header, port and case ignored', async () => {
    const a = await up('A');
    const b = await up('B');
    router.setService(
      'web',
      ['web.test'],
      [{ number: 1, weight: 100, targets: [target('web1', a.port)] }],
    );
    router.setService(
      'api',
      ['api.test'],
      [{ number: 4, weight: 100, targets: [target('api1', b.port)] }],
    );
    const r1 = await call({ host: 'web.test', path: '/hello?x=1' });
    expect(r1.status).toBe(200);
    expect(r1.json().name).toBe('A');
    expect(a.seen[0].url).toBe('/hello?x=1');
    const r2 = await call({ host: `API.test:${proxyPort}` });
    expect(r2.status).toBe(200);
    expect(r2.json().name).toBe('B');
    expect(r2.headers['x-shipit-release']).toBe('4');
  });

  it.each(['undici', 'raw'] as const)(
    'closes upstream pools unused for a while, and opens a new one on the next request (%s)',
    async (dataPath) => {
      const a = await up(`P-${dataPath}`);
      router.setService(
        `pools-${dataPath}`,
        ['pools.test'],
        [{ number: 1, weight: 100, targets: [target(`p1-${dataPath}`, a.port)] }],
      );
      await withProxy({ dataPath }, async (u, port) => {
        const get = async () => (await call({ port, host: 'pools.test' })).status;
        expect(await get()).toBe(200);
        expect(u.poolCount).toBe(1);
        expect(u.sweepPools(60_000)).toBe(0); // just used: kept
        expect(u.sweepPools(0)).toBe(1);
        expect(u.poolCount).toBe(0);
        expect(await get()).toBe(200);
        expect(u.poolCount).toBe(1);
      });
    },
  );

  it('answers 404 for an unknown host when there is no default service', async () => {
    const r = await call({ host: 'nobody.test' });
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'Not Found' });
  });

  it('answers 503 when the service has no healthy target', async () => {
    const a = await up('sick');
    router.setService(
      'sick',
      ['sick.test'],
      [{ number: 1, weight: 100, targets: [target('sick1', a.port)] }],
    );
    router.setHealth('sick1', false);
    const r = await call({ host: 'sick.test' });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toMatchObject({ service: 'sick' });
    expect(a.seen).toHaveLength(0);
  });

  it('answers 503 when the service has no release taking traffic', async () => {
    router.setService('empty', ['empty.test'], []);
    expect((await call({ host: 'empty.test' })).status).toBe(503);
  });

  it('answers 413 for a content-length above maxBodyBytes without reaching the upstream', async () => {
    const a = await up('big');
    router.setService(
      'big',
      ['big.test'],
      [{ number: 1, weight: 100, targets: [target('big1', a.port)] }],
    );
    const r = await call({
      host: 'big.test',
      method: 'POST',
      headers: { 'content-length': '1025', 'content-type': 'text/plain' },
      body: 'x'.repeat(1025),
    });
    expect(r.status).toBe(413);
    expect(r.headers.connection).toBe('close');
    expect(a.seen).toHaveLength(0);
    // exactly the limit is fine
    const ok = await call({
      host: 'big.test',
      method: 'POST',
      body: 'y'.repeat(1024),
      headers: { 'content-length': '1024' },
    });
    expect(ok.status).toBe(200);
    expect(ok.json().body).toBe('y'.repeat(1024));
  });

  it('answers 413 to a chunked body above maxBodyBytes and stops the upstream request', async () => {
    let upstreamGot = 0;
    let upstreamClosed = false;
    const a = await up('chunked', (req) => {
      req.on('data', (c: Buffer) => (upstreamGot += c.length));
      req.on('close', () => (upstreamClosed = true));
    });
    router.setService(
      'chunked',
      ['chunked.test'],
      [{ number: 1, weight: 100, targets: [target('ch1', a.port)] }],
    );
    const req = http.request({
      host: '127.0.0.1',
      port: proxyPort,
      method: 'POST',
      headers: { host: 'chunked.test', 'transfer-encoding': 'chunked' },
      agent: false,
    });
    const reply = new Promise<{ status: number; headers: http.IncomingHttpHeaders }>(
      (resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          resolve({ status: res.statusCode!, headers: res.headers });
        });
        req.on('error', reject);
      },
    );
    for (let i = 0; i < 10; i++) req.write('z'.repeat(500));
    req.end();
    const r = await within(reply, 2000, 'no answer to an oversized chunked body');
    expect(r.status).toBe(413);
    expect(r.headers.connection).toBe('close');
    // Either the upstream never saw the request, or it saw it cut off.
    await new Promise((r) => setTimeout(r, 200));
    expect(a.seen.length === 0 || upstreamClosed).toBe(true);
    expect(upstreamGot).toBeLessThanOrEqual(1024 + 500);
    await until(() => router.targets('chunked')[0].inflight === 0);
  });

  it('sets X-Shipit-Release, X-Request-Id and X-Forwarded-* for the upstream', async () => {
    const a = await up('hdr');
    router.setService(
      'hdr',
      ['hdr.test'],
      [{ number: 7, weight: 100, targets: [target('hdr1', a.port)] }],
    );
    const r = await call({ host: 'hdr.test:8443' });
    expect(r.status).toBe(200);
    expect(r.headers['x-shipit-release']).toBe('7');
    const h = r.json().headers;
    expect(h['x-request-id']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe('hdr.test:8443');
    expect(h.host).toBe('hdr.test:8443');

    const r2 = await call({
      host: 'hdr.test',
      headers: {
        'x-request-id': 'req-123',
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-host': 'public.example',
      },
    });
    const h2 = r2.json().headers;
    expect(h2['x-request-id']).toBe('req-123');
    expect(h2['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(h2['x-forwarded-host']).toBe('public.example');
    // a fresh id per request
    const r3 = await call({ host: 'hdr.test' });
    expect(r3.json().headers['x-request-id']).not.toBe(h['x-request-id']);
  });

  it("never forwards the dashboard's session cookie to an app, and keeps the app's own cookies", async () => {
    expect(DASHBOARD_COOKIE).toBe(SESSION_COOKIE);
    const a = await up('ck');
    router.setService(
      'ck',
      ['ck.test'],
      [{ number: 1, weight: 100, targets: [target('ck1', a.port)] }],
    );
    const both = await call({
      host: 'ck.test',
      headers: { cookie: `theme=dark; ${SESSION_COOKIE}=s3cret; lang=en` },
    });
    expect(both.json().headers.cookie).toBe('theme=dark; lang=en');
    const only = await call({ host: 'ck.test', headers: { cookie: `${SESSION_COOKIE}=s3cret` } });
    expect(only.json().headers.cookie).toBeUndefined();
    const none = await call({ host: 'ck.test', headers: { cookie: 'a=1' } });
    expect(none.json().headers.cookie).toBe('a=1');
  });

  it('retries a refused GET on another target: the client sees 200, the refused target goes unhealthy', async () => {
    const live = await up('live');
    const dead = await closedPort();
    router.setService(
      'retry',
      ['retry.test'],
      [{ number: 1, weight: 100, targets: [target('dead1', dead), target('live1', live.port)] }],
    );
    // make the dead target the least loaded, so it is picked first
    router.target('live1')!.inflight = 5;
    const r = await call({ host: 'retry.test', path: '/again' });
    router.target('live1')!.inflight -= 5;
    expect(r.status).toBe(200);
    expect(r.json().name).toBe('live');
    expect(live.seen.map((s) => s.url)).toEqual(['/again']);
    expect(router.target('dead1')!.healthy).toBe(false);
    // later requests avoid it
    for (let i = 0; i < 4; i++) expect((await call({ host: 'retry.test' })).status).toBe(200);
    await until(
      () => router.target('live1')!.inflight === 0 && router.target('dead1')!.inflight === 0,
    );
  });

  it('does not retry a POST with a body: 502, and the other target never sees it', async () => {
    const live = await up('live-post');
    const dead = await closedPort();
    router.setService(
      'post',
      ['post.test'],
      [{ number: 1, weight: 100, targets: [target('deadp', dead), target('livep', live.port)] }],
    );
    router.target('livep')!.inflight = 5;
    const r = await call({
      host: 'post.test',
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    });
    router.target('livep')!.inflight -= 5;
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body).message).toContain('ECONNREFUSED');
    expect(live.seen).toHaveLength(0);
    expect(router.target('deadp')!.healthy).toBe(false);
    await until(() => router.target('deadp')!.inflight === 0);
  });

  it('answers 502 when the only target refuses and there is nothing to retry on', async () => {
    const dead = await closedPort();
    router.setService(
      'solo',
      ['solo.test'],
      [{ number: 1, weight: 100, targets: [target('solo1', dead)] }],
    );
    const r = await call({ host: 'solo.test' });
    expect(r.status).toBe(502);
    expect(router.target('solo1')!.healthy).toBe(false);
    expect(router.target('solo1')!.inflight).toBe(0);
  });

  it('answers 504 when the upstream does not answer within upstreamTimeoutMs', async () => {
    const pending: http.ServerResponse[] = [];
    const slow = await up('slow', (_req, res) => {
      pending.push(res);
      setTimeout(() => res.writableEnded || res.destroyed || res.end('late'), 3000).unref();
    });
    router.setService(
      'slow',
      ['slow.test'],
      [{ number: 1, weight: 100, targets: [target('slow1', slow.port)] }],
    );
    const t0 = Date.now();
    const r = await call({ host: 'slow.test' });
    const took = Date.now() - t0;
    expect(r.status).toBe(504);
    expect(JSON.parse(r.body).message).toContain('300ms');
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2000);
    expect(slow.seen).toHaveLength(1); // a timed-out request is not retried
    await until(() => router.target('slow1')!.inflight === 0);
  });

  it('writes one access log entry per answer, its own answers included', async () => {
    const app = await up('logged');
    router.setService(
      'logged',
      ['logged.test'],
      [{ number: 7, weight: 100, targets: [target('logged1', app.port)] }],
    );
    const entries: AccessEntry[] = [];
    await withProxy({ accessLog: { write: (e) => entries.push(e) } }, async (_p, port) => {
      const ok = await call({ port, host: 'logged.test', path: '/x?y=1', method: 'PUT' });
      await call({ port, host: 'nobody.test' }); // 404: no service, not logged
      await until(() => entries.length === 1);
      expect(entries[0]).toEqual({
        service: 'logged',
        release: 7,
        container: 'app-logged1',
        method: 'PUT',
        url: '/x?y=1',
        status: 200,
        ms: expect.any(Number),
        reqId: ok.headers['x-request-id'],
        aborted: false,
      });
      router.setHealth('logged1', false);
      expect((await call({ port, host: 'logged.test' })).status).toBe(503);
      await until(() => entries.length === 2);
      await new Promise((r) => setTimeout(r, 50));
      expect(entries).toHaveLength(2); // one entry per answer, none late
      expect(entries[1]).toEqual(
        expect.objectContaining({ service: 'logged', status: 503, aborted: false }),
      );
    });
  });

  it('times a connect out after 2.5 s, or upstreamTimeoutMs if shorter; upstreamTimeoutMs 0 leaves it at 2.5 s', () => {
    const make = (o: Partial<ProxyOptions>) =>
      new ProxyServer(router, options({ upstreamTimeoutMs: 30_000, ...o })).connectTimeoutMs;
    expect(make({})).toBe(2500);
    expect(make({ upstreamTimeoutMs: 300 })).toBe(300);
    expect(make({ upstreamTimeoutMs: 0 })).toBe(2500); // no upstream timeout: still a connect one
    expect(make({ connectTimeoutMs: 100 })).toBe(100);
    expect(make({ connectTimeoutMs: 0, upstreamTimeoutMs: 0 })).toBe(0);
  });

  it('answers Expect: 100-continue itself, forwards the body without Expect, and still times the upstream out', async () => {
    const hung = await up('expect-hung', (req) => req.resume()); // reads the body, never answers
    router.setService(
      'expect',
      ['expect.test'],
      [{ number: 1, weight: 100, targets: [target('expect1', hung.port)] }],
    );
    const req = http.request({
      host: '127.0.0.1',
      port: proxyPort,
      method: 'POST',
      headers: { host: 'expect.test', expect: '100-continue', 'content-length': '5' },
      agent: false,
    });
    req.on('continue', () => req.end('hello'));
    const [res] = (await within(once(req, 'response'), 3000, 'no answer')) as [
      http.IncomingMessage,
    ];
    res.resume();
    expect(res.statusCode).toBe(504);
    expect(hung.seen).toHaveLength(1);
    expect(hung.seen[0].headers.expect).toBeUndefined();
    await until(() => router.target('expect1')!.inflight === 0);
  });

  it('destroys the upstream request when the client aborts mid-request', async () => {
    let closedBeforeAnswer: (() => void) | null = null;
    const closed = new Promise<void>((r) => (closedBeforeAnswer = r));
    let gotIt: () => void = () => {};
    const arrived = new Promise<void>((r) => (gotIt = r));
    const hang = await up('hang', (req, res) => {
      res.on('close', () => {
        if (!res.writableFinished) closedBeforeAnswer!();
      });
      gotIt();
    });
    router.setService(
      'hang',
      ['hang.test'],
      [{ number: 1, weight: 100, targets: [target('hang1', hang.port)] }],
    );
    const { req, reply } = send({ host: 'hang.test' });
    reply.catch(() => {});
    await arrived;
    expect(router.target('hang1')!.inflight).toBe(1);
    req.destroy();
    await within(closed, 2000, 'the upstream request was not closed after the client aborted');
    await until(() => router.target('hang1')!.inflight === 0);
  });

  it('counts a slow request in flight while it runs and back to 0 after', async () => {
    let answer: () => void = () => {};
    let gotIt: () => void = () => {};
    const arrived = new Promise<void>((r) => (gotIt = r));
    const slow = await up('slow2', (_req, res) => {
      answer = () => res.end('done');
      gotIt();
    });
    router.setService(
      'count',
      ['count.test'],
      [{ number: 1, weight: 100, targets: [target('count1', slow.port)] }],
    );
    expect(router.target('count1')!.inflight).toBe(0);
    const reply = call({ host: 'count.test' });
    await arrived;
    expect(router.target('count1')!.inflight).toBe(1);
    expect(router.targets('count')[0].inflight).toBe(1);
    answer();
    const r = await reply;
    expect(r.status).toBe(200);
    expect(r.body).toBe('done');
    await until(() => router.target('count1')!.inflight === 0);
  });

  it.each(['http', 'undici', 'raw'] as const)(
    'keeps its sticky cookie when the app sets cookies of its own (%s data path)',
    async (dataPath) => {
      const app: Handler = (_req, res) => {
        res.setHeader('set-cookie', ['session=abc; Path=/', 'theme=dark; Path=/']);
        res.end('ok');
      };
      // Two releases split the traffic: that is when the proxy sets its sticky cookie.
      const one = await up(`ck1-${dataPath}`, app);
      const two = await up(`ck2-${dataPath}`, app);
      router.setService(
        `cookies-${dataPath}`,
        [`cookies-${dataPath}.test`],
        [
          { number: 1, weight: 50, targets: [target(`ck1-${dataPath}`, one.port)] },
          { number: 2, weight: 50, targets: [target(`ck2-${dataPath}`, two.port)] },
        ],
      );
      await withProxy({ dataPath }, async (_p, port) => {
        const r = await call({ port, host: `cookies-${dataPath}.test` });
        expect(r.headers['set-cookie']).toEqual([
          expect.stringMatching(/^shipit-id=[0-9a-f-]{36};/),
          'session=abc; Path=/',
          'theme=dark; Path=/',
        ]);
      });
    },
  );

  it.each(['http', 'undici', 'raw'] as const)(
    'gives up a connect the upstream does not accept within connectTimeoutMs and retries on another target (%s data path)',
    async (dataPath) => {
      const live = await up(`ct-live-${dataPath}`);
      const hole = await fullAcceptQueue();
      const svc = `ct-${dataPath}`;
      try {
        router.setService(
          svc,
          [`${svc}.test`],
          [
            {
              number: 1,
              weight: 100,
              targets: [target(`${svc}-hole`, hole.port), target(`${svc}-live`, live.port)],
            },
          ],
        );
        await withProxy(
          { dataPath, connectTimeoutMs: 150, upstreamTimeoutMs: 2000 },
          async (_p, port) => {
            // the hole is the least loaded, so it is picked first
            router.target(`${svc}-live`)!.inflight = 5;
            const t0 = Date.now();
            const r = await call({ port, host: `${svc}.test`, path: '/ct' });
            const took = Date.now() - t0;
            router.target(`${svc}-live`)!.inflight -= 5;
            expect(r.status).toBe(200);
            expect(r.json().name).toBe(`ct-live-${dataPath}`);
            expect(took).toBeGreaterThanOrEqual(140);
            expect(took).toBeLessThan(1500); // not the upstream timeout, nor a SYN resent after 1 s
            const hole1 = router.target(`${svc}-hole`)!;
            expect([...hole1.stats.upstreamErrors]).toEqual([['timeout', 1]]);
            expect(hole1.healthy).toBe(true); // busy, not gone: the passive check leaves it in
            await until(() => hole1.inflight === 0 && router.target(`${svc}-live`)!.inflight === 0);

            // The only target does not accept: tried again on it with fresh connections, 4
            // connects in all (nothing was sent), then 502 (not 504).
            router.setService(
              svc,
              [`${svc}.test`],
              [{ number: 1, weight: 100, targets: [target(`${svc}-hole`, hole.port)] }],
            );
            const t1 = Date.now();
            const r2 = await call({ port, host: `${svc}.test` });
            const took2 = Date.now() - t1;
            expect(r2.status).toBe(502);
            expect(JSON.parse(r2.body).message).toContain('ETIMEDOUT');
            expect(took2).toBeGreaterThanOrEqual(dataPath === 'undici' ? 2 * 150 : 4 * 150 - 10);
            expect(took2).toBeLessThan(2000 + 500); // within upstreamTimeoutMs (undici's timers are coarse)
            const hole2 = router.target(`${svc}-hole`)!;
            // undici's connect timer is coarse (~0.5-1 s): upstreamTimeoutMs ends its tries sooner
            const tries = hole2.stats.upstreamErrors.get('timeout')! - 1;
            if (dataPath === 'undici') expect(tries).toBeGreaterThanOrEqual(2);
            else expect(tries).toBe(4);
          },
        );
      } finally {
        hole.close();
      }
    },
  );

  it('keeps a user on one release with the sticky cookie while two releases split traffic', async () => {
    const one = await up('one');
    const two = await up('two');
    router.setService(
      'split',
      ['split.test'],
      [
        { number: 1, weight: 50, targets: [target('split1', one.port)] },
        { number: 2, weight: 50, targets: [target('split2', two.port)] },
      ],
    );
    const first = await call({ host: 'split.test' });
    const setCookie = first.headers['set-cookie']?.[0] ?? '';
    expect(setCookie).toMatch(/^shipit-id=[0-9a-f-]{36}; Path=\/; HttpOnly; SameSite=Lax$/);
    const cookie = setCookie.split(';')[0];
    const release = first.headers['x-shipit-release'];
    for (let i = 0; i < 8; i++) {
      const r = await call({ host: 'split.test', headers: { cookie: `theme=dark; ${cookie}` } });
      expect(r.headers['x-shipit-release']).toBe(release);
      expect(r.headers['set-cookie']).toBeUndefined();
    }
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++)
      seen.add(String((await call({ host: 'split.test' })).headers['x-shipit-release']));
    expect(seen).toEqual(new Set(['1', '2']));
  });

  /** Installs a hand-built route (sticky / acceptance modes the router does not set) beside the others. */
  function install(route: ServiceRoute): () => void {
    const saved = router.table;
    router.table = new RoutingTable(new Map([...saved.services, [route.name, route]]));
    return () => {
      router.table = saved;
    };
  }
  const tgtOf = (id: string, service: string, release: number, port: number) =>
    new Target(id, `app-${id}`, service, release, '127.0.0.1', port);

  it('sends acceptance users (header or cookie "next") to the newest release even at weight 0', async () => {
    const old = await up('old');
    const next = await up('next');
    const restore = install(
      buildServiceRoute(
        'acc',
        ['acc.test'],
        [
          { number: 1, weight: 100, targets: [tgtOf('acc1', 'acc', 1, old.port)] },
          { number: 2, weight: 0, targets: [tgtOf('acc2', 'acc', 2, next.port)] },
        ],
        { mode: 'cookie' },
        { header: 'X-Shipit-Next', cookie: 'shipit-next' },
      ),
    );
    try {
      expect((await call({ host: 'acc.test' })).json().name).toBe('old');
      expect(
        (await call({ host: 'acc.test', headers: { 'x-shipit-next': 'no' } })).json().name,
      ).toBe('old');
      expect(
        (await call({ host: 'acc.test', headers: { 'x-shipit-next': 'next' } })).json().name,
      ).toBe('next');
      expect(
        (await call({ host: 'acc.test', headers: { cookie: 'a=b; shipit-next=next' } })).json()
          .name,
      ).toBe('next');
      expect(
        (await call({ host: 'acc.test', headers: { cookie: 'xshipit-next=next' } })).json().name,
      ).toBe('old');
    } finally {
      restore();
    }
  });

  it('uses a header or the client ip as the sticky key when configured, without a cookie', async () => {
    const one = await up('h-one');
    const two = await up('h-two');
    const releases = [
      { number: 1, weight: 50, targets: [tgtOf('hs1', 'hs', 1, one.port)] },
      { number: 2, weight: 50, targets: [tgtOf('hs2', 'hs', 2, two.port)] },
    ];
    let restore = install(
      buildServiceRoute('hs', ['hs.test'], releases, { mode: 'header', header: 'X-User' }),
    );
    try {
      const seen = new Set<string>();
      for (let u = 0; u < 30; u++) {
        const a = await call({ host: 'hs.test', headers: { 'x-user': `user-${u}` } });
        const b = await call({ host: 'hs.test', headers: { 'x-user': `user-${u}` } });
        expect(b.headers['x-shipit-release']).toBe(a.headers['x-shipit-release']);
        expect(a.headers['set-cookie']).toBeUndefined();
        seen.add(String(a.headers['x-shipit-release']));
      }
      expect(seen).toEqual(new Set(['1', '2']));
      // without the header it falls back to the cookie
      expect((await call({ host: 'hs.test' })).headers['set-cookie']?.[0]).toMatch(/^shipit-id=/);
    } finally {
      restore();
    }
    restore = install(buildServiceRoute('hs', ['hs.test'], releases, { mode: 'ip' }));
    try {
      const first = (await call({ host: 'hs.test' })).headers['x-shipit-release'];
      for (let i = 0; i < 6; i++) {
        const r = await call({ host: 'hs.test' });
        expect(r.headers['x-shipit-release']).toBe(first);
        expect(r.headers['set-cookie']).toBeUndefined();
      }
    } finally {
      restore();
    }
  });

  it('cuts the client response and frees the in-flight slot when the upstream dies after sending headers', async () => {
    const a = await up('dies', (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    router.setService(
      'dies',
      ['dies.test'],
      [{ number: 1, weight: 100, targets: [target('dies1', a.port)] }],
    );
    const outcome = new Promise<string>((resolve) => {
      const { req } = send({ host: 'dies.test' });
      req.on('response', (res) => {
        res.on('aborted', () => resolve('aborted'));
        res.on('error', () => resolve('error'));
        res.on('end', () => resolve('end'));
        res.resume();
      });
      req.on('error', () => resolve('error'));
    });
    expect(await within(outcome, 2000, 'client left hanging')).not.toBe('end');
    await until(() => router.targets('dies')[0].inflight === 0);
  });

  it('cuts the client response when the upstream goes quiet mid-body for upstreamTimeoutMs', async () => {
    const a = await up('quiet', (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    });
    router.setService(
      'quiet',
      ['quiet.test'],
      [{ number: 1, weight: 100, targets: [target('quiet1', a.port)] }],
    );
    const outcome = new Promise<string>((resolve) => {
      const { req } = send({ host: 'quiet.test' });
      req.on('response', (res) => {
        res.on('aborted', () => resolve('aborted'));
        res.on('error', () => resolve('error'));
        res.on('end', () => resolve('end'));
        res.resume();
      });
      req.on('error', () => resolve('error'));
    });
    expect(await within(outcome, 2000, 'client left hanging')).not.toBe('end');
    await until(() => router.targets('quiet')[0].inflight === 0);
  });

  it('answers 400 to a malformed request', async () => {
    const s = net.connect(proxyPort, '127.0.0.1');
    s.write('NOT HTTP AT ALL\r\n\r\n');
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (data += c));
    await once(s, 'close');
    expect(data).toMatch(/^HTTP\/1\.1 400 Bad Request/);
  });

  describe('upgrade', () => {
    let ws: Upstream;
    beforeAll(async () => {
      ws = await up('ws');
      ws.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
        ws.seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: '' });
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
        );
        if (head.length) socket.write(head);
        socket.pipe(socket);
      });
      router.setService(
        'ws',
        ['ws.test'],
        [{ number: 3, weight: 100, targets: [target('ws1', ws.port)] }],
      );
    });

    function upgrade(host: string): Promise<{ res: http.IncomingMessage; socket: net.Socket }> {
      return new Promise((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port: proxyPort,
          path: '/socket',
          agent: false,
          headers: { host, connection: 'Upgrade', upgrade: 'websocket' },
        });
        req.on('upgrade', (res, socket) => resolve({ res, socket }));
        req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
        req.on('error', reject);
        req.end();
      });
    }

    it('proxies an upgrade and echoes bytes both ways', async () => {
      const { res, socket } = await upgrade('ws.test');
      expect(res.statusCode).toBe(101);
      expect(ws.seen.at(-1)).toMatchObject({ url: '/socket' });
      expect(ws.seen.at(-1)!.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(ws.seen.at(-1)!.headers['x-request-id']).toBeTruthy();
      expect(router.target('ws1')!.inflight).toBe(1);
      socket.write('ping-1');
      const [echo] = (await once(socket, 'data')) as [Buffer];
      expect(echo.toString()).toBe('ping-1');
      socket.end();
      socket.destroy();
      await until(() => router.target('ws1')!.inflight === 0);
    });

    it('answers 504 when the upstream never answers the handshake, and counts a timeout', async () => {
      const silent = await up('ws-silent');
      const held: net.Socket[] = [];
      silent.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
        held.push(socket); // never answers; reads, so it sees the proxy hang up
        socket.resume();
      });
      router.setService(
        'ws-silent',
        ['ws-silent.test'],
        [{ number: 1, weight: 100, targets: [target('wss1', silent.port)] }],
      );
      const s = net.connect(proxyPort, '127.0.0.1');
      s.write(
        'GET / HTTP/1.1\r\nHost: ws-silent.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      );
      let data = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => (data += c));
      const t0 = Date.now();
      try {
        await within(once(s, 'close'), 3000, 'the client socket was never closed');
        expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
        expect(data).toMatch(/^HTTP\/1\.1 504 /);
        await until(() => router.target('wss1')!.inflight === 0);
        expect(Object.fromEntries(router.target('wss1')!.stats.upstreamErrors)).toEqual({
          timeout: 1,
        });
        await until(() => held.length === 1 && held[0].readableEnded);
      } finally {
        for (const h of held) h.destroy();
      }
    });

    it('refuses an upgrade for an unknown host (404) or with no healthy target (503)', async () => {
      await expect(upgrade('nobody.test')).rejects.toThrow();
      const raw = async (host: string) => {
        const s = net.connect(proxyPort, '127.0.0.1');
        s.write(
          `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
        );
        let data = '';
        s.setEncoding('utf8');
        s.on('data', (c: string) => (data += c));
        await once(s, 'close');
        return data;
      };
      expect(await raw('nobody.test')).toMatch(/^HTTP\/1\.1 404 /);
      router.setHealth('ws1', false);
      expect(await raw('ws.test')).toMatch(/^HTTP\/1\.1 503 /);
      router.setHealth('ws1', true);
    });
  });
});

describe('ProxyServer fallback and weight 0', () => {
  function install(route: ServiceRoute): () => void {
    const saved = router.table;
    router.table = new RoutingTable(new Map([...saved.services, [route.name, route]]));
    return () => {
      router.table = saved;
    };
  }
  const tgt = (id: string, service: string, release: number, port: number) =>
    new Target(id, `app-${id}`, service, release, '127.0.0.1', port);
  /** A sticky cookie whose hash picks `release` in this route. */
  function cookieFor(route: ServiceRoute, release: number): string {
    for (let i = 0; i < 10_000; i++) {
      if (pickRelease(route.split, `user-${i}`) === release) return `shipit-id=user-${i}`;
    }
    throw new Error(`no key picks r${release}`);
  }

  it.each([
    ['draining', (t: Target) => void (t.draining = true)],
    ['unhealthy', (t: Target) => void (t.healthy = false)],
  ])(
    'a release picked by weight whose only target is %s falls back to another release with weight > 0',
    async (_state, spoil) => {
      const one = await up(`fb-one-${_state}`);
      const two = await up(`fb-two-${_state}`);
      const bad = tgt(`fb2-${_state}`, 'fb', 2, two.port);
      spoil(bad);
      const route = buildServiceRoute(
        'fb',
        ['fb.test'],
        [
          { number: 1, weight: 50, targets: [tgt(`fb1-${_state}`, 'fb', 1, one.port)] },
          { number: 2, weight: 50, targets: [bad] },
        ],
      );
      const restore = install(route);
      try {
        for (const release of [2, 1]) {
          const r = await call({ host: 'fb.test', headers: { cookie: cookieFor(route, release) } });
          expect(r.status).toBe(200);
          expect(r.json().name).toBe(one.name);
          expect(r.headers['x-shipit-release']).toBe('1');
        }
        expect(two.seen).toHaveLength(0);
      } finally {
        restore();
      }
    },
  );

  it('falls back when the picked release has no target left (its last container was drained by the router)', async () => {
    const one = await up('fbr-one');
    const two = await up('fbr-two');
    router.setService(
      'fbr',
      ['fbr.test'],
      [
        { number: 1, weight: 50, targets: [target('fbr1', one.port)] },
        { number: 2, weight: 50, targets: [target('fbr2', two.port)] },
      ],
    );
    const key = cookieFor(router.table.lookup('fbr.test')!, 1);
    expect((await call({ host: 'fbr.test', headers: { cookie: key } })).json().name).toBe(
      'fbr-one',
    );
    // r1 still weighs 50% but its only container is taken out of routing
    expect(await router.drain(['fbr1'], 0)).toBe(0);
    expect(router.weights('fbr')).toEqual({ 1: 50, 2: 50 });
    expect(router.table.lookup('fbr.test')!.releases.get(1)!.targets).toEqual([]);
    for (let i = 0; i < 3; i++) {
      const r = await call({ host: 'fbr.test', headers: { cookie: key } });
      expect(r.status).toBe(200);
      expect(r.json().name).toBe('fbr-two');
    }
    expect(one.seen).toHaveLength(1);
  });

  it('never falls back to a weight-0 release: 503 instead', async () => {
    const stable = await up('w0-stable');
    const dark = await up('w0-dark');
    const sick = tgt('w0-1', 'w0', 1, stable.port);
    sick.healthy = false;
    const restore = install(
      buildServiceRoute(
        'w0',
        ['w0.test'],
        [
          { number: 1, weight: 100, targets: [sick] },
          { number: 2, weight: 0, targets: [tgt('w0-2', 'w0', 2, dark.port)] },
        ],
      ),
    );
    try {
      for (let i = 0; i < 3; i++) {
        const r = await call({ host: 'w0.test' });
        expect(r.status).toBe(503);
        expect(JSON.parse(r.body)).toMatchObject({
          service: 'w0',
          message: 'no healthy container',
        });
      }
      expect(dark.seen).toHaveLength(0);
      expect(stable.seen).toHaveLength(0);
    } finally {
      restore();
    }
  });

  it('falls back past a weight-0 release to one that takes users', async () => {
    const dark = await up('w0b-dark');
    const other = await up('w0b-other');
    const picked = tgt('w0b-3', 'w0b', 3, dark.port);
    picked.draining = true;
    const route = buildServiceRoute(
      'w0b',
      ['w0b.test'],
      [
        { number: 1, weight: 0, targets: [tgt('w0b-1', 'w0b', 1, dark.port)] },
        { number: 2, weight: 30, targets: [tgt('w0b-2', 'w0b', 2, other.port)] },
        { number: 3, weight: 70, targets: [picked] },
      ],
    );
    const restore = install(route);
    try {
      for (const release of [3, 3, 2]) {
        const r = await call({ host: 'w0b.test', headers: { cookie: cookieFor(route, release) } });
        expect(r.status).toBe(200);
        expect(r.headers['x-shipit-release']).toBe('2');
      }
      expect(dark.seen).toHaveLength(0);
    } finally {
      restore();
    }
  });

  it('the acceptance header set by the router reaches a weight-0 newest release; other users stay on the stable one', async () => {
    const stable = await up('acc-r-stable');
    const canary = await up('acc-r-canary');
    router.setService(
      'accr',
      ['accr.test'],
      [
        { number: 4, weight: 100, targets: [target('accr4', stable.port)] },
        { number: 5, weight: 0, targets: [target('accr5', canary.port)] },
      ],
      { acceptance: { header: 'X-Shipit-Next', cookie: 'shipit-next' } },
    );
    const next = await call({ host: 'accr.test', headers: { 'x-shipit-next': 'next' } });
    expect(next.status).toBe(200);
    expect(next.json().name).toBe('acc-r-canary');
    expect(next.headers['x-shipit-release']).toBe('5');
    const viaCookie = await call({ host: 'accr.test', headers: { cookie: 'shipit-next=next' } });
    expect(viaCookie.headers['x-shipit-release']).toBe('5');
    for (let i = 0; i < 5; i++) {
      const r = await call({ host: 'accr.test' });
      expect(r.headers['x-shipit-release']).toBe('4');
      expect(r.headers['set-cookie']).toBeUndefined(); // one release takes users: no sticky cookie
    }
    expect(canary.seen).toHaveLength(2);
  });

  it('an acceptance user whose weight-0 release has no available container is served by the stable one', async () => {
    const stable = await up('acc-f-stable');
    const canary = await up('acc-f-canary');
    router.setService(
      'accf',
      ['accf.test'],
      [
        { number: 4, weight: 100, targets: [target('accf4', stable.port)] },
        { number: 5, weight: 0, targets: [target('accf5', canary.port)] },
      ],
      { acceptance: { header: 'X-Shipit-Next', cookie: 'shipit-next' } },
    );
    router.setHealth('accf5', false);
    const r = await call({ host: 'accf.test', headers: { 'x-shipit-next': 'next' } });
    expect(r.status).toBe(200);
    expect(r.headers['x-shipit-release']).toBe('4');
    expect(canary.seen).toHaveLength(0);
  });
});

describe('defaultDataPath', () => {
  it('is raw unless SHIPIT_PROXY_DATAPATH names another; an unknown name is an error', () => {
    expect(defaultDataPath({})).toBe('raw');
    expect(defaultDataPath({ SHIPIT_PROXY_DATAPATH: '' })).toBe('raw');
    expect(defaultDataPath({ SHIPIT_PROXY_DATAPATH: 'http' })).toBe('http');
    expect(defaultDataPath({ SHIPIT_PROXY_DATAPATH: 'undici' })).toBe('undici');
    expect(() => defaultDataPath({ SHIPIT_PROXY_DATAPATH: 'fast' })).toThrow(
      'SHIPIT_PROXY_DATAPATH=fast is not a data path: use one of http, undici, raw',
    );
  });
});
