// The CLI's HTTP client against small real servers (TCP on 127.0.0.1 and a unix socket):
// the token, JSON and NDJSON replies, and how failures map to ShipitErrors (and exit codes).
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ShipitError } from '../domain/errors';
import { call, follow, readToken, stream, type Endpoint } from './client';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

let dir: string;
let handler: Handler;
let server: http.Server;
let tcp: Endpoint;
const seen: { method: string; url: string; auth?: string; type?: string; body: string }[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-client-'));
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({
        method: req.method!,
        url: req.url!,
        auth: req.headers.authorization,
        type: req.headers['content-type'],
        body,
      });
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  tcp = {
    host: '127.0.0.1',
    port: (server.address() as net.AddressInfo).port,
    token: 'tok',
    tokenFile: path.join(dir, 'token'),
  };
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  seen.length = 0;
});

const jsonReply =
  (status: number, body: unknown): Handler =>
  (_q, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

async function failure(p: Promise<unknown>): Promise<ShipitError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ShipitError);
    return e as ShipitError;
  }
  throw new Error('expected a failure');
}

describe('readToken', () => {
  it('prefers SHIPIT_TOKEN, else the trimmed token file, else null', () => {
    const f = path.join(dir, 'tok-file');
    fs.writeFileSync(f, '  from-file\n');
    expect(readToken(f, { SHIPIT_TOKEN: 'from-env' })).toBe('from-env');
    expect(readToken(f, {})).toBe('from-file');
    fs.writeFileSync(f, '   \n');
    expect(readToken(f, {})).toBeNull();
    expect(readToken(path.join(dir, 'absent'), {})).toBeNull();
  });
});

describe('call', () => {
  it('sends the bearer token and a JSON body, and parses the JSON reply', async () => {
    handler = jsonReply(200, { ok: 1 });
    await expect(call(tcp, 'POST', '/v1/x', { a: [1] })).resolves.toEqual({ ok: 1 });
    expect(seen).toEqual([
      {
        method: 'POST',
        url: '/v1/x',
        auth: 'Bearer tok',
        type: 'application/json',
        body: '{"a":[1]}',
      },
    ]);
  });

  it('without a body sends no content-type', async () => {
    handler = jsonReply(200, []);
    await call(tcp, 'GET', '/v1/y');
    expect(seen[0]).toMatchObject({ method: 'GET', type: undefined, body: '' });
  });

  it('without a token refuses at once (exit 3) naming the token file, but /healthz goes', async () => {
    const ep = { ...tcp, token: null };
    const e = await failure(call(ep, 'GET', '/v1/status'));
    expect(e.code).toBe('unauthorized');
    expect(e.exitCode).toBe(3);
    expect(e.message).toContain(ep.tokenFile);
    expect(e.hint).toMatch(/shipit up|SHIPIT_TOKEN/);
    expect(seen).toEqual([]);
    handler = jsonReply(200, { ok: true });
    await expect(call(ep, 'GET', '/healthz')).resolves.toEqual({ ok: true });
    expect(seen[0].auth).toBeUndefined();
  });

  it('a JSON error body becomes its ShipitError, hint included', async () => {
    handler = jsonReply(409, { error: 'deploy in progress', code: 'conflict', hint: 'wait' });
    const e = await failure(call(tcp, 'POST', '/v1/services/web/deploy', {}));
    expect(e).toMatchObject({ code: 'conflict', message: 'deploy in progress', hint: 'wait' });
    expect(e.exitCode).toBe(4);
  });

  it('401 without a code is unauthorized: exit 3', async () => {
    handler = jsonReply(401, { error: 'bad token' });
    const e = await failure(call(tcp, 'GET', '/v1/status'));
    expect(e).toMatchObject({ code: 'unauthorized', message: 'bad token' });
    expect(e.exitCode).toBe(3);
  });

  it('a non-JSON error body is the message; an empty one is "HTTP <status>"', async () => {
    handler = jsonReply(502, 'Bad Gateway from a proxy');
    let e = await failure(call(tcp, 'GET', '/v1/status'));
    expect(e).toMatchObject({ code: 'runtime', message: 'Bad Gateway from a proxy' });
    handler = jsonReply(500, '');
    e = await failure(call(tcp, 'GET', '/v1/status'));
    expect(e).toMatchObject({ code: 'failed', message: 'HTTP 500' });
    expect(e.exitCode).toBe(1);
  });

  it('a socket that does not exist: unreachable (exit 3) naming the path', async () => {
    const sock = path.join(dir, 'nobody.sock');
    const e = await failure(call({ ...tcp, socketPath: sock }, 'GET', '/v1/status'));
    expect(e.code).toBe('unreachable');
    expect(e.exitCode).toBe(3);
    expect(e.message).toContain(`${sock} (ENOENT)`);
    expect(e.hint).toContain('shipit up --detach');
  });

  it('a closed TCP port: unreachable naming host:port', async () => {
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    const e = await failure(call({ ...tcp, port }, 'GET', '/v1/status'));
    expect(e.code).toBe('unreachable');
    expect(e.message).toContain(`127.0.0.1:${port} (ECONNREFUSED)`);
  });

  it('other network errors pass through as they are', async () => {
    await expect(
      call({ ...tcp, host: 'no-such-host.invalid', port: 1 }, 'GET', '/v1/status'),
    ).rejects.toThrow(/ENOTFOUND|EAI_AGAIN/);
  });

  it('works over a unix socket too', async () => {
    const sock = path.join(dir, 'api.sock');
    const s = http.createServer((_q, res) => jsonReply(200, { via: 'unix' })(_q, res, ''));
    await new Promise<void>((r) => s.listen(sock, r));
    try {
      await expect(
        call({ socketPath: sock, token: 't', tokenFile: 'f' }, 'GET', '/x'),
      ).resolves.toEqual({ via: 'unix' });
    } finally {
      await new Promise((r) => s.close(r));
    }
  });
});

