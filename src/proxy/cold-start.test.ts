import http from 'node:http';
import type net from 'node:net';
import pino from 'pino';
import { ProxyRouter } from './router';
import { ProxyServer, type ProxyOptions } from './server';

interface Upstream {
  server: http.Server;
  port: number;
  /** Requests that reached it, complete or not. */
  arrived: number;
  seen: { method: string; url: string; body: string }[];
}

/** Answers 200 with what it received. */
async function upstream(name: string): Promise<Upstream> {
  const up = { seen: [], arrived: 0 } as unknown as Upstream;
  up.server = http.createServer((req, res) => {
    up.arrived++;
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      up.seen.push({ method: req.method!, url: req.url!, body });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name, body }));
    });
  });
  await new Promise<void>((r) => up.server.listen(0, '127.0.0.1', r));
  up.port = (up.server.address() as net.AddressInfo).port;
  upstreams.push(up);
  return up;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(o: { method?: string; body?: string } = {}) {
  const req = http.request({
    host: '127.0.0.1',
    port: proxy.address().port,
    path: '/cold',
    method: o.method ?? 'GET',
    headers: { host: 'cold.test' },
    agent: false,
  });
  const settled = { done: false };
  const reply = new Promise<Reply>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        settled.done = true;
        resolve({ status: res.statusCode!, headers: res.headers, body });
      });
    });
  });
  if (o.body !== undefined) req.write(o.body);
  req.end();
  return { req, reply, settled };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A cold start the test finishes by hand. */
function controlled() {
  const calls: string[] = [];
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  done.catch(() => {});
  const coldStart = (service: string) => {
    calls.push(service);
    return done;
  };
  return { calls, coldStart, finish: () => finish(), fail: (e: Error) => fail(e) };
}

let router: ProxyRouter;
let proxy: ProxyServer;
let upstreams: Upstream[];

async function start(opts: Partial<ProxyOptions>): Promise<void> {
  proxy = new ProxyServer(router, {
    upstreamTimeoutMs: 1000,
    maxBodyBytes: 1024,
    accessLog: null,
    log: pino({ level: 'silent' }),
    ...opts,
  });
  await proxy.listen(0, '127.0.0.1');
}

/** web at zero: its release is routed with no container. */
function atZero(): void {
  router.setService('cold', ['cold.test'], [{ number: 1, weight: 100, targets: [] }]);
}

function routeTo(up: Upstream): void {
  router.setService(
    'cold',
    ['cold.test'],
    [
      {
        number: 1,
        weight: 100,
        targets: [{ id: 'c1', name: 'app-cold-r1-1', host: '127.0.0.1', port: up.port }],
      },
    ],
  );
}

const unrouted503 = () => router.unrouted('cold').codes[503];

beforeEach(() => {
  router = new ProxyRouter();
  upstreams = [];
});

afterEach(async () => {
  proxy.server.closeAllConnections();
  await proxy.close();
  for (const u of upstreams) {
    u.server.closeAllConnections();
    await new Promise<void>((r) => u.server.close(() => r()));
  }
});

