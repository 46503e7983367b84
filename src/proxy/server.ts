import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { createProxyServer } from 'http-proxy-3';
import net from 'node:net';
import type { Logger } from 'pino';
import { pickRelease } from './picker';
import type { ServiceRoute } from './routing-table';
import { leastInflight, type Target } from './target';
import type { ProxyRouter } from './router';

export interface ProxyOptions {
  upstreamTimeoutMs: number;
  maxBodyBytes: number;
  /** pino logger for the access log; null disables it. */
  accessLog: Logger | null;
  log: Logger;
  /**
   * Scale from zero: called when a service has no container at all; resolves
   * once one is routed. Requests wait for it (bounded queue, bounded wait).
   */
  coldStart?: (service: string) => Promise<void>;
  /** Requests held per service during a cold start; more get 503 at once. Default 1000. */
  coldStartQueue?: number;
  /** Longest a request waits for a cold start before 503. Default 30 s. */
  coldStartTimeoutMs?: number;
}

const STICKY_COOKIE = 'shipit-id';
/** The dashboard's session cookie (api/ui.ts): browsers send it to every port of the host, apps must not see it. */
export const DASHBOARD_COOKIE = 'shipit_session';
const PIN_COOKIE = 'shipit-release';
const RETRYABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ETIMEDOUT',
]);
const CTX = Symbol('shipit');

interface RequestContext {
  route: ServiceRoute;
  target: Target | null;
  retried: boolean;
  timedOut: boolean;
  started: number;
  /** The last target the request went to (kept after an error, for the counters and the log). */
  last?: Target;
  /** The request to the upstream, once it has a socket. */
  upstream?: http.ClientRequest;
  /** The proxy answered by itself (body too large): the upstream request must not go on. */
  refused?: boolean;
}

type Req = http.IncomingMessage & { [CTX]?: RequestContext };

/**
 * The public listener. Each request: host -> service, sticky key -> release,
 * least-in-flight healthy target; one retry on another target when the
 * connection fails before anything was sent and the request has no body.
 */
export class ProxyServer {
  readonly server: http.Server;
  private readonly proxy;
  private readonly agent: http.Agent;
  private readonly coldWaiting = new Map<string, number>();
  /** Local addresses where containers call linked services by name (the network gateways). */
  private readonly internal = new Set<string>();
  private readonly internalServers: net.Server[] = [];

