import http from 'node:http';
import fs from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import { ShipitError, configError, isShipitError, notFound, unauthorized } from '../domain/errors';
import { checkBearer } from './auth';
import { RequestAudit, isMutating } from './audit';
import { AuthRateLimiter, clientAddress, limiterKey, type RateLimitOptions } from './rate-limit';
import { errorLine, json, toShipitError } from './respond';
import { matchRoute, type ControlPlane } from './routes';
import { Dashboard, refuseCsrf } from './ui';
import { listenOnInherited } from '../handover';

export type { ControlPlane } from './routes';

export interface ApiListen {
  socketPath?: string;
  host?: string;
  port?: number;
}

export interface ApiOptions {
  /** Auth-failure throttling (default: 10 failures a minute lock a client out for a minute, then 2, 4...). */
  rateLimit?: RateLimitOptions;
}

/** Audit names of the dashboard's own POSTs (they are not in the route table: no token needed). */
const UI_ACTIONS = new Map([
  ['/ui/login', 'login'],
  ['/ui/logout', 'logout'],
]);

export class ApiServer {
  readonly server: http.Server;
  readonly ui: Dashboard;
  readonly limiter: AuthRateLimiter;
  private token: string;
  private socket: { path: string; bound: string; ino: number } | null = null;
  private tcpKey: string | null = null;

  constructor(
    private readonly plane: ControlPlane,
    token: string,
    private readonly log: Logger,
    opts: ApiOptions = {},
  ) {
    this.token = requireToken(token);
    this.limiter = new AuthRateLimiter(opts.rateLimit);
    this.ui = new Dashboard(token, undefined, undefined, this.limiter);
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  /**
   * Binds the API. For a daemon upgrade (`handover`): a TCP listener takes
   * the predecessor's socket (`inherited`); a unix socket is bound under a
   * staging name and moved over the real one by publish(), so the path always
   * answers, first the old daemon, then the new.
   */
  async listen(l: ApiListen, handover?: { inherited?: net.Server }): Promise<void> {
    let bindPath = l.socketPath;
    if (l.socketPath) {
      if (handover) bindPath = `${l.socketPath}.${process.pid}`;
      // A socket file left by a daemon that was killed: nobody answers on it.
      if (fs.existsSync(bindPath as string)) fs.unlinkSync(bindPath as string);
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      const done = () => {
        this.server.off('error', reject);
        resolve();
      };
      if (bindPath) this.server.listen(bindPath, done);
      else if (handover?.inherited)
        listenOnInherited(this.server, handover.inherited).then(done, reject);
      else this.server.listen(l.port ?? 7070, l.host ?? '127.0.0.1', done);
    });
    if (bindPath) {
      fs.chmodSync(bindPath, 0o600);
      this.socket = {
        path: l.socketPath as string,
        bound: bindPath,
        ino: fs.statSync(bindPath).ino,
      };
    } else this.tcpKey = `api:${l.host ?? '127.0.0.1'}:${l.port ?? 7070}`;
  }

  /** Daemon upgrade, new side: the staged unix socket takes the real name (an atomic rename). */
  publish(): void {
    if (this.socket && this.socket.bound !== this.socket.path)
      fs.renameSync(this.socket.bound, this.socket.path);
  }

  /** The TCP listener, by key, for a daemon upgrade to hand over (a unix socket is re-bound instead). */
  listeners(): [string, net.Server][] {
    return this.tcpKey ? [[this.tcpKey, this.server]] : [];
  }

  /**
   * Daemon upgrade, old side, once the successor serves: stop accepting. A
   * TCP socket is closed here (the successor holds its own copy); a unix
   * socket is left alone, since closing it would unlink the path, which is
   * the successor's socket now; the handle is only unref'd.
   */
  stopAccepting(): void {
    if (this.tcpKey) net.Server.prototype.close.call(this.server);
    this.server.unref();
  }

  address(): string | net.AddressInfo | null {
    return this.server.address();
  }

  close(): Promise<void> {
    return new Promise<void>((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    }).then(() => {
      // Bound under a staging name, the real path is not unlinked by close: unless it is another's now.
      const s = this.socket;
      if (!s || s.bound === s.path) return;
      try {
        if (fs.statSync(s.path).ino === s.ino) fs.unlinkSync(s.path);
      } catch {
        /* gone already */
      }
    });
  }

