// The raw data path's own framing cases, byte by byte on real sockets: pipelining,
// HTTP/1.0 clients, chunked and close-delimited answers, Expect: 100-continue, HEAD,
// informational answers, upstream keep-alive, backpressure, long heads, an upgrade
// after keep-alive requests. The shared behaviour (routing, retries, errors,
// timeouts) is in server.test.ts, hostility.test.ts and cold-start.test.ts.
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import pino from 'pino';
import { ProxyRouter } from './router';
import { ProxyServer } from './server';

jest.setTimeout(15_000);

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/** A proxy on the raw data path routing every host to port. */
async function proxyTo(port: number): Promise<{ proxy: ProxyServer; port: number }> {
  const router = new ProxyRouter();
  router.setService(
    'web',
    ['*'],
    [
      {
        number: 3,
        weight: 100,
        targets: [{ id: 'u1', name: 'up-1', host: '127.0.0.1', port }],
      },
    ],
  );
  const proxy = new ProxyServer(router, {
    upstreamTimeoutMs: 5000,
    maxBodyBytes: 1024 * 1024,
    accessLog: null,
    log: pino({ enabled: false }),
    dataPath: 'raw',
  });
  await proxy.listen(0, '127.0.0.1');
  cleanups.push(async () => {
    proxy.server.closeAllConnections();
    await proxy.close();
  });
  return { proxy, port: proxy.address().port };
}

/** An upstream made of a node http.Server. */
async function httpUpstream(handler: http.RequestListener): Promise<http.Server> {
  const server = http.createServer({ keepAlive: true }, handler);
  await listen(server);
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return server;
}

/** An upstream that answers each request head with `answer(head)` (raw bytes). */
async function rawUpstream(
  answer: (head: string, socket: net.Socket) => void,
): Promise<{ port: number; connections: () => number }> {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    n++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        answer(head, s);
      }
    });
    s.on('error', () => {});
  });
  const port = await listen(server);
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return { port, connections: () => n };
}

const portOf = (s: http.Server) => (s.address() as net.AddressInfo).port;

