import http from 'node:http';
import net from 'node:net';
import { ConnectionTracker } from './connections';

interface Got {
  status: number;
  body: string;
  socket: net.Socket;
}

let clock = 0;
let server: http.Server;
let tracker: ConnectionTracker;
let port: number;
/** Responses to /slow, held until the test ends them. */
let slow: http.ServerResponse[];
/** Responses whose 'close' every listener (the tracker's too) has seen. */
let closedResponses: number;
let agents: http.Agent[];
let raw: net.Socket[];

async function waitFor(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A keep-alive client with one connection. */
function client() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  agents.push(agent);
  const get = (path: string): Promise<Got> =>
    new Promise((resolve, reject) => {
      let socket!: net.Socket;
      const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, socket }));
        res.on('error', reject);
      });
      req.on('socket', (s) => (socket = s));
      req.on('error', reject);
    });
  return { agent, get };
}

/** A raw TCP client, for what an http client hides (FIN, upgrades). */
async function connect(): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  raw.push(s);
  s.setEncoding('utf8');
  await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
  return s;
}

function closed(s: net.Socket): Promise<{ ended: boolean }> {
  let ended = false;
  s.on('end', () => (ended = true));
  s.on('error', () => undefined);
  return new Promise((r) => s.once('close', () => r({ ended })));
}

/** Resolves once a request was accepted and the response completed, as the tracker sees it. */
async function got(c: ReturnType<typeof client>, path: string): Promise<Got> {
  const before = closedResponses;
  const g = await c.get(path);
  await waitFor(() => closedResponses > before, 'the response to close');
  return g;
}

beforeEach(async () => {
  clock = 0;
  slow = [];
  closedResponses = 0;
  agents = [];
  raw = [];
  server = http.createServer((req, res) => {
    // Registered before the tracker's own listener; count after every listener ran.
    res.on('close', () => setImmediate(() => closedResponses++));
    if (req.url === '/slow') return void slow.push(res);
    res.end('ok');
  });
  tracker = new ConnectionTracker(server, () => clock);
  server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
    socket.on('data', (d) => socket.write(d)); // echo
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});

afterEach(async () => {
  for (const a of agents) a.destroy();
  for (const s of raw) s.destroy();
  tracker.destroyAll();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('ConnectionTracker', () => {
  it('counts open connections; keep-alive requests reuse theirs; closed ones leave', async () => {
    expect(tracker.size).toBe(0);
    const a = client();
    const b = client();
    const ra = await got(a, '/');
    await got(b, '/');
    expect(tracker.size).toBe(2);
    const ra2 = await got(a, '/');
    expect(ra2.socket).toBe(ra.socket);
    expect(tracker.size).toBe(2);
    const s = await connect();
    await waitFor(() => tracker.size === 3, '3 connections');
    s.end();
    await waitFor(() => tracker.size === 2, 'the raw connection to leave');
    a.agent.destroy();
    await waitFor(() => tracker.size === 1, 'a to leave');
  });

  it('ends only connections unused for at least idleMs, with a FIN; the others keep working', async () => {
    const a = client();
    const b = client();
    clock = 0;
    const ra = await got(a, '/');
    clock = 600;
    const rb = await got(b, '/');
    const aClosed = closed(ra.socket);

    clock = 999;
    expect(tracker.endIdle(1000)).toBe(0);
    clock = 1000; // a: exactly idleMs
    expect(tracker.endIdle(1000)).toBe(1);
    expect(await aClosed).toEqual({ ended: true });
    await waitFor(() => tracker.size === 1, 'a to leave');

    // b was spared and carries its next request on the same connection
    const rb2 = await got(b, '/');
    expect(rb2).toMatchObject({ status: 200, body: 'ok' });
    expect(rb2.socket).toBe(rb.socket);
    // a just opens a new connection
    expect(await got(a, '/')).toMatchObject({ status: 200, body: 'ok' });
    expect(tracker.size).toBe(2);
  });

  it('counts idleness from the end of the last response, not the start of the connection', async () => {
    const a = client();
    clock = 0;
    const s = await connect(); // connects at 0, sends nothing: idle since 0
    await waitFor(() => tracker.size === 1, 'the raw connection');
    clock = 100;
    const before = closedResponses;
    const pending = a.get('/slow');
    await waitFor(() => slow.length === 1, 'the slow request');
    clock = 900;
    slow[0]!.end('done');
    await pending;
    await waitFor(() => closedResponses > before, 'the response to close');
    const sClosed = closed(s);
    clock = 1200;
    expect(tracker.endIdle(1000)).toBe(1); // the raw one; a finished 300 ms ago
    expect(await sClosed).toEqual({ ended: true });
    await waitFor(() => tracker.size === 1, 'the raw connection to leave');
    clock = 1900;
    expect(tracker.endIdle(1000)).toBe(1);
  });

  it('spares a connection with a request in flight, however long it takes', async () => {
    const a = client();
    const b = client();
    clock = 0;
    const pending = a.get('/slow');
    await waitFor(() => slow.length === 1, 'the slow request');
    await got(b, '/');

    clock = 60_000;
    expect(tracker.endIdle(1000)).toBe(1); // b only
    await waitFor(() => tracker.size === 1, 'b to leave');

    slow[0]!.end('slow done');
    const r = await pending;
    expect(r).toMatchObject({ status: 200, body: 'slow done' });
    await waitFor(() => closedResponses === 2, 'the slow response to close');
    // just finished: likely to carry the next request, still spared
    expect(tracker.endIdle(1000)).toBe(0);
    clock = 61_000;
    const aClosed = closed(r.socket);
    expect(tracker.endIdle(1000)).toBe(1);
    expect(await aClosed).toEqual({ ended: true });
  });

  it('never ends an upgraded (WebSocket) connection as idle', async () => {
    const s = await connect();
    let received = '';
    s.on('data', (d: string) => (received += d));
    s.write(
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    await waitFor(() => received.includes('101 Switching Protocols'), 'the upgrade');
    expect(tracker.size).toBe(1);
    clock = 10_000_000;
    expect(tracker.endIdle(1000)).toBe(0);
    expect(tracker.endIdle(0)).toBe(0);
    s.write('ping');
    await waitFor(() => received.endsWith('ping'), 'the echo');
    expect(s.destroyed).toBe(false);
    s.end();
    await waitFor(() => tracker.size === 0, 'the upgraded connection to leave');
  });

  it('destroyAll closes every connection: idle, in flight and upgraded', async () => {
    const a = client();
    const b = client();
    await got(a, '/');
    const pending = b.get('/slow');
    const failed = pending.then(
      () => null,
      (e: Error) => e,
    );
    await waitFor(() => slow.length === 1, 'the slow request');
    const ws = await connect();
    let received = '';
    ws.on('data', (d: string) => (received += d));
    ws.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await waitFor(() => received.includes(' 101 '), 'the upgrade');
    const wsClosed = closed(ws);
    expect(tracker.size).toBe(3);

    tracker.destroyAll();

    await waitFor(() => tracker.size === 0, 'every connection to leave');
    await wsClosed;
    expect((await failed)?.message).toMatch(/socket hang up|ECONNRESET/);
  });

  it('ends nothing when there is nothing', () => {
    expect(tracker.endIdle(0)).toBe(0);
    expect(() => tracker.destroyAll()).not.toThrow();
    expect(tracker.size).toBe(0);
  });
});
