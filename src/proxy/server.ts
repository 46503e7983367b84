import http from 'node:http';
import { createProxyServer } from 'http-proxy-3';
import type { Dispatcher, Pool } from 'undici';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import { pickRelease } from './picker';
import type { ServiceRoute } from './routing-table';
import { leastInflight, type Target } from './target';
import {
  DASHBOARD_COOKIE,
  HOP_BY_HOP,
  PIN_COOKIE,
  RETRYABLE,
  addCookie,
  againAfterConnectTimeout,
  connectTimeoutError,
  cookie,
  errorReason,
  fallbackTarget,
  hasBody,
  isAcceptance,
  isEmpty,
  markConnectTimeout,
  send,
  setForwardHeaders,
  stickyKey,
  withOwnCookies,
  type RequestLike,
  type ResponseLike,
} from './http-util';
import type { ProxyRouter } from './router';
import { ConnectionTracker } from './connections';
import { listenOnInherited } from '../handover';
import { RawConnection, type RawHost } from './raw';
import { UpstreamPool } from './upstream';
import type { AccessLog } from './access-log';

export interface ProxyOptions {
  upstreamTimeoutMs: number;
  /**
   * A new upstream connection must be accepted within this (at most upstreamTimeoutMs); else
   * it fails with ETIMEDOUT and the request is retried once on another container (SPEC §5),
   * with a fresh connection. Default CONNECT_TIMEOUT_MS; 0 for none.
   */
  connectTimeoutMs?: number;
  maxBodyBytes: number;
  /** Where each answer is logged (AccessLogFile); null disables the access log. */
  accessLog: AccessLog | null;
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
  /** Largest request head (request line + headers); larger -> 431. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** A client must send its whole request head within this; else 408. Default 10 s. */
  headersTimeoutMs?: number;
  /** A client must send its whole request (head and body) within this; else 408. Default 120 s. */
  requestTimeoutMs?: number;
  /** An idle keep-alive client connection is closed after this. Default 65 s. */
  keepAliveTimeoutMs?: number;
  /**
   * A client connection with no traffic either way for this long while a
   * request is open is closed. Default: the longest a request may
   * legitimately wait (upstream timeout + cold start wait) plus a margin, at least 120 s.
   */
  idleTimeoutMs?: number;
  /**
   * Listening sockets handed over by the daemon this one replaces (daemon
   * upgrade), by listenerKey: listen() and listenInternal() take them instead of binding.
   */
  inherited?: ReadonlyMap<string, net.Server>;
  /** How plain HTTP requests travel (DataPath); default defaultDataPath(). */
  dataPath?: DataPath;
  /**
   * Answers a request before routing (ACME challenges, the HTTPS redirect): returns true when
   * it answered. Not called for service-discovery (internal) connections.
   */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

/**
 * How the proxy carries plain HTTP requests: 'raw' (node's llhttp parser on the sockets of both
 * sides, src/proxy/raw.ts; the default), 'http' (node's http.Server and http-proxy-3 on a
 * keep-alive http.Agent) or 'undici' (http.Server, undici Pools to the upstreams). WebSocket
 * upgrades always go through http.Server and http-proxy-3. Default: SHIPIT_PROXY_DATAPATH, else
 * 'raw' (bench/README.md has each path's figures).
 */
export type DataPath = 'http' | 'undici' | 'raw';
const DATA_PATHS: readonly string[] = ['http', 'undici', 'raw'];

/** The data path named by SHIPIT_PROXY_DATAPATH, else 'raw'; an unknown name throws. */
export function defaultDataPath(env: NodeJS.ProcessEnv = process.env): DataPath {
  const v = env.SHIPIT_PROXY_DATAPATH;
  if (v === undefined || v === '') return 'raw';
  if (!DATA_PATHS.includes(v))
    throw new Error(
      `SHIPIT_PROXY_DATAPATH=${v} is not a data path: use one of ${DATA_PATHS.join(', ')}`,
    );
  return v as DataPath;
}

/** The name a listening socket is handed over under: `proxy:`, `internal:` or `tls:` + `host:port`. */
export const listenerKey = (
  kind: 'proxy' | 'internal' | 'tls',
  host: string,
  port: number,
): string => `${kind}:${host}:${port}`;

export { DASHBOARD_COOKIE };
const CTX = Symbol('shipit');
/** A pool that took no request for this long is closed (a new one opens on the next request). */
const POOL_IDLE_MS = 60_000;
/**
 * Default ProxyOptions.connectTimeoutMs. A container on this host accepts in
 * well under a millisecond, unless its accept queue is full: then the kernel
 * drops the SYN and resends it after 1 s, 3 s, 7 s, 15 s, 31 s, and under a
 * steady load a connection can lose that race again and again (seen: requests
 * waiting over 30 s on a busybox app with an accept backlog of 2). 2.5 s lets
 * one resent SYN through; after that a fresh connection, to another container
 * when there is one, has better odds.
 */
export const CONNECT_TIMEOUT_MS = 2500;
/**
 * undici's Pool, loaded on first use: only the opt-in undici data path needs it, and
 * loading it costs ~90–130 ms of every daemon start (a restarted daemon serves sooner).
 */
let PoolClass: typeof Pool | null = null;
function undiciPool(): typeof Pool {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  PoolClass ??= (require('undici') as typeof import('undici')).Pool;
  return PoolClass;
}

/** Answers to requests node's parser rejects, by error code (400 otherwise). */
const CLIENT_ERRORS: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};
/** How long a connection that got an error answer may still send before it is closed for good. */
const LINGER_MS = 2000;

