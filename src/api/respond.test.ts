// The control API's response shapes and route handlers, through the real API server with a
// stand-in control plane: request bodies, operation streams (events, result, errors before and
// after the first event), server-sent events, log follows with back-pressure, and the
// preview/handover routes' own checks.
import http from 'node:http';
import type net from 'node:net';
import pino from 'pino';
import { conflict } from '../domain/errors';
import type { LiveEvent } from '../observe/observability';
import { fakePlane, request, type Target } from '../testing/api-client';
import { ROUTES } from './routes';
import { ApiServer, type ControlPlane } from './server';

const TOKEN = 'respond-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const silent = pino({ level: 'silent' });

let api: ApiServer | null = null;
afterEach(async () => {
  if (api) await api.close();
  api = null;
});

async function serve(over: Partial<ControlPlane> = {}) {
  const f = fakePlane(over);
  api = new ApiServer(f.plane, TOKEN, silent);
  await api.listen({ host: '127.0.0.1', port: 0 });
  const to: Target = { port: (api.address() as net.AddressInfo).port };
  const post = (p: string, body?: unknown, raw?: string) =>
    request(
      to,
      'POST',
      p,
      { ...auth, 'content-type': 'application/json' },
      raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    );
  return { ...f, to, post };
}

const lines = (body: string) =>
  body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function spec(over: Record<string, unknown> = {}) {
  return {
    name: 'web',
    image: 'app:2',
    port: 8080,
    hosts: ['example.test'],
    replicas: 2,
    env: {},
    healthcheck: {
      path: '/healthz',
      intervalMs: 1000,
      timeoutMs: 500,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    },
    deploy: { strategy: 'canary', deployTimeoutMs: 60000, drainTimeoutMs: 5000, keepPreviousMs: 0 },
    ...over,
  };
}

describe('request bodies', () => {
  it('not JSON: 400 usage, the plane is not asked', async () => {
    const s = await serve();
    const r = await s.post('/v1/services/web/scale', undefined, '{"replicas": 3');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({
      code: 'usage',
      error: 'request body is not valid JSON',
    });
    expect(s.calls).toEqual([]);
  });

  it('empty or blank: an empty object', async () => {
    const s = await serve();
    const r = await s.post('/v1/services/web/rollback', undefined, '  \n');
    expect(r.status).toBe(200);
    expect(s.calls).toEqual(['rollback web']);
  });

  it('over 1 MiB: refused, the plane is not asked', async () => {
    const s = await serve();
    const big = JSON.stringify({ replicas: 1, pad: 'x'.repeat((1 << 20) + 10) });
    const r = await s.post('/v1/services/web/scale', undefined, big);
    // A clear 400, not a reset the CLI would report as "daemon unreachable".
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({
      code: 'usage',
      error: `request body larger than ${1 << 20} bytes`,
    });
    expect(s.calls).toEqual([]);
  });
});

