import http from 'node:http';
import type net from 'node:net';
import { frontDoor, httpsLocation } from './front-door';

describe('httpsLocation', () => {
  it('replaces the port (none for 443), keeps path and query, and brackets IPv6', () => {
    expect(httpsLocation('a.test:8080', '/p?q=1', 443)).toBe('https://a.test/p?q=1');
    expect(httpsLocation('a.test', '/p', 8443)).toBe('https://a.test:8443/p');
    expect(httpsLocation('[::1]:8080', '/', 8443)).toBe('https://[::1]:8443/');
    expect(httpsLocation('a.test', '*', 443)).toBe('https://a.test/*');
  });
});

describe('frontDoor', () => {
  let server: http.Server;
  let port: number;
  const challenges = new Map([['tok123', 'tok123.thumbprint']]);
  const door = frontDoor({
    challenge: (t) => challenges.get(t),
    redirect: { port: () => 443, serves: (h) => h === 'a.test' },
  });

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (!door(req, res)) res.end('routed');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  const get = (p: string, host = 'a.test', method = 'GET') =>
    new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>((resolve) => {
      http
        .request(
          { host: '127.0.0.1', port, path: p, method, headers: { host }, agent: false },
          (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body, headers: res.headers }),
            );
          },
        )
        .end();
    });

  it('answers a pending challenge with its key authorization, before any redirect', async () => {
    const r = await get('/.well-known/acme-challenge/tok123');
    expect(r.status).toBe(200);
    expect(r.body).toBe('tok123.thumbprint');
    expect(r.headers['cache-control']).toBe('no-store');
  });

  it('leaves unknown challenge tokens and hosts without a certificate to routing', async () => {
    expect((await get('/.well-known/acme-challenge/other')).body).toBe('routed');
    expect((await get('/x', 'b.test')).body).toBe('routed');
  });

  it('redirects the rest with 308 (no body for HEAD)', async () => {
    const r = await get('/x?y=1');
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe('https://a.test/x?y=1');
    expect(r.body).toBe('redirecting to https://a.test/x?y=1\n');
    const head = await get('/x', 'a.test', 'HEAD');
    expect(head.status).toBe(308);
    expect(head.body).toBe('');
  });
});
