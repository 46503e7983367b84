// The control API's routes, as one table: the server dispatches through it, the audit log names
// calls by it, and the auth test walks it so that no route can be added without a token check.

import type http from 'node:http';
import type { DeployEvent } from '../domain/types';
import { usageError } from '../domain/errors';
import type { LiveEvent, StatsEvent } from '../observe/observability';
import { parseLogRequest, type LogRequest } from '../observe/log-query';
import type { AuditRecord } from '../ports/audit';
import type { RequestAudit } from './audit';
import { eventStream, json, logLines, readJson, stream } from './respond';
import {
  deployBodySchema,
  parseBody,
  previewBodySchema,
  rollbackBodySchema,
  scaleBodySchema,
  shutdownBodySchema,
  handoverBodySchema,
} from './validation';

type Sink = (e: DeployEvent) => void;

/** What the API drives; the daemon implements it. */
export interface ControlPlane {
  status(service?: string): unknown;
  releases(service?: string, limit?: number): unknown;
  events(service?: string, release?: number, limit?: number): unknown;
  deploy(
    body: ReturnType<typeof deployBodySchema.parse>,
    service: string,
    sink: Sink,
  ): Promise<unknown>;
  rollback(
    service: string,
    body: ReturnType<typeof rollbackBodySchema.parse>,
    sink: Sink,
  ): Promise<unknown>;
  promote(service: string, sink: Sink): Promise<unknown>;
  scale(
    service: string,
    body: ReturnType<typeof scaleBodySchema.parse>,
    sink: Sink,
  ): Promise<unknown>;
  abort(service: string, sink: Sink): Promise<unknown>;
  shutdown(remove: boolean): Promise<void>;
  /** Daemon upgrade: hands the listening sockets to a new daemon process; resolves once it serves. */
  handOver(cmd: ReturnType<typeof handoverBodySchema.parse>): Promise<{ from: number; to: number }>;
  /** Log lines (container logs, or with q.access the proxy access log), oldest first; with q.follow the stream goes on until `signal` aborts. */
  logs(q: LogRequest, signal: AbortSignal): AsyncIterable<unknown>;
  /** Appends one row to the audit log. */
  audit(r: AuditRecord): void;
  /** The newest `limit` audit rows, newest last: `{ entries }`. */
  auditLog(limit?: number): unknown;
  /** Writes a new random token to the token file (atomically, 0600); returns it and the file. */
  rotateToken(): { token: string; file: string };
  previewUp(body: ReturnType<typeof previewBodySchema.parse>, sink: Sink): Promise<unknown>;
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

/** One authenticated request, as a route handler sees it. */
export interface RouteCall {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  params: Record<string, string>;
  plane: ControlPlane;
  /** Null for calls that are not audited (GET). */
  audit: RequestAudit | null;
  /** Rotates the token on disk and in the running server. */
  rotateToken(): { token: string; file: string };
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** With `:service` / `:name` placeholders, e.g. /v1/services/:service/deploy. */
  path: string;
  /** How the audit log names the call; every non-GET route has one. */
  action?: string;
  handle(c: RouteCall): Promise<void> | void;
}

const PARAM: Record<string, string> = { service: '[a-z0-9-]{1,32}', name: '[^/]{1,64}' };

const query = (c: RouteCall) => {
  const q = c.url.searchParams;
  return {
    service: q.get('service') ?? undefined,
    num: (k: string) => (q.has(k) ? Number(q.get(k)) : undefined),
  };
};

const operation = (
  action: string,
  run: (c: RouteCall, svc: string, body: unknown, sink: Sink) => Promise<unknown>,
): Route => ({
  method: 'POST',
  path: `/v1/services/:service/${action}`,
  action,
  handle: async (c) => {
    const body = await readJson(c.req);
    // A bad body throws before the first event: a plain 400, not an error line after a 200.
    return stream(c.res, c.audit, (sink) => run(c, c.params.service, body, sink));
  },
});

export const ROUTES: readonly Route[] = [
  {
    method: 'GET',
    path: '/v1/status',
    handle: (c) => json(c.res, 200, c.plane.status(query(c).service)),
  },
  {
    method: 'GET',
    path: '/v1/releases',
    handle: (c) => json(c.res, 200, c.plane.releases(query(c).service, query(c).num('limit'))),
  },
  {
    method: 'GET',
    path: '/v1/logs',
    handle: (c) =>
      logLines(c.req, c.res, parseLogRequest(c.url.searchParams, Date.now()), (q, s) =>
        c.plane.logs(q, s),
      ),
  },
  {
    method: 'GET',
    path: '/v1/events',
    handle: (c) => {
      const q = query(c);
      if ((c.req.headers.accept ?? '').includes('text/event-stream'))
        return eventStream(c.req, c.res, c.plane, q.service);
      json(c.res, 200, c.plane.events(q.service, q.num('release'), q.num('limit')));
    },
  },
  { method: 'GET', path: '/v1/previews', handle: (c) => json(c.res, 200, c.plane.previews()) },
  {
    method: 'GET',
    path: '/v1/audit',
    handle: (c) => json(c.res, 200, c.plane.auditLog(query(c).num('limit'))),
  },
  {
    method: 'GET',
    path: '/v1/services/:service/endpoints',
    handle: (c) => json(c.res, 200, c.plane.endpoints(c.params.service)),
  },
  {
    method: 'GET',
    path: '/metrics',
    handle: async (c) => {
      const m = await c.plane.metrics();
      c.res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store' });
      c.res.end(m.text);
    },
  },
  {
    method: 'POST',
    path: '/v1/previews',
    action: 'preview-up',
    handle: async (c) => {
      const b = parseBody(previewBodySchema, await readJson(c.req));
      if (c.audit) {
        c.audit.target = b.name;
        Object.assign(c.audit.detail, { service: b.service, image: b.image, ttlMs: b.ttlMs });
      }
      return stream(c.res, c.audit, (sink) => c.plane.previewUp(b, sink));
    },
  },
  {
    method: 'DELETE',
    path: '/v1/previews/:name',
    action: 'preview-down',
    handle: async (c) => {
      let name: string;
      try {
        name = decodeURIComponent(c.params.name);
      } catch {
        throw usageError(`bad preview name in the URL: ${c.params.name}`);
      }
      if (c.audit) c.audit.target = name;
      json(c.res, 200, { preview: await c.plane.previewDown(name) });
    },
  },
  operation('deploy', (c, svc, body, sink) => {
    const b = parseBody(deployBodySchema, body);
    // Image and strategy, never the spec: its env may hold secrets.
    if (c.audit)
      Object.assign(c.audit.detail, {
        image: b.spec.image,
        strategy: b.spec.deploy.strategy,
        ...(b.dryRun ? { dryRun: true } : {}),
      });
    if (b.spec.name !== svc)
      throw usageError(`spec.name "${b.spec.name}" does not match the URL's service "${svc}"`);
    return c.plane.deploy(b, svc, sink);
  }),
  operation('promote', (c, svc, _body, sink) => c.plane.promote(svc, sink)),
  operation('abort', (c, svc, _body, sink) => c.plane.abort(svc, sink)),
  operation('rollback', (c, svc, body, sink) => {
    const b = parseBody(rollbackBodySchema, body);
    if (c.audit) Object.assign(c.audit.detail, { to: b.to, ...(b.dryRun ? { dryRun: true } : {}) });
    return c.plane.rollback(svc, b, sink);
  }),
  operation('scale', (c, svc, body, sink) => {
    const b = parseBody(scaleBodySchema, body);
    if (c.audit) c.audit.detail.replicas = b.replicas;
    return c.plane.scale(svc, b, sink);
  }),
  {
    method: 'POST',
    path: '/v1/shutdown',
    action: 'shutdown',
    handle: async (c) => {
      const b = parseBody(shutdownBodySchema, await readJson(c.req));
      if (c.audit) c.audit.detail.remove = b.remove ?? false;
      json(c.res, 202, { ok: true });
      setImmediate(() => void c.plane.shutdown(b.remove ?? false));
    },
  },
  {
    method: 'POST',
    path: '/v1/daemon/handover',
    action: 'handover',
    handle: async (c) => {
      const b = parseBody(handoverBodySchema, await readJson(c.req));
      // It starts a program on this host: only for local clients, whatever the token.
      const a = c.req.socket.remoteAddress;
      if (a && !['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(a))
        throw usageError(
          'a daemon upgrade can only be asked for on this host',
          'run shipit up on the daemon host',
        );
      if (c.audit) c.audit.detail.script = b.script;
      json(c.res, 200, await c.plane.handOver(b));
    },
  },
  {
    method: 'POST',
    path: '/v1/token/rotate',
    action: 'token-rotate',
    handle: async (c) => {
      await readJson(c.req);
      const { token, file } = c.rotateToken();
      if (c.audit) c.audit.detail.file = file;
      json(c.res, 200, { ok: true, file, token });
    },
  },
];

const COMPILED = ROUTES.map((route) => {
  const names: string[] = [];
  const source = route.path.replace(/:([a-z]+)/g, (_, n: string) => {
    names.push(n);
    return `(${PARAM[n]})`;
  });
  return { route, names, re: new RegExp(`^${source}$`) };
});

/** The route for a method and path, with its placeholders filled in; null when there is none. */
export function matchRoute(
  method: string | undefined,
  pathname: string,
): { route: Route; params: Record<string, string> } | null {
  for (const { route, names, re } of COMPILED) {
    if (route.method !== method) continue;
    const m = re.exec(pathname);
    if (!m) continue;
    const params: Record<string, string> = {};
    names.forEach((n, i) => (params[n] = m[i + 1]));
    return { route, params };
  }
  return null;
}