const ndjson =
  (
    status: number,
    lines: unknown[],
    opts: { chunked?: boolean; destroy?: boolean } = {},
  ): Handler =>
  (_q, res) => {
    res.writeHead(status, { 'content-type': 'application/x-ndjson' });
    const text = lines.map((l) => `${JSON.stringify(l)}\n`).join('\n');
    if (opts.chunked) {
      // Split mid-line, to check lines are reassembled across chunks.
      const mid = Math.floor(text.length / 2);
      res.write(text.slice(0, mid));
      setTimeout(() => (opts.destroy ? res.destroy() : res.end(text.slice(mid))), 20);
    } else if (opts.destroy) {
      res.write(text);
      setTimeout(() => res.destroy(), 20);
    } else res.end(text);
  };

describe('stream', () => {
  it('passes each event to onEvent (split across chunks, blank lines skipped) and returns the result', async () => {
    const ev1 = { type: 'step', message: 'one' };
    const ev2 = { type: 'step', message: 'two' };
    handler = ndjson(200, [ev1, ev2, { type: 'result', result: { release: 3 } }], {
      chunked: true,
    });
    const got: unknown[] = [];
    await expect(stream(tcp, '/v1/op', { x: 1 }, (e) => void got.push(e))).resolves.toEqual({
      release: 3,
    });
    expect(got).toEqual([ev1, ev2]);
    expect(seen[0]).toMatchObject({ method: 'POST', body: '{"x":1}' });
  });

  it('an error line is thrown as its ShipitError, status from the line', async () => {
    handler = ndjson(200, [
      { type: 'step' },
      { type: 'error', status: 409, error: 'busy', code: 'conflict', hint: 'later' },
    ]);
    const e = await failure(stream(tcp, '/v1/op', {}, () => {}));
    expect(e).toMatchObject({ code: 'conflict', message: 'busy', hint: 'later' });
    expect(e.exitCode).toBe(4);
  });

  it('an error line without code or status is a failure', async () => {
    handler = ndjson(200, [{ type: 'error', error: 'boom' }]);
    const e = await failure(stream(tcp, '/v1/op', {}, () => {}));
    expect(e).toMatchObject({ code: 'failed', message: 'boom' });
  });

  it('an HTTP error before the stream is thrown as such', async () => {
    handler = jsonReply(400, { error: 'bad body', code: 'usage' });
    const e = await failure(stream(tcp, '/v1/op', {}, () => {}));
    expect(e).toMatchObject({ code: 'usage', message: 'bad body' });
    expect(e.exitCode).toBe(2);
  });

  it('onEvent returning false stops reading: undefined, no result', async () => {
    handler = ndjson(
      200,
      [
        { type: 'step', n: 1 },
        { type: 'step', n: 2 },
      ],
      { destroy: true },
    );
    const got: unknown[] = [];
    await expect(
      stream(tcp, '/v1/op', {}, (e) => {
        got.push(e);
        return false;
      }),
    ).resolves.toBeUndefined();
    expect(got).toEqual([{ type: 'step', n: 1 }]);
  });

  it('a stream that ends without a result: unreachable, exit 3', async () => {
    handler = ndjson(200, [{ type: 'step' }]);
    const e = await failure(stream(tcp, '/v1/op', {}, () => {}));
    expect(e.code).toBe('unreachable');
    expect(e.exitCode).toBe(3);
    expect(e.message).toContain('closed the stream before the operation finished');
  });
});

