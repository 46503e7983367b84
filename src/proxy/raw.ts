import http from 'node:http';
import type net from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { createParser, METHODS, type Parser, type ParserEvents } from './llhttp';
import type { UpstreamConnection, UpstreamPool, UpstreamUser } from './upstream';
import type { AccessLog } from './access-log';
import type { ServiceRoute } from './routing-table';
import type { Target } from './target';
import type { ReleaseStats } from './stats';
import {
  DASHBOARD_COOKIE,
  HOP_BY_HOP,
  RETRYABLE,
  againAfterConnectTimeout,
  errorReason,
  isEmpty,
  type RequestLike,
  type ResponseLike,
} from './http-util';

/** What the raw data path needs of the ProxyServer that accepted the connection. */
export interface RawHost {
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
  readonly upstreamTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly accessLog: AccessLog | null;
  readonly log: Logger;
  readonly canColdStart: boolean;
  /** Answers close their connection (daemon upgrade: another process accepts now). */
  readonly retiring: boolean;
  /** Resolves when the routing table is filled (daemon start); null when it is. */
  readonly held: Promise<void> | null;
  route(host: string | undefined, internal: boolean): ServiceRoute | null;
  chooseTarget(
    req: RequestLike,
    res: ResponseLike,
    route: ServiceRoute,
    exclude?: Target,
  ): Target | null;
  unrouted(service: string): ReleaseStats;
  waitForColdStart(name: string, ready: () => void, refuse: (why: string) => void): void;
  pool(target: Target): UpstreamPool;
  busy(socket: net.Socket): void;
  idle(socket: net.Socket): void;
  /** Hands the socket, with `unread` to be parsed first, to node's http.Server (WebSocket upgrades). */
  handOff(socket: net.Socket, unread: Buffer): void;
  forget(conn: RawConnection): void;
}

/** Answers to requests the parser rejects, by error code (400 otherwise). */
const CLIENT_ERRORS: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};
/** How long a connection that got an error answer may still send before it is closed for good. */
const LINGER_MS = 2000;
/** Request headers the proxy writes itself (X-Forwarded-*, X-Request-Id) or filters (cookie). */
const OWN_REQUEST = new Set([
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'cookie',
]);

/** An answer's first body piece up to this size goes out in one write with its head. */
const ONE_WRITE_BYTES = 16 * 1024;

let dateCache = '';
let dateSecond = 0;
/** The Date header's value, computed once a second. */
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateCache = new Date(now).toUTCString();
  }
  return dateCache;
}

/**
 * One client connection on the raw data path: node's llhttp parser on the
 * socket itself (no IncomingMessage, ServerResponse or streams), one
 * exchange at a time; pipelined requests wait their turn. WebSocket upgrades
 * are handed to node's http.Server at their request boundary.
 */
export class RawConnection implements ParserEvents {
  private readonly parser: Parser;
  /** When the message being parsed began (performance.now()); 0 between messages. */
  msgStart: number;
  /** The head of the message being parsed is complete (its body may still come). */
  private headDone = false;
  /** Bytes of a request came and its end did not yet. */
  private inMessage = false;
  /** When the connection last finished an answer or got bytes. */
  lastUsed: number;
  /** The exchange whose request body the parser is reading. */
  private reading: RawExchange | null = null;
  /** The exchange being answered. */
  private active: RawExchange | null = null;
  private readonly queue: RawExchange[] = [];
  /** An upgrade request's head and what followed it, for node's http.Server once idle. */
  private upgrade: Buffer | null = null;
  /** The connection is ending: no more requests are read. */
  private ending = false;
  /** Reading is paused by the proxy: a whole request waits for the ones before it. */
  private held = false;
  private clientEnded = false;