describe('operation streams', () => {
  it('events, then the result; the audit gets the release and a pause', async () => {
    const s = await serve({
      promote: async (service, sink) => {
        sink({ service, release: 4, at: 1, type: 'step', message: 'shifting' });
        return { service, release: 4, paused: true };
      },
    });
    const r = await s.post('/v1/services/web/promote');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/x-ndjson');
    expect(lines(r.body)).toEqual([
      { service: 'web', release: 4, at: 1, type: 'step', message: 'shifting' },
      { type: 'result', result: { service: 'web', release: 4, paused: true } },
    ]);
    expect(s.audited[0]).toMatchObject({
      action: 'promote',
      result: 'ok',
      detail: { release: 4, paused: true },
    });
  });

  it('no event and no result value: one result line, nothing for the audit', async () => {
    const s = await serve({ abort: async () => undefined });
    const r = await s.post('/v1/services/web/abort');
    expect(r.status).toBe(200);
    expect(lines(r.body)).toEqual([{ type: 'result' }]);
    expect(s.audited[0].detail).toEqual({});
  });

  it('a failure before the first event: a plain JSON error with its status', async () => {
    const s = await serve({
      promote: async () => {
        throw conflict('a deploy of web is in progress', 'wait for it');
      },
    });
    const r = await s.post('/v1/services/web/promote');
    expect(r.status).toBe(409);
    expect(JSON.parse(r.body)).toMatchObject({
      code: 'conflict',
      error: 'a deploy of web is in progress',
      hint: 'wait for it',
    });
  });

  it('a failure after the first event: an error line with its status (the HTTP status is 200)', async () => {
    const s = await serve({
      promote: async (service, sink) => {
        sink({ service, release: 4, at: 1, type: 'step', message: 'shifting' });
        throw conflict('lost the lock');
      },
    });
    const r = await s.post('/v1/services/web/promote');
    expect(r.status).toBe(200);
    expect(lines(r.body).at(-1)).toEqual({
      type: 'error',
      status: 409,
      error: 'lost the lock',
      code: 'conflict',
    });
    expect(s.audited[0]).toMatchObject({ result: 'failed', status: 409 });
  });

  it('a plain Error (or a non-Error) after the first event is a 500 "failed" line', async () => {
    let thrown: unknown = new Error('disk full');
    const s = await serve({
      abort: async (service, sink) => {
        sink({ service, release: 4, at: 1, type: 'step', message: 'x' });
        throw thrown;
      },
    });
    let r = await s.post('/v1/services/web/abort');
    expect(lines(r.body).at(-1)).toEqual({
      type: 'error',
      status: 500,
      error: 'disk full',
      code: 'failed',
    });
    thrown = 'just a string';
    r = await s.post('/v1/services/web/abort');
    expect(lines(r.body).at(-1)).toMatchObject({ status: 500, error: 'just a string' });
  });

  it('events sent after the response ended are dropped', async () => {
    let late: (() => void) | undefined;
    const s = await serve({
      scale: async (service, _b, sink) => {
        late = () => sink({ service, release: 9, at: 2, type: 'step', message: 'late' });
        return { service, release: 2 };
      },
    });
    const r = await s.post('/v1/services/web/scale', { replicas: 3 });
    expect(() => late!()).not.toThrow();
    expect(lines(r.body)).toEqual([{ type: 'result', result: { service: 'web', release: 2 } }]);
    expect(s.audited[0].detail).toEqual({ replicas: 3, release: 2 });
  });

  it('deploy and rollback: dry runs are audited as such; the image and strategy, never the env', async () => {
    const s = await serve();
    let r = await s.post('/v1/services/web/deploy', {
      spec: spec({ env: { SECRET: 'x' } }),
      dryRun: true,
    });
    expect(r.status).toBe(200);
    r = await s.post('/v1/services/web/rollback', { to: 1, dryRun: true });
    expect(r.status).toBe(200);
    expect(s.audited.map((a) => a.detail)).toEqual([
      { image: 'app:2', strategy: 'canary', dryRun: true, release: 2 },
      { to: 1, dryRun: true, release: 2 },
    ]);
  });

  it("deploy: a spec named otherwise than the URL's service is a 400", async () => {
    const s = await serve();
    const r = await s.post('/v1/services/web/deploy', { spec: spec({ name: 'api' }) });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error).toContain('does not match the URL\'s service "web"');
    expect(s.calls).toEqual([]);
  });
});

describe('reads', () => {
  it('releases and events pass service and numbers on; /metrics keeps its content type', async () => {
    const asked: unknown[] = [];
    const s = await serve({
      releases: (svc, limit) => (asked.push(['releases', svc, limit]), { releases: [] }),
      events: (svc, rel, limit) => (asked.push(['events', svc, rel, limit]), { events: [] }),
    });
    await request(s.to, 'GET', '/v1/releases?service=web&limit=5', auth);
    await request(s.to, 'GET', '/v1/releases', auth);
    const ev = await request(s.to, 'GET', '/v1/events?service=web&release=3&limit=9', auth);
    expect(JSON.parse(ev.body)).toEqual({ events: [] });
    expect(asked).toEqual([
      ['releases', 'web', 5],
      ['releases', undefined, undefined],
      ['events', 'web', 3, 9],
    ]);
    const m = await request(s.to, 'GET', '/metrics', auth);
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toBe('text/plain');
    expect(m.body).toBe('x 1\n');
    const e = await request(s.to, 'GET', '/v1/services/web/endpoints', auth);
    expect(JSON.parse(e.body)).toEqual({ service: 'web' });
  });
});

