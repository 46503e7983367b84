import type http from 'node:http';
import { AuthRateLimiter, clientAddress, limiterKey } from './rate-limit';

function limiter(over: ConstructorParameters<typeof AuthRateLimiter>[0] = {}) {
  const clock = { t: 1_000_000 };
  const l = new AuthRateLimiter({ now: () => clock.t, ...over });
  return { l, clock };
}

const failN = (l: AuthRateLimiter, key: string, n: number) => {
  for (let i = 0; i < n; i++) l.fail(key);
};

describe('AuthRateLimiter', () => {
  it('lets 9 failures a minute through; the 10th locks the client out for a minute', () => {
    const { l, clock } = limiter();
    failN(l, 'a', 9);
    expect(l.check('a')).toEqual({ allowed: true });
    l.fail('a');
    expect(l.check('a')).toEqual({ allowed: false, retryAfterMs: 60_000, refusals: 1 });
    clock.t += 59_999;
    expect(l.check('a')).toEqual({ allowed: false, retryAfterMs: 1, refusals: 2 });
    clock.t += 1;
    expect(l.check('a')).toEqual({ allowed: true });
  });

  it('counts failures in a sliding window: ones older than a minute are dropped', () => {
    const { l, clock } = limiter();
    failN(l, 'a', 9);
    clock.t += 60_000;
    failN(l, 'a', 9);
    expect(l.check('a').allowed).toBe(true);
    clock.t += 30_000;
    l.fail('a'); // 10 within the last minute
    expect(l.check('a').allowed).toBe(false);
  });

  it('doubles the cool-down with each lock-out, up to the maximum', () => {
    const { l, clock } = limiter({ maxCooldownMs: 5 * 60_000 });
    const lockouts: number[] = [];
    for (let i = 0; i < 5; i++) {
      failN(l, 'a', 10);
      const v = l.check('a');
      if (v.allowed) throw new Error('not locked out');
      lockouts.push(v.retryAfterMs / 60_000);
      clock.t += v.retryAfterMs;
    }
    expect(lockouts).toEqual([1, 2, 4, 5, 5]);
  });

  it('forgets past lock-outs after a quiet day', () => {
    const { l, clock } = limiter();
    failN(l, 'a', 10);
    clock.t += 60_000;
    failN(l, 'a', 10);
    expect(l.check('a')).toMatchObject({ retryAfterMs: 120_000 });
    clock.t += 24 * 3600_000;
    failN(l, 'a', 10);
    expect(l.check('a')).toMatchObject({ retryAfterMs: 60_000 });
  });

  it('failures while locked out neither extend it nor count towards the next one', () => {
    const { l, clock } = limiter({ maxFailures: 2 });
    failN(l, 'a', 2);
    expect(l.check('a')).toMatchObject({ refusals: 1 });
    failN(l, 'a', 5);
    expect(l.check('a')).toMatchObject({ refusals: 2, retryAfterMs: 60_000 });
    clock.t += 60_000;
    l.fail('a');
    expect(l.check('a')).toEqual({ allowed: true });
  });

  it('keeps clients apart', () => {
    const { l } = limiter();
    failN(l, 'a', 10);
    expect(l.check('a').allowed).toBe(false);
    expect(l.check('b').allowed).toBe(true);
    failN(l, 'b', 9);
    expect(l.check('b').allowed).toBe(true);
  });

  it('remembers a bounded number of clients, forgetting idle ones first, then the oldest', () => {
    const { l, clock } = limiter({ maxClients: 3, maxFailures: 2 });
    failN(l, 'idle', 2); // one lock-out: its next would last 2 minutes
    failN(l, 'old', 1);
    clock.t += 120_000;
    failN(l, 'x', 1);
    failN(l, 'y', 1); // 4 clients: 'idle' and 'old' are idle, both go
    expect(l.size).toBe(2);
    failN(l, 'idle', 2);
    expect(l.check('idle')).toMatchObject({ retryAfterMs: 60_000 }); // its past was forgotten
    failN(l, 'z', 1); // 4 clients, none idle: the least recently failing ('x') goes
    expect(l.size).toBe(3);
    failN(l, 'y', 1);
    expect(l.check('y').allowed).toBe(false); // 'y' kept its first failure
    failN(l, 'x', 1);
    expect(l.check('x').allowed).toBe(true); // 'x' had lost its first one
  });
});

describe('clientAddress and limiterKey', () => {
  const req = (remoteAddress?: string) =>
    ({ socket: { remoteAddress } }) as unknown as http.IncomingMessage;

  it('names unix-socket clients "unix" and unwraps IPv4-mapped IPv6', () => {
    expect(clientAddress(req(undefined))).toBe('unix');
    expect(clientAddress(req('::ffff:10.0.0.7'))).toBe('10.0.0.7');
    expect(clientAddress(req('127.0.0.1'))).toBe('127.0.0.1');
    expect(clientAddress(req('2001:db8::1'))).toBe('2001:db8::1');
  });

  it('keys IPv4 by address and IPv6 by its /64', () => {
    expect(limiterKey('unix')).toBe('unix');
    expect(limiterKey('203.0.113.9')).toBe('203.0.113.9');
    expect(limiterKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(limiterKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(limiterKey('2001:0db8:0001:0002::')).toBe('2001:db8:1:2::/64');
    expect(limiterKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(limiterKey('::1')).toBe('0:0:0:0::/64');
    expect(limiterKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});
