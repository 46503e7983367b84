import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { usageError } from '../domain/errors';
import { tokenMatches } from './auth';
import { AuthRateLimiter, clientAddress, limiterKey } from './rate-limit';

/** The dashboard's static files: `ui/` at the package root, from src/api (ts-jest) and dist/api alike. */
export const UI_DIR = path.join(__dirname, '..', '..', 'ui');

export const SESSION_COOKIE = 'shipit_session';
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** Cookie-authenticated POSTs must carry it: a cross-site form cannot set a custom header. */
export const CSRF_HEADER = 'x-shipit-ui';

const MAX_LOGIN_BODY = 4096;
const MAX_SESSIONS = 1000;

// A fixed allow-list: the URL never reaches the file system, so no traversal is possible.
const ASSETS: Record<string, { file: string; type: string }> = {
  '/ui': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/ui/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** In-memory login sessions: random ids, kept by their hash, each valid for a fixed time. */
export class SessionStore {
  private readonly sessions = new Map<string, number>();

  constructor(
    private readonly ttlMs = SESSION_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  create(): string {
    this.prune();
    if (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(digest(id), this.now() + this.ttlMs);
    return id;
  }

  valid(id: string | undefined): boolean {
    if (!id) return false;
    const key = digest(id);
    const until = this.sessions.get(key);
    if (until === undefined) return false;
    if (until <= this.now()) {
      this.sessions.delete(key);
      return false;
    }
    return true;
  }

  destroy(id: string | undefined): void {
    if (id) this.sessions.delete(digest(id));
  }

  /** Ends every session (the token they were opened with is no longer valid). */
  clear(): void {
    this.sessions.clear();
  }

  get size(): number {
    return this.sessions.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [k, until] of this.sessions) if (until <= now) this.sessions.delete(k);
  }
}

function digest(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    const name = part.slice(0, Math.max(eq, 0)).trim();
    if (name && !Object.hasOwn(out, name)) out[name] = part.slice(eq + 1).trim();
  }
  return out;
}

/** How a request proved who it is; `csrf` = a valid session cookie on a POST without the UI header. */
export type Authentication = 'bearer' | 'session' | 'csrf' | 'none';

/**
 * The dashboard's routes under /ui and the session half of API authentication. The ApiServer
 * asks `limiter` before a login is tried; a wrong token is counted here, in the same limiter.
 */
export class Dashboard {
  constructor(
    private token: string,
    readonly sessions = new SessionStore(),
    private readonly dir = UI_DIR,
    private readonly limiter = new AuthRateLimiter(),
  ) {}

  /** A new token: logins need it from now on, and every open session ends. */
  rotate(token: string): void {
    this.token = token;
    this.sessions.clear();
  }

  owns(pathname: string): boolean {
    return pathname === '/ui' || pathname.startsWith('/ui/');
  }

  authenticate(req: http.IncomingMessage, bearerOk: boolean): Authentication {
    if (bearerOk) return 'bearer';
    if (!this.sessions.valid(parseCookies(req.headers.cookie)[SESSION_COOKIE])) return 'none';
    const safe = req.method === 'GET' || req.method === 'HEAD';
    return safe || req.headers[CSRF_HEADER] === '1' ? 'session' : 'csrf';
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse, p: string): Promise<void> {
    if (req.method === 'POST' && p === '/ui/login') return this.login(req, res);
    if (req.method === 'POST' && p === '/ui/logout') return this.logout(req, res);
    const asset = ASSETS[p];
    if (!asset || (req.method !== 'GET' && req.method !== 'HEAD'))
      return send(res, 404, { error: `no dashboard file ${p}`, code: 'not-found' });
    const body = await fs.promises.readFile(path.join(this.dir, asset.file));
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': asset.type,
      'content-length': body.length,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private async login(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const given = tokenFromBody(await readSmall(req), req.headers['content-type']);
    if (!given || !tokenMatches(given, this.token)) {
      // Only a presented token is a guess; an empty form is not counted.
      if (given) this.limiter.fail(limiterKey(clientAddress(req)));
      return send(res, 401, {
        error: 'wrong token',
        code: 'unauthorized',
        hint: 'paste the contents of .shipit/token',
      });
    }
    const id = this.sessions.create();
    const maxAge = Math.floor(SESSION_TTL_MS / 1000);
    send(res, 200, { ok: true }, [
      `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}`,
    ]);
  }

  private logout(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    if (req.headers[CSRF_HEADER] !== '1') return refuseCsrf(res);
    this.sessions.destroy(parseCookies(req.headers.cookie)[SESSION_COOKIE]);
    send(res, 200, { ok: true }, [
      `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`,
    ]);
  }
}

export function refuseCsrf(res: http.ServerResponse): void {
  send(res, 403, {
    error: `a request authenticated by the dashboard cookie must carry the header "X-Shipit-UI: 1"`,
    code: 'forbidden',
  });
}

function tokenFromBody(text: string, type: string | undefined): string | null {
  if (/^application\/x-www-form-urlencoded/i.test(type ?? ''))
    return new URLSearchParams(text).get('token')?.trim() || null;
  try {
    const t = (JSON.parse(text) as { token?: unknown }).token;
    return typeof t === 'string' ? t.trim() : null;
  } catch {
    return null;
  }
}

function readSmall(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      text += c;
      if (text.length > MAX_LOGIN_BODY) {
        req.destroy();
        reject(usageError(`login body larger than ${MAX_LOGIN_BODY} bytes`));
      }
    });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, body: unknown, cookies?: string[]): void {
  const s = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(s),
    ...(cookies ? { 'set-cookie': cookies } : {}),
  });
  res.end(s);
}