  /** Swaps the token in memory: the old one is refused from now on and dashboard sessions end. */
  setToken(token: string): void {
    this.token = requireToken(token);
    this.ui.rotate(token);
  }

  /** Answers one request, then (for a mutating one) writes its audit row. */
  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const address = clientAddress(req);
    let audit: RequestAudit | null = null;
    try {
      const url = new URL(req.url ?? '/', 'http://shipit');
      if (isMutating(req.method)) audit = auditOf(req.method ?? '', url.pathname, address);
      await this.route(req, res, url, address, audit);
    } catch (err) {
      this.fail(res, err, audit);
    }
    if (!audit?.record) return;
    try {
      this.plane.audit(audit.toRecord(res.statusCode));
    } catch (err) {
      this.log.error({ err, action: audit.action, path: audit.path }, 'audit log write failed');
    }
  }

  private async route(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    address: string,
    audit: RequestAudit | null,
  ): Promise<void> {
    const p = url.pathname;
    if (req.method === 'GET' && p === '/healthz')
      return json(res, 200, { ok: true, pid: process.pid });
    // The dashboard's static files are public; its login and logout are not.
    if (this.ui.owns(p) && req.method !== 'POST') return this.ui.handle(req, res, p);
    const key = limiterKey(address);
    const verdict = this.limiter.check(key);
    if (!verdict.allowed) {
      // One row per lock-out: a client hammering away must not flush the audit log.
      if (audit && verdict.refusals > 1) audit.record = false;
      const secs = Math.ceil(verdict.retryAfterMs / 1000);
      res.setHeader('retry-after', String(secs));
      throw new ShipitError(
        'rate-limited',
        `too many failed authentication attempts from ${address}: try again in ${secs}s`,
        'check the token the client sends (.shipit/token, or SHIPIT_TOKEN)',
      );
    }
    if (this.ui.owns(p)) {
      if (audit) audit.who = 'dashboard';
      return this.ui.handle(req, res, p);
    }
    const header = req.headers.authorization;
    const auth = this.ui.authenticate(req, checkBearer(header, this.token));
    if (auth === 'csrf') {
      if (audit) audit.who = 'dashboard';
      return refuseCsrf(res);
    }
    if (auth === 'none') {
      // A wrong credential is a guess; no credential at all (a fresh browser tab) is not.
      if (header !== undefined) this.limiter.fail(key);
      this.log.warn({ path: p, remote: address }, 'unauthorised API call');
      throw unauthorized(
        'missing or wrong API token',
        'the CLI reads it from .shipit/token (or SHIPIT_TOKEN)',
      );
    }
    if (audit) audit.who = auth === 'bearer' ? 'token' : 'dashboard';
    const found = matchRoute(req.method, p);
    if (!found) throw notFound(`no route ${req.method} ${p}`);
    await found.route.handle({
      req,
      res,
      url,
      params: found.params,
      plane: this.plane,
      audit,
      rotateToken: () => this.rotateToken(),
    });
  }

  private rotateToken(): { token: string; file: string } {
    const r = this.plane.rotateToken();
    this.setToken(r.token);
    this.log.info({ file: r.file }, 'API token rotated');
    return r;
  }

  private fail(res: http.ServerResponse, err: unknown, audit: RequestAudit | null): void {
    const e = toShipitError(err);
    if (!isShipitError(err)) this.log.error({ err }, 'API handler failed');
    audit?.failedWith(e, e.httpStatus);
    if (res.headersSent) {
      if (!res.writableEnded) res.end(errorLine(e));
      return;
    }
    json(res, e.httpStatus, e.toJSON());
  }
}

function auditOf(method: string, path: string, address: string): RequestAudit {
  const found = matchRoute(method, path);
  const action = found?.route.action ?? UI_ACTIONS.get(path) ?? null;
  const target = found?.params.service ?? found?.params.name ?? null;
  return new RequestAudit(method, path, address, action, target);
}

/** An empty token would let anyone in (over TCP: anyone on the network), so none is accepted. */
function requireToken(token: string): string {
  if (!token || !token.trim())
    throw configError(
      'the control API needs a non-empty token',
      'delete the empty token file; shipit up writes a new one',
    );
  return token;
}
