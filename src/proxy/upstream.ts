import net from 'node:net';
import { createParser, type Parser, type ParserEvents } from './llhttp';
import { connectTimeoutError } from './http-util';

/** The raw data path's side of one exchange with an upstream: its answer, as it is parsed. */
export interface UpstreamUser {
  /** The client's socket: corked while one upstream read is parsed (one write per read). */
  readonly client: net.Socket;
  /** A HEAD request: its answer has no body whatever its headers say. */
  readonly head: boolean;
  /** The whole request (body included) went out: only then may the connection carry another. */
  readonly requestDone: boolean;
  upstreamHead(status: number, message: string, headers: string[], keepAlive: boolean): void;
  upstreamBody(chunk: Buffer): void;
  /** The end of one read from the upstream: what its parse produced may go out now. */
  upstreamFlush(): void;
  upstreamEnd(): void;
  upstreamError(err: NodeJS.ErrnoException): void;
}

/**
 * One keep-alive connection to an upstream, parsed with node's llhttp. One
 * exchange at a time (no pipelining); back to its pool once an answer ended
 * whole on a connection the upstream keeps open.
 */
export class UpstreamConnection implements ParserEvents {
  readonly socket: net.Socket;
  private readonly parser: Parser;
  private user: UpstreamUser | null = null;
  /** The upstream said it keeps the connection open after this answer. */
  private keepAlive = false;
  /** The current answer is informational (1xx): the real one follows. */
  private interim = false;
  /** The socket is connected (a failure before that is a failed connect). */
  connected = false;
  /** Set when the exchange timed out (upstreamTimeout without a byte either way). */
  timedOut = false;
  private closed = false;
  /** The answer is unusable (found during a parse): the exchange fails once the parse returns. */
  private broken: NodeJS.ErrnoException | null = null;

  constructor(private readonly pool: UpstreamPool) {
    this.parser = createParser('response', 0, this);
    const s = net.connect({ host: pool.host, port: pool.port, noDelay: true });
    this.socket = s;
    const ms = pool.opts.connectTimeoutMs;
    const connecting =
      ms > 0 ? setTimeout(() => this.fail(connectTimeoutError(ms)), ms) : undefined;
    s.once('connect', () => {
      clearTimeout(connecting);
      this.connected = true;
    });
    s.once('close', () => clearTimeout(connecting));
    s.on('data', (d: Buffer) => this.data(d));
    s.on('end', () => this.ended());
    s.on('error', (err) => this.fail(err));
    s.on('close', () => this.fail(null));
    s.on('timeout', () => this.idleOut());
  }

  /** Sends a request head (and whatever body follows through write()); the answer goes to user. */
  start(user: UpstreamUser, head: string): void {
    this.user = user;
    this.socket.resume(); // a previous exchange may have paused it (backpressure)
    this.timedOut = false;
    this.socket.setTimeout(this.pool.opts.timeoutMs);
    this.socket.write(head, 'latin1');
  }

  write(chunk: Buffer | string): boolean {
    return this.socket.write(chunk);
  }

  /** The exchange is given up (client gone, proxy answered): the connection cannot be reused. */
  abandon(): void {
    this.user = null;
    this.socket.destroy();
  }

  private data(d: Buffer): void {
    const user = this.user;
    const client = user?.client;
    client?.cork();
    const r = this.parser.execute(d);
    if (typeof r !== 'number') this.fail(r);
    else if (this.broken) this.fail(this.broken);
    else user?.upstreamFlush();
    client?.uncork();
  }

  private ended(): void {
    // An answer framed by the end of the connection is complete now.
    if (this.user) {
      const r = this.parser.finish();
      // ended before its answer did: a reset, as node's client says it
      if (r !== undefined && typeof r !== 'number') return this.fail(null);
    }
    this.socket.destroy();
  }

  private idleOut(): void {
    if (this.user) this.timedOut = true;
    const err: NodeJS.ErrnoException = new Error('upstream timeout');
    err.code = 'ETIMEDOUT';
    this.fail(err);
  }

  private fail(err: (Error & { code?: string }) | null): void {
    if (!this.closed) {
      this.closed = true;
      this.pool.forget(this);
      this.socket.destroy();
      this.parser.close();
    }
    const user = this.user;
    if (!user) return;
    this.user = null;
    const e: NodeJS.ErrnoException = err ?? new Error('socket hang up');
    if (!err) e.code = 'ECONNRESET';
    user.upstreamError(e);
  }

  // ---- parser events

  messageBegin(): void {}

  headersComplete(
    _major: number,
    _minor: number,
    headers: string[],
    _method: number | undefined,
    _url: string,
    status: number | undefined,
    message: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    const user = this.user;
    if (!user) return 0;
    const code = status ?? 0;
    if (upgrade || code === 101) {
      const err: NodeJS.ErrnoException = new Error('upstream switched protocols unasked');
      err.code = 'ERR_UNEXPECTED_UPGRADE';
      this.broken = err;
      return 1;
    }
    this.interim = code >= 100 && code < 200;
    if (this.interim) return 0; // informational: not relayed, the real answer follows
    this.keepAlive = keepAlive;
    user.upstreamHead(code, message ?? '', headers, keepAlive);
    return user.head ? 1 : 0;
  }

  body(chunk: Buffer): void {
    const user = this.user;
    if (!user || this.broken) return;
    user.upstreamBody(chunk);
  }

  messageComplete(): void {
    if (this.broken) return;
    if (this.interim) return void (this.interim = false);
    const user = this.user;
    if (!user) return;
    this.user = null;
    if (this.keepAlive && !this.closed && user.requestDone) this.pool.put(this);
    else this.socket.destroy(); // 'close' then forgets it and frees the parser (not from inside its parse)
    user.upstreamEnd();
  }

  /** Back in the pool: closed after idleMs unused. */
  idle(idleMs: number): void {
    this.socket.resume(); // paused by a reader that was slow: an idle socket must see the upstream's FIN
    this.socket.setTimeout(idleMs);
  }

  /** Backpressure from the client: stop reading the answer until it drained. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }
}

export interface UpstreamPoolOptions {
  /** An exchange with no byte either way for this long fails (ETIMEDOUT, timedOut set). */
  timeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  idleMs: number;
  /** A new connection not accepted within this fails with ETIMEDOUT (timedOut not set: retryable); 0: never. */
  connectTimeoutMs: number;
}

/** Keep-alive connections to one upstream (host:port), newest idle one first. */
export class UpstreamPool {
  private readonly idle: UpstreamConnection[] = [];
  /** When the pool last handed out a connection (performance.now()). */
  lastUsed = 0;
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly opts: UpstreamPoolOptions,
  ) {}

  /** An idle connection, or a new one (connecting). */
  get(): UpstreamConnection {
    this.lastUsed = performance.now();
    return this.idle.pop() ?? new UpstreamConnection(this);
  }

  /** @internal a connection whose answer ended and which stays open. */
  put(c: UpstreamConnection): void {
    if (this.closed) return void c.abandon();
    c.idle(this.opts.idleMs);
    this.idle.push(c);
  }

  /** @internal a connection that closed. */
  forget(c: UpstreamConnection): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /** Closes the idle connections; those in use close when their answer ends. */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.abandon();
  }
}
