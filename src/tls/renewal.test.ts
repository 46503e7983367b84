import { renewalDue, retryDelay, FIRST_RETRY_MS, MAX_RETRY_MS } from './renewal';

const DAY = 86_400_000;

describe('renewalDue', () => {
  const now = Date.UTC(2026, 0, 1);
  const held = (daysLeft: number, hosts = ['app.example.com']) => ({
    notAfter: now + daysLeft * DAY,
    hosts,
  });

  it('obtains a certificate that is missing', () => {
    expect(renewalDue('app.example.com', undefined, now, 30 * DAY)).toBe('missing');
  });

  it('renews once the certificate expires within renewBefore, not earlier', () => {
    expect(renewalDue('app.example.com', held(31), now, 30 * DAY)).toBeNull();
    expect(renewalDue('app.example.com', held(30), now, 30 * DAY)).toBe('expiring');
    expect(renewalDue('app.example.com', held(2), now, 30 * DAY)).toBe('expiring');
    expect(renewalDue('app.example.com', held(-1), now, 30 * DAY)).toBe('expiring');
  });

  it('renews a stored certificate that does not cover the host', () => {
    expect(renewalDue('app.example.com', held(60, ['other.example.com']), now, 30 * DAY)).toBe(
      'hosts-changed',
    );
  });

  it('renews at every check when renewBefore is longer than the validity', () => {
    expect(renewalDue('app.example.com', held(90), now, 100 * DAY)).toBe('expiring');
  });
});

describe('retryDelay', () => {
  it('is 0 without failures, then doubles from 5 s', () => {
    expect(retryDelay(0)).toBe(0);
    expect([1, 2, 3, 4].map((n) => retryDelay(n))).toEqual([5000, 10_000, 20_000, 40_000]);
    expect(retryDelay(1)).toBe(FIRST_RETRY_MS);
  });

  it('never exceeds the cap, even after very many failures', () => {
    expect(retryDelay(100)).toBe(MAX_RETRY_MS);
    expect(retryDelay(5, 30_000)).toBe(30_000);
    expect(retryDelay(3, Infinity, 100)).toBe(400);
  });
});