  constructor(
    readonly socket: net.Socket,
    readonly host: RawHost,
    readonly internal: boolean,
  ) {
    this.parser = createParser('request', host.maxHeaderBytes, this);
    this.msgStart = this.lastUsed = performance.now();
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private readonly onData = (d: Buffer) => this.data(d);
  private readonly onEnd = () => this.clientEnd();
  private readonly onError = () => this.socket.destroy();
  private readonly onClose = () => this.closed();

  private data(d: Buffer): void {
    if (this.ending) return; // answered with an error and closing: the rest is read and dropped
    this.lastUsed = performance.now();
    const r = this.parser.execute(d);
    if (typeof r !== 'number') return this.clientError(r.code);
    if (this.upgrade) {
      this.upgrade = Buffer.concat([this.upgrade, d.subarray(r)]);
      this.socket.pause();
      if (!this.active) this.handOff();
    }
  }

  /**
   * The client shut down its sending side. As node's http.Server does (httpAllowHalfOpen
   * false): a request still open is given up and the connection ends.
   */
  private clientEnd(): void {
    this.clientEnded = true;
    if (this.ending) return void this.socket.destroySoon(); // closing already: once flushed
    const r = this.parser.finish();
    if (r !== undefined && typeof r !== 'number') return this.clientError(r.code);
    if (this.upgrade) return; // handed over once the exchange before it is answered
    this.ending = true;
    this.queue.length = 0;
    this.active?.abort();
    this.socket.end();
  }

  private closed(): void {
    this.ending = true;
    this.host.forget(this);
    this.parser.close();
    this.active?.abort();
    this.queue.length = 0;
  }

  private handOff(): void {
    const unread = this.upgrade as Buffer;
    this.upgrade = null;
    this.ending = true;
    const s = this.socket;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('error', this.onError);
    s.off('close', this.onClose);
    this.host.forget(this);
    this.parser.close();
    this.host.handOff(this.socket, unread);
  }

  /**
   * A request that cannot be parsed, is too large, or came too slowly: answer
   * it if no answer has started on the connection, then close. The socket
   * stays readable for a moment (a lingering close), so that what the client
   * is still sending does not make the kernel reset the connection and wipe
   * the answer out before the client reads it.
   */
  clientError(code: string | undefined): void {
    if (this.ending) return;
    this.ending = true;
    const x = this.active;
    if (x?.headersSent || !this.socket.writable) return void this.socket.destroy();
    const status = CLIENT_ERRORS[code ?? ''] ?? 400;
    x?.refuse(status);
    this.socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
    );
    this.linger();
  }

  /**
   * Closes once the answer is out: ends the socket and, once everything written is flushed,
   * reads (and drops) what the client still sends for a moment before the socket is destroyed.
   */
  private linger(): void {
    this.ending = true;
    this.held = false;
    const s = this.socket;
    s.resume();
    if (this.clientEnded) return void s.destroySoon();
    s.end();
    s.once('finish', () => {
      const t = setTimeout(() => s.destroy(), LINGER_MS).unref();
      s.once('close', () => clearTimeout(t));
    });
  }

  /** The connection's timeouts, checked every connectionsCheckingInterval. */
  check(now: number, headersMs: number, requestMs: number, keepAliveMs: number): void {
    if (this.ending || this.held) return; // not the client's delay while the proxy reads nothing
    const start = this.msgStart;
    if (start > 0) {
      const late =
        (!this.headDone && headersMs > 0 && now - start > headersMs) ||
        (requestMs > 0 && now - start > requestMs);
      if (late) this.clientError('ERR_HTTP_REQUEST_TIMEOUT');
    } else if (!this.active && keepAliveMs > 0 && now - this.lastUsed > keepAliveMs) {
      this.socket.destroy();
    }
  }

  /** Ends the connection once no exchange is open on it (proxy closing). */
  closeIdle(): void {
    if (!this.active && !this.inMessage) this.socket.destroy();
  }

  /** The active exchange's answer ended (or it was given up). */
  done(x: RawExchange): void {
    if (this.active !== x) return;
    this.active = null;
    this.lastUsed = performance.now();
    this.host.idle(this.socket);
    if (x.closeAfter) return this.linger();
    const next = this.queue.shift();
    if (next) this.begin(next);
    if (this.queue.length > 0 || this.active) return;
    if (this.upgrade) return this.handOff();
    this.readOn();
  }

  /** The upstream took the request body it was sent: read the client on, unless the proxy holds it. */
  bodyDrained(): void {
    if (!this.held && !this.ending && !this.upgrade) this.socket.resume();
  }

  /** Reads again after the proxy held the connection (pipelining); a partial head's clock restarts. */
  private readOn(): void {
    if (this.held) {
      this.held = false;
      if (this.inMessage) this.msgStart = performance.now();
    }
    this.socket.resume();
  }

  private begin(x: RawExchange): void {
    this.active = x;
    this.host.busy(this.socket);
    handle(this.host, x);
  }

  // ---- parser events

  messageBegin(): void {
    this.inMessage = true;
    this.msgStart = performance.now();
    this.headDone = false;
  }

