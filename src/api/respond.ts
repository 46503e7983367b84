// Response shapes of the control API: JSON documents, NDJSON operation streams, NDJSON log
// follows and server-sent events.

import type http from 'node:http';
import type { DeployEvent } from '../domain/types';
import { ShipitError, isShipitError, usageError } from '../domain/errors';
import type { LiveEvent, StatsEvent } from '../observe/observability';
import type { LogRequest } from '../observe/log-query';
import type { RequestAudit } from './audit';

const MAX_BODY = 1 << 20;

export function toShipitError(err: unknown): ShipitError {
  if (isShipitError(err)) return err;
  return new ShipitError('failed', err instanceof Error ? err.message : String(err));
}

export function json(res: http.ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(s),
  });
  res.end(s);
}

export function errorLine(e: ShipitError): string {
  return `${JSON.stringify({ type: 'error', status: e.httpStatus, ...e.toJSON() })}\n`;
}

export function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    const collect = (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        // Answered (400) while the rest is read and dropped: a reset here would reach the
        // CLI as "daemon unreachable" instead of this message.
        req.off('data', collect);
        req.resume();
        chunks.length = 0;
        reject(
          usageError(
            `request body larger than ${MAX_BODY} bytes`,
            'fewer or shorter --env values, or a smaller request',
          ),
        );
        return;
      }
      chunks.push(c);
    };
    req.on('data', collect);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text.trim()) return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(usageError('request body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

/**
 * NDJSON stream of events, then one `result` or `error` line. An error before the first event
 * is a plain JSON error with its HTTP status (409, 400...). Resolves once the operation is over,
 * even when the client has gone, so the audit log gets its outcome.
 */
export async function stream(
  res: http.ServerResponse,
  audit: RequestAudit | null,
  run: (sink: (e: DeployEvent) => void) => Promise<unknown>,
): Promise<void> {
  const start = () => {
    if (!res.headersSent)
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  };
  const sink = (e: DeployEvent) => {
    if (res.writableEnded) return;
    start();
    res.write(`${JSON.stringify(e)}\n`);
  };
  let result: unknown;
  try {
    result = await run(sink);
  } catch (err) {
    if (!res.headersSent) throw err;
    const e = toShipitError(err);
    audit?.failedWith(e, e.httpStatus);
    res.end(errorLine(e));
    return;
  }
  if (audit) Object.assign(audit.detail, outcome(result));
  start();
  res.end(`${JSON.stringify({ type: 'result', result })}\n`);
}

/** The audit-worthy part of an operation's result: its release, and whether it paused. */
function outcome(result: unknown): Record<string, unknown> {
  const r = (result ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (typeof r.release === 'number') out.release = r.release;
  if (r.paused === true) out.paused = true;
  return out;
}

/** Server-sent events: `stats` every tick, `deploy` and `alert` as they happen. */
export function eventStream(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  feed: { live(): StatsEvent; subscribe(fn: (e: LiveEvent) => void): () => void },
  service?: string,
): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  const send = (e: LiveEvent) => {
    if (service) {
      if (e.type === 'stats') {
        const services = e.data.services.filter((s) => s.name === service);
        e = { type: 'stats', data: { ...e.data, services } };
      } else if (e.data.service !== service) return;
    }
    res.write(`event: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
  };
  send({ type: 'stats', data: feed.live() });
  const unsubscribe = feed.subscribe(send);
  // A comment now and then keeps idle proxies and browsers from closing the stream.
  const heartbeat = setInterval(() => res.write(': ping\n\n'), 15_000);
  heartbeat.unref();
  req.socket.setTimeout(0);
  res.once('close', () => {
    clearInterval(heartbeat);
    unsubscribe();
  });
}

/** `{lines}` as one JSON document; with follow, NDJSON (backlog, then live) until the client leaves. */
export async function logLines(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  q: LogRequest,
  source: (q: LogRequest, signal: AbortSignal) => AsyncIterable<unknown>,
): Promise<void> {
  const ac = new AbortController();
  res.once('close', () => ac.abort());
  const lines = source(q, ac.signal);
  if (!q.follow) {
    const all: unknown[] = [];
    for await (const l of lines) all.push(l);
    return json(res, 200, { lines: all });
  }
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  req.socket.setTimeout(0);
  const drained = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  for await (const l of lines) {
    if (ac.signal.aborted) break;
    if (!res.write(`${JSON.stringify(l)}\n`)) await drained();
  }
  res.end();
}
