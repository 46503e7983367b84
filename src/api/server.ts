import http from 'node:http';
import fs from 'node:fs';
import type net from 'node:net';
import type { Logger } from 'pino';
import type { DeployEvent } from '../domain/types';
import { ShipitError, isShipitError, unauthorized, notFound, usageError } from '../domain/errors';
import type { LiveEvent, StatsEvent } from '../observe/observability';
import { parseLogRequest, type LogRequest } from '../observe/log-query';
import { checkBearer } from './auth';
import { Dashboard, refuseCsrf } from './ui';
import {
  deployBodySchema,
  parseBody,
  previewBodySchema,
  rollbackBodySchema,
  scaleBodySchema,
  shutdownBodySchema,
} from './validation';

/** What the API drives; the daemon implements it. */
export interface ControlPlane {
  status(service?: string): unknown;
  releases(service?: string, limit?: number): unknown;
  events(service?: string, release?: number, limit?: number): unknown;
  deploy(
    body: ReturnType<typeof deployBodySchema.parse>,
    service: string,
    sink: (e: DeployEvent) => void,
  ): Promise<unknown>;
  rollback(
    service: string,
    body: ReturnType<typeof rollbackBodySchema.parse>,
    sink: (e: DeployEvent) => void,
  ): Promise<unknown>;
  promote(service: string, sink: (e: DeployEvent) => void): Promise<unknown>;
  scale(
    service: string,
    body: ReturnType<typeof scaleBodySchema.parse>,
    sink: (e: DeployEvent) => void,
  ): Promise<unknown>;
  abort(service: string, sink: (e: DeployEvent) => void): Promise<unknown>;
  shutdown(remove: boolean): Promise<void>;
  /** Log lines (container logs, or with q.access the proxy access log), oldest first; with q.follow the stream goes on until `signal` aborts. */
  logs(q: LogRequest, signal: AbortSignal): AsyncIterable<unknown>;
  audit(action: string, detail: Record<string, unknown>): void;
  previewUp(
    body: ReturnType<typeof previewBodySchema.parse>,
    sink: (e: DeployEvent) => void,
  ): Promise<unknown>;
  previewDown(name: string): Promise<unknown>;
  previews(): unknown;
  /** A service's public hosts, discovery names and live targets. */
  endpoints(service: string): unknown;
  /** Prometheus text exposition. */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** Live feed (stats each tick, deploy events, alert transitions) until the returned function is called. */
  subscribe(fn: (e: LiveEvent) => void): () => void;
  /** The current live stats, sent first to a new subscriber. */
  live(): StatsEvent;
}

export interface ApiListen {
  socketPath?: string;
  host?: string;
  port?: number;
}

const MAX_BODY = 1 << 20;

export class ApiServer {
  readonly server: http.Server;
  readonly ui: Dashboard;

  constructor(
    private readonly plane: ControlPlane,
    private readonly token: string,
    private readonly log: Logger,
  ) {
    this.ui = new Dashboard(token);
    this.server = http.createServer((req, res) => {
      this.route(req, res).catch((err) => this.fail(res, err));
    });
  }