  headersComplete(
    major: number,
    minor: number,
    headers: string[],
    method: number | undefined,
    url: string,
    _status: number | undefined,
    _message: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    this.headDone = true;
    const name = METHODS[method ?? 1] ?? 'GET';
    if (upgrade) {
      let head = `${name} ${url} HTTP/${major}.${minor}\r\n`;
      for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
      this.upgrade = Buffer.from(`${head}\r\n`, 'latin1');
      return 2; // no body: what follows the head is the new protocol's (as node's server does)
    }
    const x = new RawExchange(this, name, url, minor === 1 && major === 1, headers, keepAlive);
    this.reading = x;
    if (this.active) this.queue.push(x);
    else this.begin(x);
    return 0;
  }

  body(chunk: Buffer): void {
    this.reading?.requestBody(chunk);
  }

  messageComplete(): void {
    this.inMessage = false;
    this.msgStart = 0;
    const x = this.reading;
    this.reading = null;
    x?.requestEnd();
    if (this.queue.length > 0 && !this.held) {
      // pipelined: a whole request waits for the ones before it; read on once they are answered
      this.held = true;
      this.socket.pause();
    }
  }
}

/** Request headers (names lower-cased) as node's IncomingMessage joins them. */
function headerMap(raw: string[]): http.IncomingHttpHeaders {
  const h: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    const v = raw[i + 1];
    const had = h[k];
    if (had === undefined) h[k] = k === 'set-cookie' ? [v] : v;
    else if (k === 'cookie') h[k] = `${had as string}; ${v}`;
    else if (Array.isArray(had)) had.push(v);
    else if (k !== 'host' && k !== 'content-length') h[k] = `${had}, ${v}`;
  }
  return h;
}

/**
 * One request and its answer on the raw data path: what routing reads
 * (RequestLike), the proxy's own answer headers (ResponseLike), and the
 * upstream exchange (UpstreamUser).
 */
export class RawExchange implements RequestLike, ResponseLike, UpstreamUser {
  readonly headers: http.IncomingHttpHeaders;
  readonly socket: net.Socket;
  readonly client: net.Socket;
  readonly head: boolean;
  requestDone = false;
  headersSent = false;
  statusCode = 0;
  /** Close the connection once this answer is out. */
  closeAfter: boolean;
  private readonly own = new Map<string, string | string[]>();
  route: ServiceRoute | null = null;
  private target: Target | null = null;
  private last: Target | null = null;
  private retried = false;
  /** Connects that timed out so far (againAfterConnectTimeout). */
  private connects = 0;
  private refused = false;
  private finished = false;
  private started = 0;
  private upstream: UpstreamConnection | null = null;
  /** Body chunks that came before the request went out (held, cold start). */
  private pending: Buffer[] | null = null;
  private readonly chunkedIn: boolean;
  private readonly withBody: boolean;
  private bodyEnded = false;
  private bodySeen = 0;
  private chunkedOut = false;
  /** The answer's body is framed by the connection's end (HTTP/1.0 client, no length). */
  private draining = false;
  private requestHead = '';
  /**
   * The answer's head, written with the first piece of its body or at the end of the
   * upstream read that parsed it: an answer whose body does not parse in that same read
   * still gets a 502 instead of a relayed head and a cut.
   */
  private pendingHead: string | null = null;
  /** The 'drain' listener waiting on the client's or the upstream's socket (backpressure), if any. */
  private clientDrain: (() => void) | null = null;
  private upstreamDrain: { socket: net.Socket; fn: () => void } | null = null;

  constructor(
    private readonly conn: RawConnection,
    readonly method: string,
    readonly url: string,
    private readonly http11: boolean,
    private readonly raw: string[],
    keepAlive: boolean,
  ) {
    this.socket = this.client = conn.socket;
    this.headers = headerMap(raw);
    this.head = method === 'HEAD';
    this.closeAfter = !keepAlive;
    const te = this.headers['transfer-encoding'];
    const len = this.headers['content-length'];
    this.chunkedIn = te !== undefined;
    this.withBody = this.chunkedIn || (len !== undefined && len !== '0');
  }

  // ---- ResponseLike: the proxy's own answer headers

  getHeader(name: string): string | string[] | undefined {
    return this.own.get(name);
  }

  setHeader(name: string, value: string | string[]): this {
    this.own.set(name, value);
    return this;
  }

  private ownHead(): string {
    let h = '';
    for (const [k, v] of this.own) {
      if (Array.isArray(v)) for (const one of v) h += `${k}: ${one}\r\n`;
      else h += `${k}: ${v}\r\n`;
    }
    return h;
  }