  constructor(
    private readonly router: ProxyRouter,
    private readonly opts: ProxyOptions,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });
    this.proxy = createProxyServer({ agent: this.agent, xfwd: false, ws: true });
    this.proxy.on('proxyReq', (proxyReq, req) => {
      const ctx = (req as Req)[CTX];
      if (ctx) {
        ctx.upstream = proxyReq;
        if (ctx.refused) return void proxyReq.destroy();
      }
      proxyReq.setTimeout(this.opts.upstreamTimeoutMs, () => {
        if (ctx) ctx.timedOut = true;
        proxyReq.destroy();
      });
    });
    // An upstream that breaks off after its headers were relayed: the client must
    // see the cut (not wait forever on a short body), and the slot must free up.
    this.proxy.on('proxyRes', (proxyRes, req, res) => {
      proxyRes.once('close', () => {
        if (proxyRes.complete) return;
        (req as Req)[CTX]?.last?.stats.upstreamError('reset');
        res.destroy();
      });
    });
    this.server = http.createServer({ keepAlive: true }, (req, res) => this.handle(req, res));
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket as net.Socket, head));
    this.server.on('clientError', (err, socket) => {
      if (socket.writable) {
        const code = (err as NodeJS.ErrnoException).code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
        socket.end(
          `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
        );
      } else socket.destroy();
    });
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  address(): { host: string; port: number } {
    const a = this.server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  /**
   * Also accepts connections on host:port for service discovery: there the
   * Host header is a service name (`api`, `api:8080`), not a public host.
   * Resolves false when the port is taken by the public listener on all
   * addresses, which then serves those connections the same way.
   */
  async listenInternal(host: string, port: number): Promise<boolean> {
    this.internal.add(host);
    // Half-open like http.Server's own sockets: a client that shuts down its
    // sending side after the request (nc, HTTP/1.0 tools) still gets the answer.
    const srv = net.createServer({ allowHalfOpen: true }, (socket) =>
      this.server.emit('connection', socket),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, host, () => {
          srv.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      const pub = this.server.address() as net.AddressInfo | null;
      const covered =
        (e as NodeJS.ErrnoException).code === 'EADDRINUSE' &&
        pub?.port === port &&
        (pub.address === '0.0.0.0' || pub.address === '::');
      if (covered) return false;
      throw e;
    }
    this.internalServers.push(srv);
    return true;
  }

  /** Internal addresses and ports the proxy listens on for discovery. */
  internalAddresses(): string[] {
    return this.internalServers.map((s) => {
      const a = s.address() as net.AddressInfo;
      return `${a.address}:${a.port}`;
    });
  }

  private routeOf(req: http.IncomingMessage): ServiceRoute | null {
    const table = this.router.table;
    if (this.internal.size && this.internal.has(req.socket.localAddress ?? ''))
      return table.byName(req.headers.host);
    return table.lookup(req.headers.host);
  }

  async close(): Promise<void> {
    for (const s of this.internalServers) s.close();
    await new Promise<void>((r) => {
      this.server.close(() => r());
      this.server.closeIdleConnections();
    });
    this.agent.destroy();
  }

  private handle(req: Req, res: http.ServerResponse): void {
    const started = performance.now();
    const route = this.routeOf(req);
    if (!route) return void send(res, 404, 'no service for this host', req.headers.host);
    const len = req.headers['content-length'];
    if (len !== undefined && Number(len) > this.opts.maxBodyBytes) {
      res.setHeader('connection', 'close');
      send(res, 413, `request body larger than ${this.opts.maxBodyBytes} bytes`, route.name);
      return void this.router.unrouted(route.name).record(413, performance.now() - started);
    }
    const target = this.chooseTarget(req, res, route);
    if (!target) {
      if (this.opts.coldStart && isEmpty(route))
        return this.holdForColdStart(req, res, route, started);
      send(res, 503, 'no healthy container', route.name);
      return void this.router.unrouted(route.name).record(503, performance.now() - started);
    }
    this.forward(req, res, route, target, started, len);
  }

  /**
   * The service is scaled to zero: the request waits while a container starts
   * and passes its first probe, then goes on; 503 when the queue is full or
   * the wait too long.
   */
  private holdForColdStart(
    req: Req,
    res: http.ServerResponse,
    route: ServiceRoute,
    started: number,
  ): void {
    const name = route.name;
    const waiting = this.coldWaiting.get(name) ?? 0;
    const refuse = (why: string) => {
      if (res.headersSent || res.destroyed) return;
      send(res, 503, why, name);
      this.router.unrouted(name).record(503, performance.now() - started);
    };
    if (waiting >= (this.opts.coldStartQueue ?? 1000))
      return refuse('no container yet: the cold-start queue is full');
    this.coldWaiting.set(name, waiting + 1);
    const limitMs = this.opts.coldStartTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), limitMs);
    });
    Promise.race([(this.opts.coldStart as (s: string) => Promise<void>)(name), timeout])
      .then(
        () => {
          if (res.destroyed) return; // the client gave up while waiting
          const fresh = this.routeOf(req);
          const target = fresh ? this.chooseTarget(req, res, fresh) : null;
          if (!fresh || !target) return refuse('no healthy container after the cold start');
          this.forward(req, res, fresh, target, started, req.headers['content-length']);
        },
        (e: Error) => {
          this.opts.log.warn({ service: name, err: e.message }, 'cold start failed');
          refuse(
            e.message === 'timeout'
              ? `no container became healthy within ${limitMs}ms`
              : `cold start failed: ${e.message}`,
          );
        },
      )
      .catch((e: Error) => {
        // Forwarding the held request threw: answer it rather than leave an unhandled rejection.
        this.opts.log.error({ service: name, err: e.message }, 'held request failed');
        refuse(`held request failed: ${e.message}`);
      })
      .finally(() => {
        clearTimeout(timer);
        this.coldWaiting.set(name, (this.coldWaiting.get(name) ?? 1) - 1);
      });
  }

  private forward(
    req: Req,
    res: http.ServerResponse,
    route: ServiceRoute,
    target: Target,
    started: number,
    len: string | undefined,
  ): void {
    const ctx: RequestContext = {
      route,
      target: null,
      retried: false,
      timedOut: false,
      started,
    };
    req[CTX] = ctx;
    if (len === undefined && req.headers['transfer-encoding'] !== undefined) {
      this.limitChunkedBody(req, res, ctx);
    }
    setForwardHeaders(req);
    res.setHeader('x-request-id', req.headers['x-request-id'] as string);
    res.once('close', () => this.finish(req, res, ctx));
    this.dispatch(req, res, ctx, target);
  }

  /** A chunked body has no Content-Length to check up front: count it as it streams. */
  private limitChunkedBody(req: Req, res: http.ServerResponse, ctx: RequestContext): void {
    let seen = 0;
    const max = this.opts.maxBodyBytes;
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen <= max) return;
      req.off('data', onData);
      req.unpipe();
      ctx.refused = true;
      ctx.upstream?.destroy();
      if (!res.headersSent) {
        res.setHeader('connection', 'close');
        send(res, 413, `request body larger than ${max} bytes`, ctx.route.name);
      } else res.destroy();
    };
    req.on('data', onData);
  }

  private chooseTarget(
    req: Req,
    res: http.ServerResponse,
    route: ServiceRoute,
    exclude?: Target,
  ): Target | null {
    if (route.pin && route.releases.size > 1) return this.pinnedTarget(req, res, route, exclude);
    let release = route.split.only;
    // One release: no cookie, header or hash to look at (the hot path of a steady state).
    if (release === null || (route.acceptance && route.releases.size > 1)) {
      const acceptance = route.acceptance
        ? isAcceptance(req, route.acceptance.header, route.acceptance.cookie)
        : false;
      let key: string | null = null;
      if (route.splitting && !acceptance) key = stickyKey(req, res, route);
      release = pickRelease(route.split, key, acceptance);
    }
    if (release === null) return null;
    const r = route.releases.get(release);
    const t = r ? leastInflight(r.targets, exclude) : null;
    return t ?? fallbackTarget(route, release, exclude);
  }

  /** Rainbow: the release named by the user's pin cookie while it lives, else the newest (and pin it). */
  private pinnedTarget(
    req: Req,
    res: http.ServerResponse,
    route: ServiceRoute,
    exclude?: Target,
  ): Target | null {
    const pinned = Number(cookie(req, PIN_COOKIE));
    const mine = pinned ? route.releases.get(pinned) : undefined;
    const t = mine ? leastInflight(mine.targets, exclude) : null;
    if (t) return t;
    const newest = route.split.only ?? route.split.newest;
    const r = newest === null ? undefined : route.releases.get(newest);
    const fresh = r ? leastInflight(r.targets, exclude) : null;
    if (fresh && !res.headersSent)
      res.setHeader('set-cookie', `${PIN_COOKIE}=${fresh.release}; Path=/; HttpOnly; SameSite=Lax`);
    return fresh ?? (newest === null ? null : fallbackTarget(route, newest, exclude));
  }

  private dispatch(req: Req, res: http.ServerResponse, ctx: RequestContext, target: Target): void {
    ctx.target = target;
    ctx.last = target;
    target.inflight++;
    res.setHeader('x-shipit-release', String(target.release));
    this.proxy.web(req, res, { target: target.url }, (err) =>
      this.onError(err as NodeJS.ErrnoException, req, res, ctx),
    );
  }

  private release(ctx: RequestContext): void {
    if (ctx.target) {
      ctx.target.inflight--;
      ctx.target = null;
    }
  }

  private onError(
    err: NodeJS.ErrnoException,
    req: Req,
    res: http.ServerResponse,
    ctx: RequestContext,
  ): void {
    const failed = ctx.target;
    this.release(ctx);
    if (!ctx.refused) failed?.stats.upstreamError(ctx.timedOut ? 'timeout' : errorReason(err.code));
    if (res.writableEnded) return; // already answered by the proxy itself (413)
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    if (ctx.timedOut)
      return void send(
        res,
        504,
        `upstream did not answer within ${this.opts.upstreamTimeoutMs}ms`,
        ctx.route.name,
      );
    const code = err.code ?? '';
    if (failed && (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH')) failed.healthy = false; // passive check
    if (!ctx.retried && RETRYABLE.has(code) && !hasBody(req)) {
      ctx.retried = true;
      const next = this.chooseTarget(req, res, ctx.route, failed ?? undefined);
      if (next) return this.dispatch(req, res, ctx, next);
    }
    this.opts.log.warn(
      { service: ctx.route.name, container: failed?.name, err: err.message, code },
      'upstream error',
    );
    send(res, 502, `upstream error: ${code || err.message}`, ctx.route.name);
  }

  private finish(req: Req, res: http.ServerResponse, ctx: RequestContext): void {
    this.release(ctx);
    const target = ctx.last;
    const ms = performance.now() - ctx.started;
    // Counted on the release that answered; a client that left early is not the release's fault.
    if (target && res.writableFinished) target.stats.record(res.statusCode, ms);
    const log = this.opts.accessLog;
    if (log) {
      log.info({
        service: ctx.route.name,
        release: target?.release,
        container: target?.name,
        method: req.method,
        url: req.url,
        status: res.statusCode,
        ms: Math.round(ms * 10) / 10,
        reqId: req.headers['x-request-id'],
        aborted: !res.writableFinished,
      });
    }
  }

  private upgrade(req: Req, socket: net.Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const route = this.routeOf(req);
    const fakeRes = new http.ServerResponse(req); // collects a sticky cookie we cannot set on an upgrade
    const target = route ? this.chooseTarget(req, fakeRes, route) : null;
    if (!route || !target) {
      socket.end(
        `HTTP/1.1 ${route ? 503 : 404} ${route ? 'Service Unavailable' : 'Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
      return;
    }
    setForwardHeaders(req);
    target.inflight++;
    let done = false;
    const release = () => {
      if (!done) {
        done = true;
        target.inflight--;
      }
    };
    socket.once('close', release);
    this.proxy.ws(req, socket, head, { target: target.url }, () => {
      release();
      socket.destroy();
    });
  }
}

/**
 * The picked release has no available container (its last one is draining, or
 * all are unhealthy): serve from another release that takes traffic rather
 * than answer 503 while healthy containers exist.
 */
function fallbackTarget(route: ServiceRoute, skip: number, exclude?: Target): Target | null {
  let best: Target | null = null;
  let bestWeight = 0; // only releases that take users: a dark-launched canary (weight 0) stays dark
  for (const r of route.releases.values()) {
    if (r.number === skip || r.weight <= bestWeight) continue;
    const t = leastInflight(r.targets, exclude);
    if (t) {
      best = t;
      bestWeight = r.weight;
    }
  }
  return best;
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'refused',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  ETIMEDOUT: 'timeout',
};

/** The `reason` label of shipit_upstream_errors_total for a socket error code. */
function errorReason(code: string | undefined): string {
  return (code && REASONS[code]) || 'other';
}

/** No release of the service has any container (scaled to zero), as opposed to none healthy. */
function isEmpty(route: ServiceRoute): boolean {
  for (const r of route.releases.values()) if (r.targets.length) return false;
  return true;
}

function setForwardHeaders(req: http.IncomingMessage): void {
  const h = req.headers;
  const remote = req.socket.remoteAddress ?? '';
  h['x-forwarded-for'] = h['x-forwarded-for'] ? `${h['x-forwarded-for']}, ${remote}` : remote;
  h['x-forwarded-proto'] = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  if (!h['x-forwarded-host'] && h.host) h['x-forwarded-host'] = h.host;
  if (!h['x-request-id']) h['x-request-id'] = randomUUID();
  const c = h.cookie;
  if (c && c.includes(DASHBOARD_COOKIE)) {
    const kept = c
      .split(';')
      .filter((part) => !part.trim().startsWith(`${DASHBOARD_COOKIE}=`))
      .join(';')
      .trim();
    if (kept) h.cookie = kept;
    else delete h.cookie;
  }
}

function hasBody(req: http.IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function cookie(req: http.IncomingMessage, name: string): string | null {
  const c = req.headers.cookie;
  if (!c) return null;
  const at = c.indexOf(`${name}=`);
  if (at < 0 || (at > 0 && c[at - 1] !== ' ' && c[at - 1] !== ';')) return null;
  const end = c.indexOf(';', at);
  return c.slice(at + name.length + 1, end < 0 ? undefined : end).trim();
}

function isAcceptance(req: http.IncomingMessage, header: string, cookieName: string): boolean {
  return req.headers[header.toLowerCase()] === 'next' || cookie(req, cookieName) === 'next';
}

function stickyKey(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  route: ServiceRoute,
): string {
  if (route.sticky.mode === 'ip') return req.socket.remoteAddress ?? '';
  if (route.sticky.mode === 'header') {
    const v = req.headers[(route.sticky.header ?? '').toLowerCase()];
    if (typeof v === 'string' && v) return v;
  }
  const existing = cookie(req, STICKY_COOKIE);
  if (existing) return existing;
  const id = randomUUID();
  res.setHeader('set-cookie', `${STICKY_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`);
  return id;
}

function send(res: http.ServerResponse, status: number, message: string, service?: string): void {
  const body = JSON.stringify({ error: http.STATUS_CODES[status], message, service });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