  async listen(l: ApiListen): Promise<void> {
    if (l.socketPath) {
      // A socket file left by a daemon that was killed: nobody answers on it.
      if (fs.existsSync(l.socketPath)) fs.unlinkSync(l.socketPath);
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      const done = () => {
        this.server.off('error', reject);
        resolve();
      };
      if (l.socketPath) this.server.listen(l.socketPath, done);
      else this.server.listen(l.port ?? 7070, l.host ?? '127.0.0.1', done);
    });
    if (l.socketPath) fs.chmodSync(l.socketPath, 0o600);
  }

  address(): string | net.AddressInfo | null {
    return this.server.address();
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://shipit');
    const p = url.pathname;
    if (req.method === 'GET' && p === '/healthz')
      return json(res, 200, { ok: true, pid: process.pid });
    if (this.ui.owns(p)) return this.ui.handle(req, res, p);
    const auth = this.ui.authenticate(req, checkBearer(req.headers.authorization, this.token));
    if (auth === 'csrf') return refuseCsrf(res);
    if (auth === 'none') {
      this.log.warn({ path: p, remote: req.socket.remoteAddress }, 'unauthorised API call');
      throw unauthorized(
        'missing or wrong API token',
        'the CLI reads it from .shipit/token (or SHIPIT_TOKEN)',
      );
    }
    const q = url.searchParams;
    const service = q.get('service') ?? undefined;
    const num = (k: string) => (q.has(k) ? Number(q.get(k)) : undefined);
    if (req.method === 'GET' && p === '/v1/status')
      return json(res, 200, this.plane.status(service));
    if (req.method === 'GET' && p === '/v1/releases')
      return json(res, 200, this.plane.releases(service, num('limit')));
    if (req.method === 'GET' && p === '/v1/logs')
      return this.logs(req, res, parseLogRequest(q, Date.now()));
    if (req.method === 'GET' && p === '/metrics') {
      const m = await this.plane.metrics();
      res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store' });
      return void res.end(m.text);
    }
    if (req.method === 'GET' && p === '/v1/events' && wantsEventStream(req))
      return this.eventStream(req, res, service);
    if (req.method === 'GET' && p === '/v1/events')
      return json(res, 200, this.plane.events(service, num('release'), num('limit')));
    if (req.method === 'GET' && p === '/v1/previews') return json(res, 200, this.plane.previews());
    if (req.method === 'POST' && p === '/v1/previews') {
      const body = await readJson(req);
      const b = parseBody(previewBodySchema, body);
      this.plane.audit('preview-up', { name: b.name, service: b.service, image: b.image });
      return this.stream(res, (sink) => this.plane.previewUp(b, sink));
    }
    const pv = /^\/v1\/previews\/([^/]{1,64})$/.exec(p);
    if (req.method === 'DELETE' && pv) {
      let name: string;
      try {
        name = decodeURIComponent(pv[1]);
      } catch {
        throw usageError(`bad preview name in the URL: ${pv[1]}`);
      }
      this.plane.audit('preview-down', { name });
      return json(res, 200, { preview: await this.plane.previewDown(name) });
    }
    const ep = /^\/v1\/services\/([a-z0-9-]{1,32})\/endpoints$/.exec(p);
    if (req.method === 'GET' && ep) return json(res, 200, this.plane.endpoints(ep[1]));
    const m = /^\/v1\/services\/([a-z0-9-]{1,32})\/(deploy|rollback|promote|abort|scale)$/.exec(p);
    if (req.method === 'POST' && m) {
      const body = await readJson(req);
      const [, svc, action] = m;
      this.plane.audit(action, { service: svc, body });
      if (action === 'deploy') {
        const b = parseBody(deployBodySchema, body);
        if (b.spec.name !== svc)
          throw usageError(`spec.name "${b.spec.name}" does not match the URL's service "${svc}"`);
        return this.stream(res, (sink) => this.plane.deploy(b, svc, sink));
      }
      if (action === 'promote') return this.stream(res, (sink) => this.plane.promote(svc, sink));
      if (action === 'abort') return this.stream(res, (sink) => this.plane.abort(svc, sink));
      if (action === 'scale') {
        const b = parseBody(scaleBodySchema, body);
        return this.stream(res, (sink) => this.plane.scale(svc, b, sink));
      }
      const b = parseBody(rollbackBodySchema, body);
      return this.stream(res, (sink) => this.plane.rollback(svc, b, sink));
    }
    if (req.method === 'POST' && p === '/v1/shutdown') {
      const b = parseBody(shutdownBodySchema, await readJson(req));
      this.plane.audit('shutdown', b);
      json(res, 202, { ok: true });
      setImmediate(() => void this.plane.shutdown(b.remove ?? false));
      return;
    }
    throw notFound(`no route ${req.method} ${p}`);
  }

  /**
   * NDJSON stream of events, then one `result` or `error` line. An error before
   * the first event is a plain JSON error with its HTTP status (409, 400...).
   */
  private async stream(
    res: http.ServerResponse,
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
      res.end(`${JSON.stringify({ type: 'error', status: e.httpStatus, ...e.toJSON() })}\n`);
      return;
    }
    start();
    res.end(`${JSON.stringify({ type: 'result', result })}\n`);
  }

  /** Server-sent events: `stats` every tick, `deploy` and `alert` as they happen. */
  private eventStream(req: http.IncomingMessage, res: http.ServerResponse, service?: string): void {
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
    send({ type: 'stats', data: this.plane.live() });
    const unsubscribe = this.plane.subscribe(send);
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
  private async logs(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    q: LogRequest,
  ): Promise<void> {
    const ac = new AbortController();
    res.once('close', () => ac.abort());
    const lines = this.plane.logs(q, ac.signal);
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

  private fail(res: http.ServerResponse, err: unknown): void {
    const e = toShipitError(err);
    if (!isShipitError(err)) this.log.error({ err }, 'API handler failed');
    if (res.headersSent) {
      res.end(`${JSON.stringify({ type: 'error', status: e.httpStatus, ...e.toJSON() })}\n`);
      return;
    }
    json(res, e.httpStatus, e.toJSON());
  }
}

function wantsEventStream(req: http.IncomingMessage): boolean {
  return (req.headers.accept ?? '').includes('text/event-stream');
}

function toShipitError(err: unknown): ShipitError {
  if (isShipitError(err)) return err;
  return new ShipitError('failed', err instanceof Error ? err.message : String(err));
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(s),
  });
  res.end(s);
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(usageError(`request body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
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