  // ---- the request

  /** Routes and sends the request on: host -> service, sticky key -> release -> target. */
  begin(started: number): void {
    if (this.finished) return; // the client left while the daemon was starting
    this.started = started;
    const host = this.conn.host;
    if (host.retiring) this.closeAfter = true;
    if (this.http11 && this.headers.host === undefined) {
      this.closeAfter = true; // as node's http.Server (requireHostHeader)
      return this.answer(400, 'an HTTP/1.1 request needs a Host header');
    }
    const route = host.route(this.headers.host, this.conn.internal);
    if (!route) return this.answer(404, 'no service for this host', this.headers.host);
    this.route = route;
    const len = this.headers['content-length'];
    if (len !== undefined && Number(len) > host.maxBodyBytes) {
      this.closeAfter = true;
      this.refused = true;
      return this.answer(413, `request body larger than ${host.maxBodyBytes} bytes`, route.name);
    }
    const target = host.chooseTarget(this, this, route);
    if (target) return this.forward(target);
    if (host.canColdStart && isEmpty(route)) {
      return host.waitForColdStart(
        route.name,
        () => {
          if (this.finished) return; // the client gave up while waiting
          const fresh = host.route(this.headers.host, this.conn.internal);
          const t = fresh ? host.chooseTarget(this, this, fresh) : null;
          if (!fresh || !t) return this.answer(503, 'no healthy container after the cold start');
          this.route = fresh;
          this.forward(t);
        },
        (why) => this.answer(503, why),
      );
    }
    this.answer(503, 'no healthy container', route.name);
  }

  /** The proxy answers by itself, before any target took the request (404, 413, 503). */
  private answer(status: number, message: string, service?: string): void {
    if (this.finished) return;
    this.send(status, message, service ?? this.route?.name);
    if (this.route) this.conn.host.unrouted(this.route.name).record(status, this.ms());
    this.log(false);
    this.finished = true;
    this.conn.done(this);
  }

  private ms(): number {
    return performance.now() - this.started;
  }

