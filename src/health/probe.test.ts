import http from 'node:http';
import net from 'node:net';
import type { HealthcheckSpec } from '../domain/types';
import { httpProbe, probe, tcpProbe } from './probe';

let server: http.Server;
let port: number;
let deadPort: number;
const hanging: http.ServerResponse[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/ok') return void res.end('all good');
    if (req.url === '/redirect') {
      res.writeHead(302, { location: '/ok' });
      return void res.end();
    }
    if (req.url === '/boom') {
      res.writeHead(500);
      return void res.end('database down\n');
    }
    if (req.url === '/big') return void res.end('x'.repeat(5000));
    if (req.url === '/hang') return void hanging.push(res);
    res.writeHead(404);
    res.end('nope');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  deadPort = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const hc = (over: Partial<HealthcheckSpec> = {}): HealthcheckSpec => ({
  intervalMs: 100,
  timeoutMs: 300,
  healthyThreshold: 1,
  unhealthyThreshold: 1,
  ...over,
});

describe('httpProbe', () => {
  it('is ok on 2xx, with status and body in the detail', async () => {
    await expect(httpProbe('127.0.0.1', port, '/ok', 1000)).resolves.toEqual({
      ok: true,
      detail: 'GET /ok -> 200 "all good"',
    });
  });

  it('is ok on 3xx (not followed)', async () => {
    const r = await httpProbe('127.0.0.1', port, '/redirect', 1000);
    expect(r.ok).toBe(true);
    expect(r.detail).toContain('-> 302');
  });

  it('is not ok on 500, with the status and start of the body in the detail', async () => {
    await expect(httpProbe('127.0.0.1', port, '/boom', 1000)).resolves.toEqual({
      ok: false,
      detail: 'GET /boom -> 500 "database down"',
    });
    const r404 = await httpProbe('127.0.0.1', port, '/missing', 1000);
    expect(r404.ok).toBe(false);
    expect(r404.detail).toContain('-> 404');
  });

  it('keeps the detail short for a large body', async () => {
    const r = await httpProbe('127.0.0.1', port, '/big', 1000);
    expect(r.ok).toBe(true);
    expect(r.detail).toBe(`GET /big -> 200 ${JSON.stringify('x'.repeat(120))}`);
  });

  it('is not ok when the connection is refused', async () => {
    const r = await httpProbe('127.0.0.1', deadPort, '/ok', 1000);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/^GET \/ok: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    expect(r.timedOut).toBeUndefined();
  });

  it('times out when the server does not answer', async () => {
    const t0 = Date.now();
    const r = await httpProbe('127.0.0.1', port, '/hang', 200);
    const took = Date.now() - t0;
    expect(r).toEqual({ ok: false, detail: 'GET /hang: timed out after 200ms', timedOut: true });
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(1500);
  });
});

describe('tcpProbe', () => {
  it('is ok when the port accepts a connection', async () => {
    await expect(tcpProbe('127.0.0.1', port, 500)).resolves.toEqual({
      ok: true,
      detail: `tcp ${port}: connected`,
    });
  });

  it('is not ok when the connection is refused', async () => {
    const r = await tcpProbe('127.0.0.1', deadPort, 500);
    expect(r.ok).toBe(false);
    expect(r.detail).toContain(`tcp ${deadPort}: connect ECONNREFUSED`);
  });

  it('times out when the connection never completes', async () => {
    // a socket that never connects stands in for a black-holed address
    const spy = jest.spyOn(net, 'connect').mockImplementation(() => new net.Socket());
    try {
      const r = await tcpProbe('192.0.2.1', 81, 100);
      expect(r).toEqual({ ok: false, detail: 'tcp 81: timed out after 100ms', timedOut: true });
    } finally {
      spy.mockRestore();
    }
  });
});

describe('probe', () => {
  it('uses tcp when hc.tcp is set, otherwise http on hc.path (default /)', async () => {
    expect((await probe('127.0.0.1', port, hc({ tcp: true, path: '/boom' }))).detail).toBe(
      `tcp ${port}: connected`,
    );
    expect(await probe('127.0.0.1', port, hc({ path: '/boom' }))).toMatchObject({
      ok: false,
      detail: 'GET /boom -> 500 "database down"',
    });
    expect((await probe('127.0.0.1', port, hc())).detail).toBe('GET / -> 404 "nope"');
  });
});