/** Sends bytes on a new connection; resolves with everything received once `done(text)` or the close. */
async function exchange(
  port: number,
  bytes: string,
  done: (text: string) => boolean = () => false,
): Promise<string> {
  const c = net.connect(port, '127.0.0.1');
  cleanups.push(() => c.destroy());
  await once(c, 'connect');
  c.write(bytes);
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no complete answer: ${text}`)), 5000);
    const finish = () => {
      clearTimeout(timer);
      resolve(text);
    };
    c.on('data', (d) => {
      text += d.toString('latin1');
      if (done(text)) finish();
    });
    c.on('close', finish);
  });
}

/** A connection to port that keeps what it receives; waitFor(what) until it came, within ms. */
async function openClient(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  cleanups.push(() => socket.destroy());
  await once(socket, 'connect');
  let text = '';
  socket.on('data', (d) => (text += d));
  const waitFor = async (what: string, ms = 5000): Promise<string> => {
    const end = Date.now() + ms;
    while (!text.includes(what) && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    return text;
  };
  return { socket, waitFor };
}

const count = (text: string, what: string) => text.split(what).length - 1;

describe('raw data path framing', () => {
  it('answers pipelined requests in order, each with its own request id', async () => {
    const up = await httpUpstream((req, res) => {
      // the first one is the slowest: answers must still come in request order
      setTimeout(() => res.end(`you asked ${req.url}`), req.url === '/1' ? 50 : 0);
    });
    const p = await proxyTo(portOf(up));
    const text = await exchange(
      p.port,
      'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n',
      (t) => t.includes('you asked /3'),
    );
    expect(text.indexOf('you asked /1')).toBeLessThan(text.indexOf('you asked /2'));
    expect(text.indexOf('you asked /2')).toBeLessThan(text.indexOf('you asked /3'));
    const ids = [...text.matchAll(/x-request-id: (\S+)/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(3);
    expect(count(text, 'x-shipit-release: 3\r\n')).toBe(3);
  });

  it('re-frames an answer that ends with its connection: chunked to HTTP/1.1, close to HTTP/1.0', async () => {
    const up = await rawUpstream((_head, s) =>
      s.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end'),
    );
    const p = await proxyTo(up.port);
    const t11 = await exchange(p.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', (t) =>
      t.endsWith('0\r\n\r\n'),
    );
    expect(t11).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(t11).toContain('transfer-encoding: chunked\r\n');
    expect(t11).toContain('\r\n\r\nd\r\nuntil the end\r\n0\r\n\r\n');
    // HTTP/1.0 knows no chunks: the body ends with the connection
    const t10 = await exchange(p.port, 'GET / HTTP/1.0\r\nHost: a\r\n\r\n');
    expect(t10).toContain('connection: close\r\n');
    expect(t10).not.toContain('chunked');
    expect(t10.endsWith('\r\n\r\nuntil the end')).toBe(true);
  });

  it('relays a chunked answer whole to HTTP/1.1, and as a close-delimited body to HTTP/1.0', async () => {
    const up = await httpUpstream((_req, res) => {
      res.write('first,');
      setTimeout(() => res.end('second'), 20);
    });
    const p = await proxyTo(portOf(up));
    const t11 = await exchange(p.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', (t) =>
      t.endsWith('0\r\n\r\n'),
    );
    expect(t11).toContain('6\r\nfirst,\r\n');
    expect(t11).toContain('6\r\nsecond\r\n0\r\n\r\n');
    const t10 = await exchange(p.port, 'GET / HTTP/1.0\r\nHost: a\r\n\r\n');
    expect(t10.endsWith('\r\n\r\nfirst,second')).toBe(true);
  });

  it('keeps an HTTP/1.0 keep-alive client open when the answer has a length', async () => {
    const up = await httpUpstream((_req, res) => res.end('ok'));
    const p = await proxyTo(portOf(up));
    const text = await exchange(
      p.port,
      'GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n',
      (t) => t.endsWith('\r\n\r\nok'),
    );
    expect(text).toContain('connection: keep-alive\r\n');
    expect(p.proxy.openConnections).toBe(1);
  });

  it('answers Expect: 100-continue itself and sends the body on without the Expect header', async () => {
    let seen: http.IncomingHttpHeaders = {};
    const up = await httpUpstream((req, res) => {
      seen = req.headers;
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => res.end(`got ${body}`));
    });
    const p = await proxyTo(portOf(up));
    const c = net.connect(p.port, '127.0.0.1');
    cleanups.push(() => c.destroy());
    await once(c, 'connect');
    c.write('POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
    const [first] = (await once(c, 'data')) as [Buffer];
    expect(first.toString()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    c.write('hello');
    let text = '';
    while (!text.includes('got hello')) text += String(((await once(c, 'data')) as [Buffer])[0]);
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(seen.expect).toBeUndefined();
  });

  it('passes a chunked request body on chunked, whole', async () => {
    const bodies: string[] = [];
    const up = await httpUpstream((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        bodies.push(`${req.headers['transfer-encoding']}:${body}`);
        res.end('ok');
      });
    });
    const p = await proxyTo(portOf(up));
    await exchange(
      p.port,
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n',
      (t) => t.endsWith('\r\n\r\nok'),
    );
    expect(bodies).toEqual(['chunked:abcdefg']);
  });

  it('answers HEAD with the head only, and the connection carries the next request', async () => {
    const up = await rawUpstream((head, s) =>
      s.write(
        head.startsWith('HEAD')
          ? 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n'
          : 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world',
      ),
    );
    const p = await proxyTo(up.port);
    const text = await exchange(
      p.port,
      'HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
      (t) => t.endsWith('hello world'),
    );
    expect(count(text, 'HTTP/1.1 200 OK\r\n')).toBe(2);
    expect(count(text, 'content-length: 11\r\n') + count(text, 'Content-Length: 11\r\n')).toBe(2);
    expect(count(text, 'hello world')).toBe(1);
  });

  it('skips informational answers (103) and relays the final one', async () => {
    const up = await rawUpstream((_head, s) =>
      s.write(
        'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone',
      ),
    );
    const p = await proxyTo(up.port);
    const text = await exchange(p.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', (t) =>
      t.endsWith('done'),
    );
    expect(text).toMatch(/^HTTP\/1\.1 201 Created\r\n/);
    expect(text).not.toContain('103');
  });

  it('reuses one upstream connection for requests one after the other', async () => {
    const up = await rawUpstream((_head, s) =>
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    );
    const p = await proxyTo(up.port);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    for (let i = 0; i < 20; i++) {
      const res = await new Promise<http.IncomingMessage>((r) =>
        http.get({ port: p.port, host: '127.0.0.1', agent }, r),
      );
      res.resume();
      await once(res, 'end');
      expect(res.statusCode).toBe(200);
    }
    expect(up.connections()).toBe(1);
  });

  it('relays a large answer whole to a client that reads slowly (backpressure both ways)', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 'x');
    const up = await httpUpstream((_req, res) => res.end(big));
    const p = await proxyTo(portOf(up));
    const c = net.connect(p.port, '127.0.0.1');
    cleanups.push(() => c.destroy());
    await once(c, 'connect');
    c.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    c.pause();
    await new Promise((r) => setTimeout(r, 300)); // the proxy's writes pile up meanwhile
    let got = 0;
    let head = '';
    c.on('data', (d: Buffer) => {
      if (!head) {
        const end = d.indexOf('\r\n\r\n');
        head = d.subarray(0, end).toString();
        got += d.length - end - 4;
      } else got += d.length;
    });
    c.resume();
    const deadline = Date.now() + 10_000;
    while (got < big.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(head).toContain(`Content-Length: ${big.length}`);
    expect(got).toBe(big.length);
  });

  it('passes a head of more than 32 headers (parsed in parts) on whole', async () => {
    let seen: string[] = [];
    const up = await httpUpstream((req, res) => {
      seen = req.rawHeaders.filter((_h, i) => i % 2 === 0 && req.rawHeaders[i].startsWith('X-'));
      res.end('ok');
    });
    const p = await proxyTo(portOf(up));
    const many = Array.from({ length: 40 }, (_v, i) => `X-H${i}: ${i}\r\n`).join('');
    await exchange(p.port, `GET / HTTP/1.1\r\nHost: a\r\n${many}\r\n`, (t) => t.endsWith('ok'));
    expect(seen).toEqual(Array.from({ length: 40 }, (_v, i) => `X-H${i}`));
  });

  it('hands an upgrade that follows keep-alive requests on the same connection to the WebSocket path', async () => {
    const up = await httpUpstream((_req, res) => res.end('plain'));
    up.on('upgrade', (_req, socket: net.Socket, head: Buffer) => {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      );
      socket.write(head); // what the client sent right after its request head
      socket.on('data', (d) => socket.write(d));
      cleanups.push(() => socket.destroy()); // an upgraded socket is not the http.Server's to close
    });
    const p = await proxyTo(portOf(up));
    const { socket: c, waitFor } = await openClient(p.port);
    c.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    const until = async (what: string) => expect(await waitFor(what)).toContain(what);
    await until('plain');
    c.write('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nping');
    await until('101 Switching Protocols');
    await until('ping');
    c.write('pong');
    await until('pong');
  });

  it('reads the body of a pipelined request that comes after its head, and answers it', async () => {
    const up = await httpUpstream((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => setTimeout(() => res.end(`${req.url}:${body};`), 30));
    });
    const p = await proxyTo(portOf(up));
    const { socket: c, waitFor } = await openClient(p.port);
    c.write(
      'GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n',
    );
    await new Promise((r) => setTimeout(r, 100));
    c.write('0123456789');
    const text = await waitFor('/b:0123456789;', 3000);
    expect(text).toContain('/a:;');
    expect(text).toContain('/b:0123456789;');
  });

  it('sends the upstream exactly one Host, the one it routed by; an HTTP/1.1 request without one gets 400', async () => {
    let hosts: string[] = [];
    const up = await httpUpstream((req, res) => {
      hosts = req.rawHeaders.filter(
        (_v, i) => i % 2 === 1 && /^host$/i.test(req.rawHeaders[i - 1]),
      );
      res.end('ok');
    });
    const p = await proxyTo(portOf(up));
    // node's parser refuses two Host lines: the proxy sends the first on, once
    await exchange(p.port, 'GET / HTTP/1.1\r\nHost: first\r\nHost: second\r\n\r\n', (t) =>
      t.endsWith('ok'),
    ).catch(() => '');
    if (hosts.length) expect(hosts).toEqual(['first']);
    const none = await exchange(p.port, 'GET / HTTP/1.1\r\nX-A: 1\r\n\r\n');
    expect(none).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(none).toContain('connection: close\r\n');
  });

  it('a connection paused for a slow reader serves the next client at once from the pool', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 'y');
    const up = await rawUpstream((head, s) => {
      if (head.startsWith('GET /big'))
        s.write(
          Buffer.concat([
            Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`),
            big,
          ]),
        );
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmall');
    });
    const p = await proxyTo(up.port);
    const slow = net.connect(p.port, '127.0.0.1');
    cleanups.push(() => slow.destroy());
    await once(slow, 'connect');
    slow.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
    slow.pause(); // reads nothing: the proxy's writes to it back up
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const text = await exchange(p.port, 'GET /small HTTP/1.1\r\nHost: a\r\n\r\n', (t) =>
      t.endsWith('small'),
    );
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('delivers a close-delimited answer whole to an HTTP/1.0 client that reads late', async () => {
    const big = Buffer.alloc(1024 * 1024, 'z');
    const up = await rawUpstream((_head, s) =>
      s.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'), big])),
    );
    const p = await proxyTo(up.port);
    const c = net.connect(p.port, '127.0.0.1');
    cleanups.push(() => c.destroy());
    await once(c, 'connect');
    c.write('GET / HTTP/1.0\r\nHost: a\r\n\r\n');
    c.pause();
    await new Promise((r) => setTimeout(r, 2500)); // past the proxy's 2 s linger
    let got = 0;
    let seenHead = false;
    c.on('data', (d: Buffer) => {
      if (!seenHead) {
        const end = d.indexOf('\r\n\r\n');
        if (end >= 0) {
          seenHead = true;
          got += d.length - end - 4;
        }
      } else got += d.length;
    });
    c.resume();
    await once(c, 'close');
    expect(got).toBe(big.length);
  });
});