describe('follow', () => {
  it('passes every line on and says "ended" when the server ends', async () => {
    handler = ndjson(200, [{ n: 1 }, { n: 2 }]);
    const got: unknown[] = [];
    await expect(follow(tcp, '/v1/logs?follow=1', (o) => void got.push(o))).resolves.toBe('ended');
    expect(got).toEqual([{ n: 1 }, { n: 2 }]);
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/v1/logs?follow=1' });
  });

  it('an HTTP error is thrown', async () => {
    handler = jsonReply(404, { error: 'no such service', code: 'not-found' });
    const e = await failure(follow(tcp, '/v1/logs', () => {}));
    expect(e).toMatchObject({ code: 'not-found', message: 'no such service' });
  });

  it('an error line is thrown as is', async () => {
    handler = ndjson(200, [{ n: 1 }, { type: 'error', error: 'gone', code: 'failed' }]);
    const e = await failure(follow(tcp, '/v1/logs', () => {}));
    expect(e).toMatchObject({ code: 'failed', message: 'gone' });
  });

  it('a stream the server breaks: unreachable, "the stream from the daemon broke"', async () => {
    handler = ndjson(200, [{ n: 1 }, { n: 2 }], { chunked: true, destroy: true });
    const e = await failure(follow(tcp, '/v1/logs', () => {}));
    expect(e.code).toBe('unreachable');
    expect(e.message).toMatch(/^the stream from the daemon broke: /);
    expect(e.hint).toContain('shipit status');
  });

  it('a bad line (not JSON) also counts as a broken stream', async () => {
    handler = (_q, res) => res.end('{"n":1}\nnot json\n');
    const e = await failure(follow(tcp, '/v1/logs', () => {}));
    expect(e.code).toBe('unreachable');
    expect(e.message).toContain('the stream from the daemon broke');
  });

  it('an abort while following: "aborted"', async () => {
    handler = (_q, res) => {
      res.writeHead(200);
      res.write('{"n":1}\n');
    };
    const ac = new AbortController();
    const got: unknown[] = [];
    await expect(
      follow(
        tcp,
        '/v1/logs',
        (o) => {
          got.push(o);
          ac.abort();
        },
        ac.signal,
      ),
    ).resolves.toBe('aborted');
    expect(got).toEqual([{ n: 1 }]);
  });

  it('a signal aborted already: "aborted" without reading anything', async () => {
    handler = ndjson(200, [{ n: 1 }]);
    const ac = new AbortController();
    ac.abort();
    const got: unknown[] = [];
    await expect(follow(tcp, '/v1/logs', (o) => void got.push(o), ac.signal)).resolves.toBe(
      'aborted',
    );
    expect(got).toEqual([]);
  });
});