  private forward(target: Target): void {
    const h = this.headers;
    const remote = this.socket.remoteAddress ?? '';
    const xff = h['x-forwarded-for'];
    const id = (h['x-request-id'] as string | undefined) || randomUUID();
    this.own.set('x-request-id', id);
    let head = `${this.method} ${this.url} HTTP/1.1\r\n`;
    if (h.host !== undefined) head += `host: ${h.host}\r\n`; // one, the one routed by
    const raw = this.raw;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i].toLowerCase();
      if (HOP_BY_HOP.has(k) || OWN_REQUEST.has(k)) continue;
      head += `${raw[i]}: ${raw[i + 1]}\r\n`;
    }
    head += `x-forwarded-for: ${xff ? `${xff as string}, ${remote}` : remote}\r\n`;
    head += `x-forwarded-proto: ${(this.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'}\r\n`;
    const fwdHost = h['x-forwarded-host'] ?? h.host;
    if (fwdHost) head += `x-forwarded-host: ${fwdHost as string}\r\n`;
    head += `x-request-id: ${id}\r\n`;
    const c = h.cookie;
    if (c) {
      const kept = c.includes(DASHBOARD_COOKIE)
        ? c
            .split(';')
            .filter((part) => !part.trim().startsWith(`${DASHBOARD_COOKIE}=`))
            .join(';')
            .trim()
        : c;
      if (kept) head += `cookie: ${kept}\r\n`;
    }
    // re-chunked as it streams; other codings before chunked (gzip, ...) stay named
    if (this.chunkedIn) head += `transfer-encoding: ${h['transfer-encoding'] as string}\r\n`;
    this.requestHead = `${head}\r\n`;
    if (h.expect?.toLowerCase() === '100-continue' && !this.refused)
      this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    this.dispatch(target);
  }

  private dispatch(target: Target): void {
    this.target = target;
    this.last = target;
    target.inflight++;
    this.own.set('x-shipit-release', String(target.release));
    const up = this.conn.host.pool(target).get();
    this.upstream = up;
    up.start(this, this.requestHead);
    if (!this.withBody) return void (this.requestDone = true);
    const pending = this.pending;
    this.pending = null;
    if (pending) for (const chunk of pending) this.sendBody(chunk);
    if (this.bodyEnded) this.endBody();
  }

  /** A piece of the request body from the client's parser. */
  requestBody(chunk: Buffer): void {
    if (this.refused) return;
    this.bodySeen += chunk.length;
    if (this.bodySeen > this.conn.host.maxBodyBytes) return this.tooLarge();
    if (this.upstream) this.sendBody(chunk);
    else if (!this.finished) (this.pending ??= []).push(chunk);
  }

  requestEnd(): void {
    this.bodyEnded = true;
    if (this.upstream && this.withBody) this.endBody();
  }

  private sendBody(chunk: Buffer): void {
    const up = this.upstream as UpstreamConnection;
    const ok = this.chunkedIn
      ? (up.write(`${chunk.length.toString(16)}\r\n`), up.write(chunk), up.write('\r\n'))
      : up.write(chunk);
    if (ok || this.upstreamDrain) return;
    // Backpressure: read the client on once the upstream took what it has.
    this.socket.pause();
    const fn = () => {
      this.upstreamDrain = null;
      this.conn.bodyDrained();
    };
    this.upstreamDrain = { socket: up.socket, fn };
    up.socket.once('drain', fn);
  }

  private endBody(): void {
    if (this.chunkedIn) this.upstream?.write('0\r\n\r\n');
    this.requestDone = true;
  }

  /** A chunked body went past maxBodyBytes: 413 if nothing was answered yet, else the cut. */
  private tooLarge(): void {
    this.refused = true;
    this.pending = null;
    this.upstream?.abandon();
    this.upstream = null;
    this.release();
    if (this.finished) return;
    if (this.headersSent) return void this.socket.destroy();
    this.closeAfter = true;
    const max = this.conn.host.maxBodyBytes;
    this.send(413, `request body larger than ${max} bytes`, this.route?.name);
    this.complete();
  }

  /** The connection broke off with a parse error or a timeout (408, 400, 431): no answer from here. */
  refuse(status: number): void {
    this.refused = true;
    this.upstream?.abandon();
    this.upstream = null;
    this.release();
    if (this.finished) return;
    this.statusCode = status; // for the access log
    this.last?.stats.record(status, this.ms());
    this.finished = true;
    this.log(false);
  }

  /** The client left: the upstream exchange ends here. */
  abort(): void {
    this.upstream?.abandon();
    this.upstream = null;
    this.unwait();
    this.release();
    if (this.finished) return;
    this.finished = true;
    this.log(true);
  }

  /** The exchange is over: its backpressure listeners must not wake a later one. */
  private unwait(): void {
    if (this.clientDrain) this.socket.off('drain', this.clientDrain);
    this.clientDrain = null;
    const u = this.upstreamDrain;
    if (u) {
      u.socket.off('drain', u.fn);
      this.upstreamDrain = null;
      this.conn.bodyDrained();
    }
  }

  private release(): void {
    if (this.target) {
      this.target.inflight--;
      this.target = null;
    }
  }

  // ---- UpstreamUser: the upstream's answer

  upstreamHead(status: number, message: string, headers: string[]): void {
    if (status < 100 || status > 999) {
      this.upstream?.abandon();
      const err: NodeJS.ErrnoException = new Error(`upstream sent status ${status}`);
      err.code = 'HPE_INVALID_STATUS';
      return this.upstreamError(err);
    }
    const noBody = this.head || status === 204 || status === 304;
    let h = `HTTP/1.1 ${status} ${message || http.STATUS_CODES[status] || ''}\r\n${this.ownHead()}`;
    let length = false;
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i].toLowerCase();
      if (HOP_BY_HOP.has(k) || k === 'x-request-id' || k === 'x-shipit-release') continue;
      if (k === 'content-length') length = true;
      h += `${headers[i]}: ${headers[i + 1]}\r\n`;
    }
    if (!noBody && !length) {
      if (this.http11) {
        h += 'transfer-encoding: chunked\r\n';
        this.chunkedOut = true;
      } else this.draining = true;
    }
    if (this.draining || this.conn.host.retiring) this.closeAfter = true;
    if (this.closeAfter) h += 'connection: close\r\n';
    else if (!this.http11) h += 'connection: keep-alive\r\n';
    this.statusCode = status;
    this.pendingHead = `${h}\r\n`;
  }

  upstreamFlush(): void {
    const head = this.pendingHead;
    if (head === null) return;
    this.pendingHead = null;
    this.headersSent = true;
    this.socket.write(head, 'latin1');
  }

  upstreamBody(chunk: Buffer): void {
    const s = this.socket;
    const head = this.pendingHead;
    let ok: boolean;
    if (head !== null && !this.chunkedOut && chunk.length <= ONE_WRITE_BYTES) {
      // The head and a small body as one latin1 string (byte for byte): one write, not a writev.
      this.pendingHead = null;
      this.headersSent = true;
      ok = s.write(head + chunk.toString('latin1'), 'latin1');
    } else {
      this.upstreamFlush();
      ok = this.chunkedOut
        ? (s.write(`${chunk.length.toString(16)}\r\n`), s.write(chunk), s.write('\r\n'))
        : s.write(chunk);
    }
    const up = this.upstream;
    if (ok || !up || this.clientDrain) return;
    up.pause();
    this.clientDrain = () => {
      this.clientDrain = null;
      up.resume();
    };
    s.once('drain', this.clientDrain);
  }

  upstreamEnd(): void {
    this.upstreamFlush();
    this.upstream = null;
    this.unwait();
    if (this.chunkedOut) this.socket.write('0\r\n\r\n');
    if (!this.requestDone) this.refused = true; // answered before the whole body came: not read on
    this.complete();
  }

  upstreamError(err: NodeJS.ErrnoException): void {
    const timedOut = this.upstream?.timedOut ?? false;
    this.upstream = null;
    this.unwait();
    this.pendingHead = null; // parsed, not sent: the 502 below replaces it
    const failed = this.target;
    this.release();
    if (this.finished || this.refused) return;
    const code = err.code ?? '';
    failed?.stats.upstreamError(timedOut ? 'timeout' : errorReason(code));
    if (this.headersSent) {
      // broke off after its head was relayed: the client must see the cut
      this.finished = true;
      this.log(true);
      return void this.socket.destroy();
    }
    const route = this.route as ServiceRoute;
    if (timedOut) {
      const ms = this.conn.host.upstreamTimeoutMs;
      this.send(504, `upstream did not answer within ${ms}ms`, route.name);
      return this.complete();
    }
    if (failed && (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH')) failed.healthy = false; // passive check
    const host = this.conn.host;
    const { connectTimeoutMs: connectMs, upstreamTimeoutMs: upstreamMs } = host;
    if (
      !this.withBody &&
      againAfterConnectTimeout(err, ++this.connects, this.ms(), connectMs, upstreamMs)
    ) {
      const next = host.chooseTarget(this, this, route, failed ?? undefined) ?? failed;
      if (next?.available) return this.dispatch(next);
    }
    if (!this.retried && RETRYABLE.has(code) && !this.withBody) {
      this.retried = true;
      const next = this.conn.host.chooseTarget(this, this, route, failed ?? undefined);
      if (next) return this.dispatch(next);
    }
    this.conn.host.log.warn(
      { service: route.name, container: failed?.name, err: err.message, code },
      'upstream error',
    );
    this.send(502, `upstream error: ${code || err.message}`, route.name);
    this.complete();
  }

  /** Writes a short JSON answer of the proxy's own. */
  private send(status: number, message: string, service?: string): void {
    const body = JSON.stringify({ error: http.STATUS_CODES[status], message, service });
    if (this.conn.host.retiring) this.closeAfter = true;
    const head =
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${this.ownHead()}` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `date: ${httpDate()}\r\n${this.closeAfter ? 'connection: close\r\n' : this.http11 ? '' : 'connection: keep-alive\r\n'}\r\n`;
    this.statusCode = status;
    this.headersSent = true;
    this.socket.write(this.head ? head : head + body);
  }

  /** The answer is out: count it, log it, and let the connection go on. */
  private complete(): void {
    this.release();
    if (this.finished) return;
    this.finished = true;
    this.last?.stats.record(this.statusCode, this.ms());
    this.log(false);
    this.conn.done(this);
  }

  private log(aborted: boolean): void {
    const log = this.conn.host.accessLog;
    if (!log || !this.route) return;
    const target = this.last;
    log.write({
      service: this.route.name,
      release: target?.release,
      container: target?.name,
      method: this.method,
      url: this.url,
      status: this.statusCode,
      ms: this.ms(),
      reqId: (this.own.get('x-request-id') ?? this.headers['x-request-id']) as string | undefined,
      aborted,
    });
  }
}

/** Starts an exchange: after the routing table is filled (daemon start), at once otherwise. */
function handle(host: RawHost, x: RawExchange): void {
  const started = performance.now();
  if (host.held) return void host.held.then(() => x.begin(started));
  x.begin(started);
}
