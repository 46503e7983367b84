import http from 'node:http';
import fs from 'node:fs';
import { ShipitError, fromJSON, unauthorized, unreachable } from '../domain/errors';

export interface Endpoint {
  socketPath?: string;
  host?: string;
  port?: number;
  token: string | null;
  tokenFile: string;
}

/** Token: SHIPIT_TOKEN, else the daemon's token file. */
export function readToken(file: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.SHIPIT_TOKEN) return env.SHIPIT_TOKEN;
  try {
    return fs.readFileSync(file, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

function where(ep: Endpoint): string {
  return ep.socketPath ?? `${ep.host}:${ep.port}`;
}

function send(
  ep: Endpoint,
  method: string,
  path: string,
  body?: unknown,
): Promise<http.IncomingMessage> {
  if (!ep.token && path !== '/healthz') {
    return Promise.reject(
      unauthorized(
        `no API token: ${ep.tokenFile} is missing`,
        'start the daemon with `shipit up` (it writes the token), or set SHIPIT_TOKEN',
      ),
    );
  }
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: ep.socketPath,
        host: ep.host,
        port: ep.port,
        method,
        path,
        headers: {
          ...(ep.token ? { authorization: `Bearer ${ep.token}` } : {}),
          ...(data
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }
            : {}),
        },
      },
      resolve,
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EACCES'].includes(e.code ?? '')) {
        reject(
          unreachable(
            `the shipit daemon is not reachable at ${where(ep)} (${e.code})`,
            'start it with: shipit up --detach',
          ),
        );
      } else reject(e);
    });
    req.end(data);
  });
}

async function readAll(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function errorOf(res: http.IncomingMessage): Promise<ShipitError> {
  const text = await readAll(res);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = { error: text || `HTTP ${res.statusCode}` };
  }
  return fromJSON(body, res.statusCode ?? 500);
}

export async function call<T = unknown>(
  ep: Endpoint,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await send(ep, method, path, body);
  if ((res.statusCode ?? 500) >= 400) throw await errorOf(res);
  return JSON.parse(await readAll(res)) as T;
}

/** The objects of an NDJSON response, one per line; an `error` line is thrown as its ShipitError. */
async function* ndjson(res: AsyncIterable<unknown>): AsyncGenerator<Record<string, unknown>> {
  let buf = '';
  for await (const chunk of res) {
    buf += (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (msg.type === 'error') throw fromJSON(msg, Number(msg.status) || 500);
      yield msg;
    }
  }
}

/** Reads an NDJSON stream: every event line to onEvent, then the final `result` (or throws its `error`). */
export async function stream<T = unknown>(
  ep: Endpoint,
  path: string,
  body: unknown,
  onEvent: (e: Record<string, unknown>) => boolean | void,
): Promise<T | undefined> {
  const res = await send(ep, 'POST', path, body);
  if ((res.statusCode ?? 500) >= 400) throw await errorOf(res);
  for await (const msg of ndjson(res)) {
    if (msg.type === 'result') return msg.result as T;
    if (onEvent(msg) === false) {
      res.destroy();
      return undefined;
    }
  }
  throw unreachable(
    'the daemon closed the stream before the operation finished',
    'see shipit status and .shipit/daemon.log',
  );
}

/**
 * Reads a GET NDJSON stream (`/v1/logs?follow=1`): each object to onLine until the server
 * ends the stream ('ended') or `signal` aborts ('aborted'). An `error` line is thrown.
 */
export async function follow(
  ep: Endpoint,
  path: string,
  onLine: (o: Record<string, unknown>) => void,
  signal?: AbortSignal,
): Promise<'ended' | 'aborted'> {
  const res = await send(ep, 'GET', path);
  if ((res.statusCode ?? 500) >= 400) throw await errorOf(res);
  const abort = () => res.destroy();
  if (signal?.aborted) abort();
  signal?.addEventListener('abort', abort, { once: true });
  try {
    for await (const msg of ndjson(res)) onLine(msg);
  } catch (e) {
    if (signal?.aborted) return 'aborted';
    if (e instanceof ShipitError) throw e;
    throw unreachable(
      `the stream from the daemon broke: ${(e as Error).message}`,
      'is the daemon still running? shipit status',
    );
  } finally {
    signal?.removeEventListener('abort', abort);
  }
  return signal?.aborted ? 'aborted' : 'ended';
}