/** Opens a streaming GET and collects its text until `done` says stop (then hangs up). */
function openStream(to: Target, urlPath: string, headers: Record<string, string>) {
  let text = '';
  let req!: http.ClientRequest;
  let res!: http.IncomingMessage;
  const opened = new Promise<void>((resolve, reject) => {
    req = http.request(
      { host: '127.0.0.1', ...to, path: urlPath, headers: { ...auth, ...headers }, agent: false },
      (r) => {
        res = r;
        r.setEncoding('utf8');
        r.on('data', (c: string) => (text += c));
        resolve();
      },
    );
    req.on('error', reject);
    req.end();
  });
  const until = async (ok: (t: string) => boolean) => {
    const deadline = Date.now() + 3000;
    while (!ok(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(ok(text)).toBe(true);
  };
  return { opened, until, text: () => text, res: () => res, close: () => req.destroy() };
}

describe('server-sent events', () => {
  it('stats first, then live events; filtered to one service; unsubscribes when the client leaves', async () => {
    let push: ((e: LiveEvent) => void) | null = null;
    let unsubscribed = false;
    const s = await serve({
      live: () => ({
        at: 1,
        services: [
          { name: 'web', releases: [] },
          { name: 'api', releases: [] },
        ],
      }),
      subscribe: (fn) => {
        push = fn;
        return () => (unsubscribed = true);
      },
    });
    const c = openStream(s.to, '/v1/events?service=web', { accept: 'text/event-stream' });
    await c.opened;
    expect(c.res().headers['content-type']).toBe('text/event-stream');
    await c.until((t) => t.includes('event: stats'));
    const dep = (service: string) =>
      ({
        type: 'deploy',
        data: { service, release: 2, at: 5, type: 'step', message: `m-${service}` },
      }) as LiveEvent;
    push!(dep('api'));
    push!(dep('web'));
    push!({
      type: 'stats',
      data: {
        at: 2,
        services: [
          { name: 'api', releases: [] },
          { name: 'web', releases: [] },
        ],
      },
    });
    await c.until((t) => t.split('event: stats').length === 3);
    const t = c.text();
    expect(t.startsWith('retry: 2000\n\n')).toBe(true);
    expect(t).toContain(
      `event: stats\ndata: ${JSON.stringify({ at: 1, services: [{ name: 'web', releases: [] }] })}\n\n`,
    );
    expect(t).toContain(
      `event: stats\ndata: ${JSON.stringify({ at: 2, services: [{ name: 'web', releases: [] }] })}\n\n`,
    );
    expect(t).toContain('m-web');
    expect(t).not.toContain('m-api');
    c.close();
    const deadline = Date.now() + 3000;
    while (!unsubscribed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(unsubscribed).toBe(true);
  });

  it('without a service every event goes through', async () => {
    let push: ((e: LiveEvent) => void) | null = null;
    const s = await serve({ subscribe: (fn) => ((push = fn), () => {}) });
    const c = openStream(s.to, '/v1/events', { accept: 'text/event-stream' });
    await c.opened;
    await c.until((t) => t.includes('event: stats'));
    push!({
      type: 'alert',
      data: { name: 'errors', service: 'api' } as unknown as LiveEvent['data'],
    } as LiveEvent);
    await c.until((t) => t.includes('event: alert'));
    c.close();
  });
});

describe('log follows', () => {
  it('a follow larger than the socket buffers waits for the client (drain) and loses no line', async () => {
    const N = 400;
    const pad = 'y'.repeat(16 * 1024);
    const s = await serve({
      logs: async function* () {
        for (let i = 0; i < N; i++) yield { i, pad };
      },
    });
    const r = await request(s.to, 'GET', '/v1/logs?follow=1', auth);
    expect(r.status).toBe(200);
    const got = lines(r.body);
    expect(got).toHaveLength(N);
    expect(got.map((l) => l.i)).toEqual([...Array(N).keys()]);
  });

  it('stops reading the source once the client has gone', async () => {
    let aborted = false;
    let yielded = 0;
    const s = await serve({
      logs: async function* (_q, signal) {
        while (!signal.aborted) {
          yield { n: ++yielded };
          await new Promise((r) => setTimeout(r, 5));
        }
        aborted = true;
      },
    });
    const c = openStream(s.to, '/v1/logs?follow=1', {});
    await c.opened;
    await c.until((t) => t.includes('"n":2'));
    c.close();
    const deadline = Date.now() + 3000;
    while (!aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(aborted).toBe(true);
    const at = yielded;
    await new Promise((r) => setTimeout(r, 50));
    expect(yielded).toBe(at);
  });
});

describe('preview and handover routes', () => {
  it('a preview name that is not valid percent-encoding: 400, nothing removed', async () => {
    const s = await serve();
    const r = await request(s.to, 'DELETE', '/v1/previews/pr%E0%A4%A', auth);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error).toBe('bad preview name in the URL: pr%E0%A4%A');
    expect(s.calls).toEqual([]);
    const ok = await request(s.to, 'DELETE', '/v1/previews/pr%2D7', auth);
    expect(JSON.parse(ok.body)).toEqual({ preview: { name: 'pr-7' } });
  });

  it('handover from this host: the plane hands over and its answer is returned', async () => {
    const s = await serve();
    const r = await s.post('/v1/daemon/handover', {
      node: '/usr/bin/node',
      script: '/opt/shipit/bin/shipit.js',
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ from: 1, to: 2 });
    expect(s.audited[0]).toMatchObject({
      action: 'handover',
      detail: { script: '/opt/shipit/bin/shipit.js' },
    });
  });

  it('handover asked for from another host: refused whatever the token', async () => {
    const route = ROUTES.find((r) => r.path === '/v1/daemon/handover')!;
    const f = fakePlane();
    let refusal: unknown;
    const srv = http.createServer((req, res) => {
      Object.defineProperty(req.socket, 'remoteAddress', { value: '203.0.113.9' });
      Promise.resolve(
        route.handle({
          req,
          res,
          url: new URL(req.url!, 'http://x'),
          params: {},
          plane: f.plane,
          audit: null,
          rotateToken: f.plane.rotateToken,
        }),
      ).then(
        () => res.end(),
        (e) => {
          refusal = e;
          res.writeHead(400).end();
        },
      );
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const to = { port: (srv.address() as net.AddressInfo).port };
      const body = JSON.stringify({ node: '/usr/bin/node', script: '/opt/shipit/bin/shipit.js' });
      const r = await request(to, 'POST', '/v1/daemon/handover', {}, body);
      expect(r.status).toBe(400);
      expect(refusal).toMatchObject({
        code: 'usage',
        message: 'a daemon upgrade can only be asked for on this host',
      });
      expect(f.calls).toEqual([]);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
