// Throttles authentication failures per client: after `maxFailures` wrong credentials within
// `windowMs`, the client is refused (429) for a cool-down that doubles with each lock-out,
// without its credentials even being compared. Pure apart from the injected clock.

import type http from 'node:http';

export interface RateLimitOptions {
  /** Failures within `windowMs` that lock a client out (default 10). */
  maxFailures?: number;
  windowMs?: number;
  /** First lock-out; each further one doubles it, up to `maxCooldownMs`. */
  cooldownMs?: number;
  maxCooldownMs?: number;
  /** A client with no failure for this long starts again from the first cool-down. */
  forgetMs?: number;
  /** Clients remembered at most (the least recently failing are forgotten first). */
  maxClients?: number;
  now?: () => number;
}

export type Verdict =
  | { allowed: true }
  /** `refusals`: how many requests this lock-out has refused so far, this one included. */
  | { allowed: false; retryAfterMs: number; refusals: number };

interface Client {
  /** Times of recent failures, oldest first. */
  failures: number[];
  blockedUntil: number;
  /** Lock-outs so far: the next one lasts cooldownMs * 2^strikes. */
  strikes: number;
  lastFailure: number;
  refusals: number;
}

export class AuthRateLimiter {
  private readonly clients = new Map<string, Client>();
  private readonly o: Required<RateLimitOptions>;

  constructor(opts: RateLimitOptions = {}) {
    this.o = {
      maxFailures: 10,
      windowMs: 60_000,
      cooldownMs: 60_000,
      maxCooldownMs: 60 * 60_000,
      forgetMs: 24 * 60 * 60_000,
      maxClients: 10_000,
      now: Date.now,
      ...opts,
    };
  }

  /** Whether `key` may try to authenticate now; call before comparing anything. */
  check(key: string): Verdict {
    const c = this.clients.get(key);
    const now = this.o.now();
    if (!c || c.blockedUntil <= now) return { allowed: true };
    c.refusals++;
    return { allowed: false, retryAfterMs: c.blockedUntil - now, refusals: c.refusals };
  }

  /** Records a wrong credential from `key`; the one that reaches the limit starts a lock-out. */
  fail(key: string): void {
    const now = this.o.now();
    let c = this.clients.get(key);
    if (c && c.blockedUntil > now) return; // already locked out: nothing more to count
    if (c && now - c.lastFailure >= this.o.forgetMs) c = undefined;
    c ??= { failures: [], blockedUntil: 0, strikes: 0, lastFailure: now, refusals: 0 };
    // Re-inserted so the map's order is least recently failing first.
    this.clients.delete(key);
    this.clients.set(key, c);
    c.lastFailure = now;
    c.failures = c.failures.filter((t) => now - t < this.o.windowMs);
    c.failures.push(now);
    if (c.failures.length >= this.o.maxFailures) {
      const cooldown = Math.min(this.o.cooldownMs * 2 ** c.strikes, this.o.maxCooldownMs);
      c.blockedUntil = now + cooldown;
      c.strikes++;
      c.failures = [];
      c.refusals = 0;
    }
    if (this.clients.size > this.o.maxClients) this.evict(now);
  }

  /** Clients currently remembered (for tests and metrics). */
  get size(): number {
    return this.clients.size;
  }

  private evict(now: number): void {
    for (const [k, c] of this.clients)
      if (c.blockedUntil <= now && now - c.lastFailure >= this.o.windowMs) this.clients.delete(k);
    for (const k of this.clients.keys()) {
      if (this.clients.size <= this.o.maxClients) break;
      this.clients.delete(k);
    }
  }
}

/** The client's address as the audit log shows it: the remote IP over TCP, "unix" on the socket. */
export function clientAddress(req: http.IncomingMessage): string {
  const a = req.socket.remoteAddress;
  if (!a) return 'unix';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/**
 * The rate limiter's key for an address: IPv4 as is, IPv6 by its /64 (one host usually owns a
 * whole /64, so counting single addresses would let it rotate through them).
 */
export function limiterKey(address: string): string {
  if (!address.includes(':')) return address;
  const [head, tail = ''] = address.split('%')[0].split('::');
  const left = head ? head.split(':') : [];
  const right = address.includes('::') && tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}
