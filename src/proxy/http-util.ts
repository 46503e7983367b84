import http from 'node:http';
import type net from 'node:net';
import { randomUUID } from 'node:crypto';
import type { ServiceRoute } from './routing-table';
import { leastInflight, type Target } from './target';

/**
 * What routing reads of a request: node's IncomingMessage, or the raw data
 * path's exchange (src/proxy/raw.ts).
 */
export interface RequestLike {
  readonly headers: http.IncomingHttpHeaders;
  readonly socket: net.Socket;
}

/** What routing writes to an answer not started yet (the proxy's cookies): a ServerResponse or a raw exchange. */
export interface ResponseLike {
  readonly headersSent: boolean;
  getHeader(name: string): number | string | string[] | undefined;
  setHeader(name: string, value: string | string[]): unknown;
}

export const STICKY_COOKIE = 'shipit-id';
export const PIN_COOKIE = 'shipit-release';
/** The dashboard's session cookie (api/ui.ts): browsers send it to every port of the host, apps must not see it. */
export const DASHBOARD_COOKIE = 'shipit_session';
export const RETRYABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ETIMEDOUT',
]);
/** Connection-level headers, not passed on by the undici data path (node and undici set their own). */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'expect',
]);

/**
 * The picked release has no available container (its last one is draining, or
 * all are unhealthy): serve from another release that takes traffic rather
 * than answer 503 while healthy containers exist.
 */
export function fallbackTarget(route: ServiceRoute, skip: number, exclude?: Target): Target | null {
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
  ERR_UNEXPECTED_UPGRADE: 'invalid_response',
};

const CONNECT_TIMEOUT = Symbol('connect timeout');

/** A new upstream connection that was not accepted in time (retryable, reason `timeout`). */
export function connectTimeoutError(ms: number): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(
    `upstream did not accept a connection within ${ms}ms`,
  );
  return markConnectTimeout(err);
}

/** err is a connect that timed out (undici's too): code ETIMEDOUT, and retried as such. */
export function markConnectTimeout(err: NodeJS.ErrnoException): NodeJS.ErrnoException {
  err.code = 'ETIMEDOUT';
  (err as { [CONNECT_TIMEOUT]?: true })[CONNECT_TIMEOUT] = true;
  return err;
}

/** Attempts a request without a body gets at connecting (connect timeouts), at most. */
export const CONNECT_ATTEMPTS = 4;

/**
 * A connect that timed out sent nothing, so beyond the one retry of SPEC §5 it is
 * tried again with a fresh connection (another container if there is one, else the
 * same), up to CONNECT_ATTEMPTS in all and within upstreamTimeoutMs of the request's
 * start: with one container left, an accept queue that overflowed for a moment
 * would otherwise cost a 502. Returns whether to try again.
 */
export function againAfterConnectTimeout(
  err: NodeJS.ErrnoException,
  attempts: number,
  elapsedMs: number,
  connectTimeoutMs: number,
  upstreamTimeoutMs: number,
): boolean {
  if (!(err as { [CONNECT_TIMEOUT]?: true })[CONNECT_TIMEOUT]) return false;
  if (attempts >= CONNECT_ATTEMPTS) return false;
  return upstreamTimeoutMs <= 0 || elapsedMs + connectTimeoutMs <= upstreamTimeoutMs;
}

/** The `reason` label of shipit_upstream_errors_total for a socket error code. */
export function errorReason(code: string | undefined): string {
  if (code?.startsWith('HPE_')) return 'invalid_response'; // the upstream's answer did not parse
  return (code && REASONS[code]) || 'other';
}

/** No release of the service has any container (scaled to zero), as opposed to none healthy. */
export function isEmpty(route: ServiceRoute): boolean {
  for (const r of route.releases.values()) if (r.targets.length) return false;
  return true;
}

export function setForwardHeaders(req: http.IncomingMessage): void {
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

export function hasBody(req: RequestLike): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export function cookie(req: RequestLike, name: string): string | null {
  const c = req.headers.cookie;
  if (!c) return null;
  const at = c.indexOf(`${name}=`);
  if (at < 0 || (at > 0 && c[at - 1] !== ' ' && c[at - 1] !== ';')) return null;
  const end = c.indexOf(';', at);
  return c.slice(at + name.length + 1, end < 0 ? undefined : end).trim();
}

export function isAcceptance(req: RequestLike, header: string, cookieName: string): boolean {
  return req.headers[header.toLowerCase()] === 'next' || cookie(req, cookieName) === 'next';
}

export function stickyKey(req: RequestLike, res: ResponseLike, route: ServiceRoute): string {
  if (route.sticky.mode === 'ip') return req.socket.remoteAddress ?? '';
  if (route.sticky.mode === 'header') {
    const v = req.headers[(route.sticky.header ?? '').toLowerCase()];
    if (typeof v === 'string' && v) return v;
  }
  const existing = cookie(req, STICKY_COOKIE);
  if (existing) return existing;
  const id = randomUUID();
  addCookie(res, `${STICKY_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`);
  return id;
}

export function send(
  res: http.ServerResponse,
  status: number,
  message: string,
  service?: string,
): void {
  const body = JSON.stringify({ error: http.STATUS_CODES[status], message, service });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** The Set-Cookie values the proxy already put on this response (sticky key, pinned release). */
export function ownCookies(res: ResponseLike): string[] {
  const own = res.getHeader('set-cookie');
  return own === undefined ? [] : Array.isArray(own) ? own : [String(own)];
}

/** Sets one of the proxy's own cookies (again, on a retry) without dropping the other. */
export function addCookie(res: ResponseLike, value: string): void {
  const name = value.slice(0, value.indexOf('=') + 1);
  res.setHeader('set-cookie', [...ownCookies(res).filter((c) => !c.startsWith(name)), value]);
}

/** The app's Set-Cookie values after the proxy's own. */
export function withOwnCookies(res: ResponseLike, app: string | string[]): string[] {
  return [...ownCookies(res), ...(Array.isArray(app) ? app : [app])];
}