interface RequestContext {
  route: ServiceRoute;
  target: Target | null;
  retried: boolean;
  /** Connects that timed out so far (againAfterConnectTimeout). */
  connects: number;
  timedOut: boolean;
  started: number;
  /** The last target the request went to (kept after an error, for the counters and the log). */
  last?: Target;
  /** The request to the upstream, once it has a socket. */
  upstream?: http.ClientRequest;
  /** The proxy answered by itself (body too large, too slow): the upstream request must not go on. */
  refused?: boolean;
  /** The upstream's response head arrived (the headers it set are on the response now). */
  answered?: boolean;
  /** undici data path: aborts the request to the upstream. */
  abort?: UndiciExchange;
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
  /** undici data path: one connection pool per upstream origin. */
  private readonly pools = new Map<string, Pool>();
  /** When each pool last took a request: pools of targets gone (old releases) are closed. */
  private readonly poolUsed = new Map<string, number>();
  private poolSweep: NodeJS.Timeout | null = null;
  readonly dataPath: DataPath;
  /** ProxyOptions.connectTimeoutMs with its default, at most upstreamTimeoutMs; 0: none. */
  readonly connectTimeoutMs: number;
  private readonly undici: boolean;
  /** raw data path: its connections, its upstream pools (by target url), node's own accept. */
  private readonly raw: boolean;
  private readonly rawConns = new Set<RawConnection>();
  private readonly rawPools = new Map<string, UpstreamPool>();
  private rawCheck: NodeJS.Timeout | null = null;
  private readonly nodeAccept: (socket: net.Socket) => void;
  private readonly rawHost: RawHost;
  private readonly coldWaiting = new Map<string, number>();
  /** Local addresses where containers call linked services by name (the network gateways). */
  private readonly internal = new Set<string>();
  private readonly internalServers: net.Server[] = [];
  private readonly tlsServers: net.Server[] = [];
  private readonly listening: [string, net.Server][] = [];
  /** Open client connections, for a retiring proxy to wait on. */
  private readonly connections: ConnectionTracker;
  /** Another process accepts on our sockets now (daemon upgrade): every answer closes its connection. */
  private retiring = false;
  /** WebSocket handshakes waiting for the upstream's answer, by client socket. */
  private readonly handshakes = new WeakMap<
    net.Socket,
    { req?: http.ClientRequest; timer: NodeJS.Timeout }
  >();
  /** Set while the routing table is not filled yet (daemon start): requests wait for open(). */
  private held: { promise: Promise<void>; open: () => void } | null = null;