describe('ProxyServer cold start', () => {
  it('holds a request while the service has no container, then forwards it once one is routed', async () => {
    const cs = controlled();
    await start({ coldStart: cs.coldStart });
    atZero();
    const up = await upstream('A');
    const first = send();
    await until(() => cs.calls.length === 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(first.settled.done).toBe(false); // held, not answered 503
    routeTo(up);
    cs.finish();
    const r = await first.reply;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ name: 'A' });
    expect(r.headers['x-shipit-release']).toBe('1');
    expect(cs.calls).toEqual(['cold']);
    // counted on the release that answered, not as the proxy's own answer
    expect(router.releaseStats('cold', 1).requests).toBe(1);
    expect(router.unrouted('cold').requests).toBe(0);
  });

  it('forwards a held request with its body', async () => {
    const cs = controlled();
    await start({ coldStart: cs.coldStart });
    atZero();
    const up = await upstream('A');
    const post = send({ method: 'POST', body: 'hello=1' });
    await until(() => cs.calls.length === 1);
    routeTo(up);
    cs.finish();
    expect((await post.reply).status).toBe(200);
    expect(up.seen).toEqual([{ method: 'POST', url: '/cold', body: 'hello=1' }]);
  });

  it('each held request calls coldStart (the scaler makes them share one start)', async () => {
    const cs = controlled();
    await start({ coldStart: cs.coldStart });
    atZero();
    const up = await upstream('A');
    const held = [send(), send(), send()];
    await until(() => cs.calls.length === 3);
    routeTo(up);
    cs.finish();
    const replies = await Promise.all(held.map((s) => s.reply));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(up.seen).toHaveLength(3);
  });

  it('answers 503 at once when the queue is full; the held ones are still served', async () => {
    const cs = controlled();
    await start({ coldStart: cs.coldStart, coldStartQueue: 2 });
    atZero();
    const up = await upstream('A');
    const held = [send(), send()];
    await until(() => cs.calls.length === 2);
    const t0 = Date.now();
    const over = await send().reply;
    expect(Date.now() - t0).toBeLessThan(500);
    expect(over.status).toBe(503);
    expect(JSON.parse(over.body)).toMatchObject({
      error: 'Service Unavailable',
      message: 'no container yet: the cold-start queue is full',
      service: 'cold',
    });
    expect(unrouted503()).toBe(1);
    expect(held.some((s) => s.settled.done)).toBe(false);
    routeTo(up);
    cs.finish();
    expect((await Promise.all(held.map((s) => s.reply))).map((r) => r.status)).toEqual([200, 200]);
  });

  it('frees the queue slots of finished requests', async () => {
    let cs = controlled();
    await start({ coldStart: (s) => cs.coldStart(s), coldStartQueue: 1 });
    const up = await upstream('A');
    for (let i = 0; i < 3; i++) {
      atZero();
      const held = send();
      await until(() => cs.calls.length === 1);
      routeTo(up);
      cs.finish();
      expect((await held.reply).status).toBe(200);
      cs = controlled();
    }
    expect(router.unrouted('cold').requests).toBe(0);
  });

  it('answers 503 with the limit when no container is up within coldStartTimeoutMs', async () => {
    const cs = controlled(); // never finishes
    await start({ coldStart: cs.coldStart, coldStartTimeoutMs: 50 });
    atZero();
    const t0 = Date.now();
    const r = await send().reply;
    const ms = Date.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(45);
    expect(ms).toBeLessThan(1000);
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toMatchObject({
      message: 'no container became healthy within 50ms',
      service: 'cold',
    });
    expect(unrouted503()).toBe(1);
    expect(router.unrouted('cold').errors).toBe(1);
  });

  it('answers 503 when the cold start fails', async () => {
    const cs = controlled();
    await start({ coldStart: cs.coldStart });
    atZero();
    const held = send();
    await until(() => cs.calls.length === 1);
    cs.fail(new Error('image not found'));
    const r = await held.reply;
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).message).toBe('cold start failed: image not found');
    expect(unrouted503()).toBe(1);
  });

  it('answers 503 when the cold start resolves but still no container is routed', async () => {
    await start({ coldStart: async () => {} });
    atZero();
    const r = await send().reply;
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).message).toBe('no healthy container after the cold start');
    expect(unrouted503()).toBe(1);
  });

  it('does not hold when a container exists but is unhealthy: 503 at once, no cold start', async () => {
    const calls: string[] = [];
    await start({
      coldStart: async (s) => {
        calls.push(s);
      },
    });
    const up = await upstream('A');
    routeTo(up);
    router.setHealth('c1', false);
    const r = await send().reply;
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).message).toBe('no healthy container');
    expect(calls).toEqual([]);
  });

  it('without a coldStart option, a service at zero gets 503 at once', async () => {
    await start({});
    atZero();
    const r = await send().reply;
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).message).toBe('no healthy container');
  });

  it('does not answer or forward a request whose client left while it waited', async () => {
    const cs = controlled();
    await start({ coldStart: cs.coldStart });
    atZero();
    const up = await upstream('A');
    const gone = send();
    gone.reply.catch(() => {});
    await until(() => cs.calls.length === 1);
    gone.req.destroy();
    await until(() => proxy.openConnections === 0); // the proxy saw the client leave
    routeTo(up);
    cs.finish();
    await new Promise((r) => setTimeout(r, 30));
    expect(up.arrived).toBe(0);
    expect(router.targets('cold').map((t) => t.inflight)).toEqual([0]); // no slot taken for it
    expect(router.releaseStats('cold', 1).requests).toBe(0);
    expect(router.unrouted('cold').requests).toBe(0);
    // the slot was freed and the proxy still serves
    expect((await send().reply).status).toBe(200);
  });

  it('a client that leaves before the timeout is not answered 503 either', async () => {
    const cs = controlled();
    await start({ coldStart: cs.coldStart, coldStartTimeoutMs: 40 });
    atZero();
    const gone = send();
    gone.reply.catch(() => {});
    await until(() => cs.calls.length === 1);
    gone.req.destroy();
    await until(() => proxy.openConnections === 0); // the proxy saw the client leave
    await new Promise((r) => setTimeout(r, 80));
    expect(router.unrouted('cold').requests).toBe(0); // no 503 written nor counted
  });
});
