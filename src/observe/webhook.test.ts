import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { WebhookNotifier } from './webhook';

const log = pino({ level: 'silent' });

interface Call {
  url: string;
  at: number;
  init: RequestInit;
  body: Record<string, unknown>;
}

/** A fetch that answers with the statuses it is given in turn (a thrown Error = network failure). */
function scriptedFetch(
  answer: (call: Call, n: number) => number | Error | Promise<number | Error>,
): { fetch: typeof globalThis.fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    const call: Call = {
      url: String(url),
      at: performance.now(),
      init: init ?? {},
      body: JSON.parse(String(init?.body)) as Record<string, unknown>,
    };
    calls.push(call);
    const a = await answer(call, calls.length);
    if (a instanceof Error) throw a;
    return new Response(a === 204 ? null : 'ok', { status: a });
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

describe('WebhookNotifier (real HTTP server)', () => {
  let server: http.Server;
  let url: string;
  const received: { method?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  let statuses: number[] = [];

  beforeEach(async () => {
    received.length = 0;
    statuses = [];
    server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        received.push({ method: req.method, headers: req.headers, body });
        res.statusCode = statuses.shift() ?? 200;
        res.end('thanks');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('POSTs the payload as JSON and idle() resolves once it was delivered', async () => {
    const n = new WebhookNotifier({ log, baseDelayMs: 1 });
    n.send(url, { alert: 'web-errors', status: 'firing', value: 0.5 });
    await n.idle();
    expect(received).toHaveLength(1);
    expect(received[0].method).toBe('POST');
    expect(received[0].headers['content-type']).toBe('application/json');
    expect(received[0].headers['user-agent']).toBe('shipit');
    expect(JSON.parse(received[0].body)).toEqual({
      alert: 'web-errors',
      status: 'firing',
      value: 0.5,
    });
  });

  it('retries a 500 answer until the server accepts it', async () => {
    statuses = [500, 503];
    const n = new WebhookNotifier({ log, baseDelayMs: 1 });
    n.send(url, { status: 'firing' });
    await n.idle();
    expect(received.map((r) => JSON.parse(r.body))).toEqual([
      { status: 'firing' },
      { status: 'firing' },
      { status: 'firing' },
    ]);
  });

  it('retries a refused connection, then gives up', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const dead = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/hook`;
    await new Promise((resolve) => closed.close(resolve));
    const warn = jest.spyOn(log, 'warn');
    const n = new WebhookNotifier({ log, baseDelayMs: 1, attempts: 3 });
    n.send(dead, { status: 'firing' });
    n.send(url, { status: 'other url' });
    await n.idle();
    expect(warn.mock.calls.filter(([o]) => (o as { url: string }).url === dead)).toHaveLength(3);
    expect(received).toHaveLength(1);
    warn.mockRestore();
  });
});

describe('WebhookNotifier', () => {
  it('retries 500 answers with exponential backoff, then stops once delivered', async () => {
    const { fetch, calls } = scriptedFetch((_c, n) => (n <= 3 ? 500 : 200));
    const n = new WebhookNotifier({ log, fetch, baseDelayMs: 10, attempts: 6 });
    const info = jest.spyOn(log, 'info');
    n.send('http://hooks.test/a', { status: 'firing' });
    await n.idle();
    expect(calls).toHaveLength(4);
    const gaps = calls.slice(1).map((c, i) => c.at - calls[i].at);
    // 10, 20, 40 ms (timers may fire a hair early).
    expect(gaps[0]).toBeGreaterThanOrEqual(9);
    expect(gaps[1]).toBeGreaterThanOrEqual(19);
    expect(gaps[2]).toBeGreaterThanOrEqual(39);
    expect(info).toHaveBeenCalledWith(
      { url: 'http://hooks.test/a', attempt: 4, status: 200 },
      'webhook delivered',
    );
    info.mockRestore();
  });

  it('sends POST with a JSON body and an abort signal per attempt', async () => {
    const { fetch, calls } = scriptedFetch(() => 204);
    const n = new WebhookNotifier({ log, fetch });
    n.send('http://hooks.test/a', { a: 1, nested: { b: [1, 2] } });
    await n.idle();
    expect(calls).toHaveLength(1);
    expect(calls[0].url).toBe('http://hooks.test/a');
    expect(calls[0].init.method).toBe('POST');
    expect(calls[0].init.headers).toMatchObject({ 'content-type': 'application/json' });
    expect(calls[0].init.signal).toBeInstanceOf(AbortSignal);
    expect(calls[0].body).toEqual({ a: 1, nested: { b: [1, 2] } });
  });

  it('retries network errors', async () => {
    const { fetch, calls } = scriptedFetch((_c, n) =>
      n <= 2 ? new TypeError('fetch failed: ECONNREFUSED') : 200,
    );
    const warn = jest.spyOn(log, 'warn');
    const n = new WebhookNotifier({ log, fetch, baseDelayMs: 1 });
    n.send('http://hooks.test/a', { status: 'firing' });
    await n.idle();
    expect(calls).toHaveLength(3);
    expect(warn).toHaveBeenCalledWith(
      { url: 'http://hooks.test/a', attempt: 1, err: 'fetch failed: ECONNREFUSED' },
      'webhook delivery failed',
    );
    warn.mockRestore();
  });

  it('gives an attempt up after timeoutMs and retries it', async () => {
    const { fetch, calls } = scriptedFetch((c, n) =>
      n === 1
        ? new Promise<Error>((resolve) =>
            c.init.signal?.addEventListener('abort', () => resolve(new Error('timed out'))),
          )
        : 200,
    );
    const n = new WebhookNotifier({ log, fetch, baseDelayMs: 1, timeoutMs: 20 });
    n.send('http://hooks.test/a', { status: 'firing' });
    await n.idle();
    expect(calls).toHaveLength(2);
  });

  it('gives up after `attempts` tries and logs it', async () => {
    const { fetch, calls } = scriptedFetch(() => 500);
    const error = jest.spyOn(log, 'error');
    const n = new WebhookNotifier({ log, fetch, baseDelayMs: 1, attempts: 3 });
    n.send('http://hooks.test/a', { status: 'firing' });
    await n.idle();
    expect(calls).toHaveLength(3);
    expect(error).toHaveBeenCalledWith(
      { url: 'http://hooks.test/a', attempts: 3, err: 'HTTP 500' },
      'webhook given up',
    );
    error.mockRestore();
  });

  it('after giving one payload up, the next one to the same URL still goes out', async () => {
    const { fetch, calls } = scriptedFetch((c) => (c.body.status === 'firing' ? 500 : 200));
    const n = new WebhookNotifier({ log, fetch, baseDelayMs: 1, attempts: 2 });
    n.send('http://hooks.test/a', { status: 'firing' });
    n.send('http://hooks.test/a', { status: 'resolved' });
    await n.idle();
    expect(calls.map((c) => c.body.status)).toEqual(['firing', 'firing', 'resolved']);
  });

  it('keeps the order per URL: a resolved never overtakes a firing that needs retries', async () => {
    const { fetch, calls } = scriptedFetch((c) => {
      const tries = calls.filter((x) => x.body.status === c.body.status).length;
      return c.body.status === 'firing' && tries <= 2 ? 500 : 200;
    });
    const n = new WebhookNotifier({ log, fetch, baseDelayMs: 5 });
    n.send('http://hooks.test/a', { status: 'firing' });
    n.send('http://hooks.test/a', { status: 'resolved' });
    n.send('http://hooks.test/a', { status: 'firing', again: true });
    await n.idle();
    expect(calls.map((c) => c.body.status)).toEqual([
      'firing',
      'firing',
      'firing',
      'resolved',
      'firing',
    ]);
    expect(calls[4].body.again).toBe(true);
  });

  it('does not hold one URL back behind another one retrying', async () => {
    const { fetch, calls } = scriptedFetch((c) => (c.url.endsWith('/slow') ? 500 : 200));
    const n = new WebhookNotifier({ log, fetch, baseDelayMs: 20, attempts: 3 });
    n.send('http://hooks.test/slow', { n: 1 });
    n.send('http://hooks.test/fast', { n: 2 });
    await n.idle();
    // The fast URL was delivered right away, before the slow one's first retry.
    expect(calls.map((c) => c.url.split('/').pop())).toEqual(['slow', 'fast', 'slow', 'slow']);
  });

  it('idle() resolves at once with nothing queued, and waits for payloads sent meanwhile', async () => {
    const { fetch, calls } = scriptedFetch(() => 200);
    const n = new WebhookNotifier({ log, fetch, baseDelayMs: 1 });
    await n.idle();
    expect(calls).toHaveLength(0);

    // A payload queued while idle() is already waiting is waited for too.
    const { fetch: f2, calls: c2 } = scriptedFetch(async (c) => {
      if (c.body.n === 1) {
        n2.send('http://hooks.test/b', { n: 2 });
        await new Promise((r) => setTimeout(r, 10));
      }
      return 200;
    });
    const n2 = new WebhookNotifier({ log, fetch: f2, baseDelayMs: 1 });
    n2.send('http://hooks.test/a', { n: 1 });
    await n2.idle();
    expect(c2.map((c) => c.body.n).sort()).toEqual([1, 2]);
  });

  it('stop() abandons retries and what is still queued', async () => {
    const { fetch, calls } = scriptedFetch(() => {
      n.stop(); // the daemon shuts down while the first attempt is out
      return 500;
    });
    const n = new WebhookNotifier({ log, fetch, baseDelayMs: 1000, attempts: 6 });
    const started = performance.now();
    n.send('http://hooks.test/a', { status: 'firing' });
    n.send('http://hooks.test/a', { status: 'resolved' });
    n.send('http://hooks.test/b', { status: 'firing' });
    await n.idle();
    // No retry (nor its 1 s backoff), and nothing queued went out after stop().
    expect(calls.map((c) => [c.url, c.body.status])).toEqual([['http://hooks.test/a', 'firing']]);
    expect(performance.now() - started).toBeLessThan(900);

    n.send('http://hooks.test/a', { status: 'later' });
    await n.idle();
    expect(calls).toHaveLength(1);
  });

  it('stop() during a backoff ends the retries', async () => {
    const { fetch, calls } = scriptedFetch(() => 500);
    const n = new WebhookNotifier({ log, fetch, baseDelayMs: 20, attempts: 6 });
    n.send('http://hooks.test/a', { status: 'firing' });
    await new Promise((r) => setTimeout(r, 5));
    expect(calls).toHaveLength(1);
    n.stop();
    await n.idle();
    expect(calls).toHaveLength(1);
  });
});