  constructor(
    private readonly router: ProxyRouter,
    private readonly opts: ProxyOptions,
  ) {
    const dataPath = (this.dataPath = opts.dataPath ?? defaultDataPath());
    // upstreamTimeoutMs 0: no upstream timeout, but still the connect timeout
    const connect = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    const upstream = opts.upstreamTimeoutMs;
    this.connectTimeoutMs = upstream > 0 ? Math.min(connect, upstream) : connect;
    this.undici = dataPath === 'undici';
    this.raw = dataPath === 'raw';
    this.agent = new http.Agent({
      keepAlive: true,
      maxSockets: Infinity,
      maxFreeSockets: 1024,
      scheduling: 'lifo',
    });
    // Every new upstream socket of the agent gets the connect timeout (ClientRequest.setTimeout
    // only starts once a socket is connected).
    const createConnection = this.agent.createConnection.bind(this.agent);
    this.agent.createConnection = (options, callback) => {
      const socket = createConnection(options, callback) as net.Socket;
      this.limitConnect(socket);
      return socket;
    };
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
      // A 101 to a plain request: without this listener node's client just closes,
      // with no response and no error, and the client would wait forever.
      proxyReq.once('upgrade', (_res, socket: net.Socket) => {
        socket.destroy();
        const err: NodeJS.ErrnoException = new Error('upstream switched protocols unasked');
        err.code = 'ERR_UNEXPECTED_UPGRADE';
        proxyReq.emit('error', err);
      });
    });
    this.proxy.on('proxyReqWs', (proxyReq, _req, socket) => {
      const pending = this.handshakes.get(socket as net.Socket);
      if (!pending) return;
      pending.req = proxyReq;
      // Answered (101 or a plain response) or gone: the handshake timeout no longer applies.
      const settle = () => clearTimeout(pending.timer);
      proxyReq.once('upgrade', settle);
      proxyReq.once('response', settle);
      proxyReq.once('close', settle);
    });
    this.proxy.on('proxyRes', (proxyRes, req, res) => {
      const ctx = (req as Req)[CTX];
      if (ctx) ctx.answered = true;
      if (this.retiring) proxyRes.headers.connection = 'close'; // http-proxy copies it to the client
      // http-proxy replaces the response's Set-Cookie with the app's: keep the proxy's own too
      const appCookies = proxyRes.headers['set-cookie'];
      if (appCookies) proxyRes.headers['set-cookie'] = withOwnCookies(res, appCookies);
      const status = proxyRes.statusCode ?? 0;
      // The parser takes any three digits; writeHead throws on these (an uncaught exception).
      if (status < 100 || status > 999) {
        proxyRes.destroy();
        if (ctx?.target) ctx.target.stats.upstreamError('invalid_response');
        if (ctx) this.release(ctx);
        this.opts.log.warn({ service: ctx?.route.name, status }, 'upstream sent an invalid status');
        return void send(res, 502, `upstream sent status ${status}`, ctx?.route.name);
      }
      // An upstream that breaks off after its headers were relayed: the client must
      // see the cut (not wait forever on a short body), and the slot must free up.
      proxyRes.once('close', () => {
        if (proxyRes.complete || res.writableEnded) return; // whole, or answered 502 by onError
        // Counted once: onError may have counted the socket error already, and a
        // client that left first (its slot released in finish) is not the upstream's fault.
        if (ctx?.target) {
          ctx.target.stats.upstreamError(ctx.timedOut ? 'timeout' : 'reset');
          this.release(ctx);
        }
        res.destroy();
      });
    });
    const headersTimeout = opts.headersTimeoutMs ?? 10_000;
    const requestTimeout = opts.requestTimeoutMs ?? 120_000;
    const shortest = Math.min(...[headersTimeout, requestTimeout].filter((t) => t > 0));
    // Both timeouts are only checked this often (30 s by default): a fraction of them.
    const checkEvery = Math.min(1000, Math.max(100, Math.floor(shortest / 4)));
    this.server = http.createServer(
      {
        keepAlive: true,
        maxHeaderSize: opts.maxHeaderBytes ?? 16 * 1024,
        // node refuses a headers timeout longer than the request timeout
        headersTimeout:
          requestTimeout > 0 ? Math.min(headersTimeout, requestTimeout) : headersTimeout,
        requestTimeout,
        keepAliveTimeout: opts.keepAliveTimeoutMs ?? 65_000,
        connectionsCheckingInterval: checkEvery,
      },
      (req, res) => this.handle(req, res),
    );
    this.server.setTimeout(
      opts.idleTimeoutMs ??
        Math.max(
          120_000,
          opts.upstreamTimeoutMs +
            (opts.coldStart ? (opts.coldStartTimeoutMs ?? 30_000) : 0) +
            10_000,
        ),
    );
    this.nodeAccept = this.server.listeners('connection')[0] as (socket: net.Socket) => void;
    if (this.raw) this.server.removeListener('connection', this.nodeAccept);
    this.connections = new ConnectionTracker(this.server);
    this.rawHost = this.makeRawHost();
    if (this.raw) {
      this.server.on('connection', (socket: net.Socket) => this.accept(socket));
      const closeAll = this.server.closeAllConnections.bind(this.server);
      this.server.closeAllConnections = () => {
        closeAll();
        for (const c of this.rawConns) c.socket.destroy();
      };
      const closeIdle = this.server.closeIdleConnections.bind(this.server);
      this.server.closeIdleConnections = () => {
        closeIdle();
        for (const c of this.rawConns) c.closeIdle();
      };
      // the http.Server's settings, read each time (they may be changed while it runs)
      const srv = this.server;
      this.rawCheck = setInterval(() => {
        const now = performance.now();
        const { headersTimeout: h, requestTimeout: r, keepAliveTimeout: k } = srv;
        for (const c of this.rawConns) c.check(now, h, r, k);
      }, checkEvery).unref();
    }
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket as net.Socket, head));
    this.server.on('clientError', (err, socket) =>
      this.clientError(err as NodeJS.ErrnoException, socket as net.Socket),
    );
  }

  /** raw data path: a new client connection (TLS ones too, after their handshake). */
  private accept(socket: net.Socket): void {
    const internal = this.internal.size > 0 && this.internal.has(socket.localAddress ?? '');
    // intercept (ACME challenges, the HTTPS redirect) needs node's request and response
    if (this.opts.intercept && !internal) return this.nodeAccept.call(this.server, socket);
    const idle = this.server.timeout;
    if (idle > 0) socket.setTimeout(idle, () => socket.destroy());
    this.rawConns.add(new RawConnection(socket, this.rawHost, internal));
  }

  private makeRawHost(): RawHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const opts = this.opts;
    return {
      maxHeaderBytes: opts.maxHeaderBytes ?? 16 * 1024,
      maxBodyBytes: opts.maxBodyBytes,
      upstreamTimeoutMs: opts.upstreamTimeoutMs,
      connectTimeoutMs: this.connectTimeoutMs,
      accessLog: opts.accessLog,
      log: opts.log,
      canColdStart: opts.coldStart !== undefined,
      get retiring() {
        return self.retiring;
      },
      get held() {
        return self.held?.promise ?? null;
      },
      route: (host, internal) =>
        internal ? this.router.table.byName(host) : this.router.table.lookup(host),
      chooseTarget: (req, res, route, exclude) => this.chooseTarget(req, res, route, exclude),
      unrouted: (service) => this.router.unrouted(service),
      waitForColdStart: (name, ready, refuse) => this.waitForColdStart(name, ready, refuse),
      pool: (target) => this.rawPool(target),
      busy: (socket) => this.connections.busy(socket),
      idle: (socket) => this.connections.idle(socket),
      handOff: (socket, unread) => {
        // node's http.Server parses it (then emits 'upgrade'): from the stream, not the handle
        const handle = (socket as { _handle?: { _consumed?: boolean } | null })._handle;
        if (handle) handle._consumed = true;
        socket.unshift(unread);
        this.nodeAccept.call(this.server, socket);
        socket.resume();
      },
      forget: (conn) => this.rawConns.delete(conn),
    };
  }

  /** http path: a socket the agent is connecting fails with ETIMEDOUT (retryable) after connectTimeoutMs. */
  private limitConnect(socket: net.Socket): void {
    const ms = this.connectTimeoutMs;
    if (!socket.connecting || ms <= 0) return; // connected at once, or no connect timeout
    const timer = setTimeout(() => socket.destroy(connectTimeoutError(ms)), ms);
    const clear = () => clearTimeout(timer);
    socket.once('connect', clear);
    socket.once('close', clear);
  }

  private rawPool(target: Target): UpstreamPool {
    let pool = this.rawPools.get(target.url);
    if (!pool) {
      pool = new UpstreamPool(target.host, target.port, {
        timeoutMs: this.opts.upstreamTimeoutMs,
        idleMs: 4000,
        connectTimeoutMs: this.connectTimeoutMs,
      });
      this.rawPools.set(target.url, pool);
      this.poolSweep ??= setInterval(() => this.sweepPools(POOL_IDLE_MS), POOL_IDLE_MS).unref();
    }
    return pool;
  }

  /**
   * A request that cannot be parsed, is too large, or came too slowly: answer
   * it if no response has started on the connection, then close. The socket
   * stays readable for a moment (a lingering close), so that what the client
   * is still sending does not make the kernel reset the connection and wipe
   * the answer out before the client reads it.
   */
  private clientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    if (socket.writableEnded) return; // answered already: node calls again for every later chunk
    const res = (socket as { _httpMessage?: http.ServerResponse | null })._httpMessage;
    if (!socket.writable || res?.headersSent) return void socket.destroy();
    const status = CLIENT_ERRORS[err.code ?? ''] ?? 400;
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
    );
    const linger = setTimeout(() => socket.destroy(), LINGER_MS).unref();
    socket.once('close', () => clearTimeout(linger));
    // A request in flight (its body came too slowly): its upstream request ends here too.
    const ctx = res && (res.req as Req)[CTX];
    if (ctx) {
      ctx.refused = true;
      ctx.upstream?.destroy();
      ctx.abort?.abort();
      res.statusCode = status; // for the access log
      ctx.last?.stats.record(status, performance.now() - ctx.started);
    }
  }

  async listen(port: number, host: string): Promise<void> {
    const key = listenerKey('proxy', host, port);
    await listenOn(this.server, this.opts.inherited?.get(key), port, host);
    this.listening.push([key, this.server]);
  }

  /** The listening sockets, by listenerKey, for a daemon upgrade to hand over. */
  listeners(): [string, net.Server][] {
    return [...this.listening];
  }

  /**
   * Daemon upgrade, old side: another process accepts on the same sockets
   * now. Stops accepting without closing open connections (http.Server#close
   * would end idle keep-alive ones, and a client may be writing its next
   * request on one that very moment); answers whatever still comes with
   * `Connection: close`; ends connections idle for idleMs; resolves once none
   * is left, or at timeoutMs.
   */
  async retire(timeoutMs: number, idleMs = 2000): Promise<void> {
    this.retiring = true;
    for (const [, s] of this.listening) net.Server.prototype.close.call(s);
    const deadline = Date.now() + timeoutMs;
    while (this.connections.size > 0 && Date.now() < deadline) {
      this.connections.endIdle(idleMs);
      await new Promise((r) => setTimeout(r, 100));
    }
    this.connections.destroyAll();
    this.agent.destroy();
    this.destroyPools();
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
    const key = listenerKey('internal', host, port);
    try {
      await listenOn(srv, this.opts.inherited?.get(key), port, host);
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
    this.listening.push([key, srv]);
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

  /**
   * Serves HTTPS: the TLS server (its certificates are the caller's) hands each connection, once
   * its handshake is done, to the HTTP server. Handed over on a daemon upgrade like the others.
   */
  async listenTls(server: net.Server, port: number, host: string): Promise<void> {
    server.on('secureConnection', (socket: net.Socket) => this.server.emit('connection', socket));
    const key = listenerKey('tls', host, port);
    await listenOn(server, this.opts.inherited?.get(key), port, host);
    this.tlsServers.push(server);
    this.listening.push([key, server]);
  }

  async close(): Promise<void> {
    this.retiring = true; // raw connections close once their answer is out
    for (const s of [...this.internalServers, ...this.tlsServers]) s.close();
    await new Promise<void>((r) => {
      this.server.close(() => r());
      this.server.closeIdleConnections();
    });
    this.agent.destroy();
    this.destroyPools();
  }

  /** Closes pools unused for idleMs (each deploy brings new targets; the old ones' pools would pile up). */
  sweepPools(idleMs: number): number {
    const cutoff = performance.now() - idleMs;
    let closed = 0;
    for (const [url, pool] of this.rawPools) {
      if (pool.lastUsed > cutoff) continue;
      pool.close();
      this.rawPools.delete(url);
      closed++;
    }
    for (const [url, used] of this.poolUsed) {
      if (used > cutoff) continue;
      this.pools
        .get(url)
        ?.close()
        .catch(() => {});
      this.pools.delete(url);
      this.poolUsed.delete(url);
      closed++;
    }
    return closed;
  }

  /** Client connections open now, on every listener. */
  get openConnections(): number {
    return this.connections.size;
  }

  /** Upstream connection pools open now (for tests and status). */
  get poolCount(): number {
    return this.pools.size + this.rawPools.size;
  }

  private destroyPools(): void {
    if (this.poolSweep) clearInterval(this.poolSweep);
    this.poolSweep = null;
    this.poolUsed.clear();
    for (const p of this.pools.values()) p.destroy().catch(() => {});
    this.pools.clear();
    for (const p of this.rawPools.values()) p.close();
    this.rawPools.clear();
    if (this.rawCheck) clearInterval(this.rawCheck);
    this.rawCheck = null;
  }

  /** Requests accepted from now on wait until open(): the routes are not known yet. */
  hold(): void {
    if (this.held) return;
    let open = () => {};
    const promise = new Promise<void>((r) => (open = r));
    this.held = { promise, open };
  }

  open(): void {
    this.held?.open();
    this.held = null;
  }

  private handle(req: Req, res: http.ServerResponse): void {
    const internal = this.internal.size > 0 && this.internal.has(req.socket.localAddress ?? '');
    if (this.opts.intercept && !internal && this.opts.intercept(req, res)) return;
    if (this.held) return void this.held.promise.then(() => this.handle(req, res));
    const started = performance.now();
    if (this.retiring) res.setHeader('connection', 'close');
    const route = this.routeOf(req);
    if (!route) return void send(res, 404, 'no service for this host', req.headers.host);
    const len = req.headers['content-length'];
    if (len !== undefined && Number(len) > this.opts.maxBodyBytes) {
      res.setHeader('connection', 'close');
      const why = `request body larger than ${this.opts.maxBodyBytes} bytes`;
      return this.ownAnswer(req, res, 413, why, route.name, started);
    }
    const target = this.chooseTarget(req, res, route);
    if (!target) {
      if (this.opts.coldStart && isEmpty(route))
        return this.holdForColdStart(req, res, route, started);
      return this.ownAnswer(req, res, 503, 'no healthy container', route.name, started);
    }
    this.forward(req, res, route, target, started, len);
  }

  /** The proxy answers a service's request by itself (413, 503): counted and logged as the service's. */
  private ownAnswer(
    req: Req,
    res: http.ServerResponse,
    status: number,
    message: string,
    service: string,
    started: number,
  ): void {
    send(res, status, message, service);
    const ms = performance.now() - started;
    this.router.unrouted(service).record(status, ms);
    this.logAccess(req, service, undefined, status, ms, false);
  }

  /** One access log entry (http and undici paths). */
  private logAccess(
    req: Req,
    service: string,
    target: Target | undefined,
    status: number,
    ms: number,
    aborted: boolean,
  ): void {
    this.opts.accessLog?.write({
      service,
      release: target?.release,
      container: target?.name,
      method: req.method ?? '',
      url: req.url ?? '',
      status,
      ms,
      reqId: req.headers['x-request-id'] as string | undefined, // set by setForwardHeaders, if forwarded
      aborted,
    });
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
    const refuse = (why: string) => {
      if (res.headersSent || res.destroyed) return;
      this.ownAnswer(req, res, 503, why, name, started);
    };
    this.waitForColdStart(
      name,
      () => {
        if (res.destroyed) return; // the client gave up while waiting
        const fresh = this.routeOf(req);
        const target = fresh ? this.chooseTarget(req, res, fresh) : null;
        if (!fresh || !target) return refuse('no healthy container after the cold start');
        this.forward(req, res, fresh, target, started, req.headers['content-length']);
      },
      refuse,
    );
  }

  /**
   * @internal The service is scaled to zero: ready() once a container started and passed its
   * first probe; refuse(why) when the queue is full, the wait too long or the start failed.
   */
  waitForColdStart(name: string, ready: () => void, refuse: (why: string) => void): void {
    const waiting = this.coldWaiting.get(name) ?? 0;
    if (waiting >= (this.opts.coldStartQueue ?? 1000))
      return refuse('no container yet: the cold-start queue is full');
    this.coldWaiting.set(name, waiting + 1);
    const limitMs = this.opts.coldStartTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), limitMs);
    });
    Promise.race([(this.opts.coldStart as (s: string) => Promise<void>)(name), timeout])
      .then(ready, (e: Error) => {
        this.opts.log.warn({ service: name, err: e.message }, 'cold start failed');
        refuse(
          e.message === 'timeout'
            ? `no container became healthy within ${limitMs}ms`
            : `cold start failed: ${e.message}`,
        );
      })
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
      connects: 0,
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
      ctx.abort?.abort();
      if (!res.headersSent) {
        res.setHeader('connection', 'close');
        send(res, 413, `request body larger than ${max} bytes`, ctx.route.name);
      } else res.destroy();
    };
    req.on('data', onData);
  }

  /** @internal Host, sticky key, release, least-in-flight target (both data paths). */
  chooseTarget(
    req: RequestLike,
    res: ResponseLike,
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
    req: RequestLike,
    res: ResponseLike,
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
      addCookie(res, `${PIN_COOKIE}=${fresh.release}; Path=/; HttpOnly; SameSite=Lax`);
    return fresh ?? (newest === null ? null : fallbackTarget(route, newest, exclude));
  }

  private dispatch(req: Req, res: http.ServerResponse, ctx: RequestContext, target: Target): void {
    ctx.target = target;
    ctx.last = target;
    target.inflight++;
    res.setHeader('x-shipit-release', String(target.release));
    if (this.undici) return this.dispatchUndici(req, res, ctx, target);
    // node's server has sent the client its 100 Continue. And http-proxy-3 emits no
    // proxyReq for a request with Expect, which would leave it without its timeouts.
    delete req.headers.expect;
    this.proxy.web(req, res, { target: target.urlObject }, (err) =>
      this.onError(err as NodeJS.ErrnoException, req, res, ctx),
    );
  }

  /** The undici data path: the request goes out on the target's Pool, the answer streams into res. */
  private dispatchUndici(
    req: Req,
    res: http.ServerResponse,
    ctx: RequestContext,
    target: Target,
  ): void {
    let pool = this.pools.get(target.url);
    if (!pool) {
      pool = new (undiciPool())(target.url, {
        pipelining: 1,
        keepAliveTimeout: 4000,
        connect: { timeout: this.connectTimeoutMs },
      });
      this.pools.set(target.url, pool);
      this.poolSweep ??= setInterval(() => this.sweepPools(POOL_IDLE_MS), POOL_IDLE_MS).unref();
    }
    this.poolUsed.set(target.url, performance.now());
    const body = hasBody(req);
    const headers: Record<string, string | string[]> = {};
    const h = req.headers;
    for (const k in h) {
      const v = h[k];
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    }
    const timeout = this.opts.upstreamTimeoutMs;
    pool.dispatch(
      {
        origin: target.url,
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers,
        // piped now: limitChunkedBody's 'data' listener has set req flowing, and
        // undici only starts reading once it has a connection
        body: body ? req.pipe(new PassThrough()) : null,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      },
      new UndiciExchange(this, req, res, ctx),
    );
  }

  /** The undici request failed (before or after the answer's head): as onError does for http-proxy-3. */
  undiciFailed(
    req: Req,
    res: http.ServerResponse,
    ctx: RequestContext,
    err: NodeJS.ErrnoException,
  ): void {
    ctx.abort = undefined;
    const code = err.code ?? '';
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') ctx.timedOut = true;
    else if (code === 'UND_ERR_CONNECT_TIMEOUT')
      markConnectTimeout(err); // retried, as on the other paths
    else if (err.message === 'bad upgrade') err.code = 'ERR_UNEXPECTED_UPGRADE';
    else if (code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') err.code = 'ECONNRESET';
    else if (
      err.name === 'HTTPParserError' ||
      code.startsWith('UND_ERR_RES') ||
      code === 'UND_ERR_HEADERS_OVERFLOW'
    )
      err.code = 'HPE_INVALID';
    if (res.headersSent && !res.writableEnded) {
      // broke off after its head was relayed: the client must see the cut
      if (ctx.target && !ctx.refused) {
        const reason = ctx.timedOut ? 'timeout' : errorReason(err.code);
        ctx.target.stats.upstreamError(reason === 'other' ? 'reset' : reason);
        this.release(ctx);
      }
      return void res.destroy();
    }
    this.onError(err, req, res, ctx);
  }

  /** @internal */
  release(ctx: RequestContext): void {
    if (ctx.target) {
      ctx.target.inflight--;
      ctx.target = null;
    }
  }

  /** @internal */
  onError(
    err: NodeJS.ErrnoException,
    req: Req,
    res: http.ServerResponse,
    ctx: RequestContext,
  ): void {
    const failed = ctx.target;
    this.release(ctx);
    if (!ctx.refused) failed?.stats.upstreamError(ctx.timedOut ? 'timeout' : errorReason(err.code));
    if (ctx.refused || res.writableEnded) return; // answered by the proxy itself (413, 408)
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    // The upstream's head arrived but broke before a byte went out: its headers are not the 502's.
    if (ctx.answered)
      for (const h of res.getHeaderNames())
        if (h !== 'x-request-id' && h !== 'x-shipit-release') res.removeHeader(h);
    if (ctx.timedOut)
      return void send(
        res,
        504,
        `upstream did not answer within ${this.opts.upstreamTimeoutMs}ms`,
        ctx.route.name,
      );
    const code = err.code ?? '';
    if (failed && (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH')) failed.healthy = false; // passive check
    const elapsed = performance.now() - ctx.started;
    const { connectTimeoutMs: connectMs, opts } = this;
    if (
      !hasBody(req) &&
      againAfterConnectTimeout(err, ++ctx.connects, elapsed, connectMs, opts.upstreamTimeoutMs)
    ) {
      const next = this.chooseTarget(req, res, ctx.route, failed ?? undefined) ?? failed;
      if (next?.available) return this.dispatch(req, res, ctx, next);
    }
    if (!ctx.retried && !ctx.answered && RETRYABLE.has(code) && !hasBody(req)) {
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
    ctx.abort?.abort(); // the client left before the upstream's answer ended
    const target = ctx.last;
    const ms = performance.now() - ctx.started;
    // Counted on the release that answered; a client that left early is not the release's fault.
    if (target && res.writableFinished) target.stats.record(res.statusCode, ms);
    this.logAccess(req, ctx.route.name, target, res.statusCode, ms, !res.writableFinished);
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
    // An upstream that never answers the handshake: 504 after upstreamTimeout, as for a request.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      target.stats.upstreamError('timeout');
      socket.end('HTTP/1.1 504 Gateway Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      this.handshakes.get(socket)?.req?.destroy();
    }, this.opts.upstreamTimeoutMs);
    this.handshakes.set(socket, { timer });
    socket.once('close', () => clearTimeout(timer));
    this.proxy.ws(req, socket, head, { target: target.urlObject }, () => {
      clearTimeout(timer);
      release();
      if (!timedOut) socket.destroy(); // else the 504 is on its way out: end() closes it
    });
  }
}

/**
 * One request on the undici data path: its dispatch handler (one object per
 * request, no closures), streaming the upstream's answer into the client's response.
 */
class UndiciExchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  constructor(
    private readonly proxy: ProxyServer,
    private readonly req: Req,
    private readonly res: http.ServerResponse,
    private readonly ctx: RequestContext,
  ) {}

  abort(): void {
    this.controller?.abort(new Error('aborted'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.ctx.refused) return controller.abort(new Error('refused'));
    this.controller = controller;
    this.ctx.abort = this;
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    status: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (status < 100 || status > 999) {
      const err: NodeJS.ErrnoException = new Error(`upstream sent status ${status}`);
      err.code = 'HPE_INVALID_STATUS';
      return controller.abort(err);
    }
    if (status < 200) return; // 1xx: informational, not relayed
    this.ctx.answered = true;
    const res = this.res;
    if (res.destroyed) return controller.abort(new Error('client gone'));
    res.statusCode = status;
    for (const k in headers) {
      if (HOP_BY_HOP.has(k)) continue;
      const v = headers[k];
      if (v === undefined) continue;
      res.setHeader(k, k === 'set-cookie' ? withOwnCookies(res, v) : v);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.res.write(chunk)) return;
    controller.pause();
    this.res.once('drain', () => controller.resume());
  }

  onResponseEnd(): void {
    this.ctx.abort = undefined;
    const res = this.res;
    const s = res.statusCode;
    if (!res.headersSent && !res.hasHeader('content-length') && s !== 204 && s !== 304)
      if (this.req.method !== 'HEAD') res.setHeader('content-length', 0);
    res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.proxy.undiciFailed(this.req, this.res, this.ctx, err as NodeJS.ErrnoException);
  }
}

/** Binds server to port/host, or takes over a listening socket handed over by another process. */
function listenOn(
  server: net.Server,
  handle: net.Server | undefined,
  port: number,
  host: string,
): Promise<void> {
  if (handle) return listenOnInherited(server, handle);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
