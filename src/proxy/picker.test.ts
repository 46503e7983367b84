import { randomUUID } from 'node:crypto';
import { BUCKETS, bucketOf, pickRelease, splitOf } from './picker';

/** Deterministic pseudo-random keys (so a failure is reproducible). */
function keys(n: number, seed = 1): string[] {
  let s = seed >>> 0;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out.push(`${s.toString(36)}-${i}`);
  }
  return out;
}

describe('bucketOf', () => {
  it('is FNV-1a 32-bit modulo BUCKETS (published FNV-1a vectors)', () => {
    // FNV-1a("") = 0x811c9dc5, ("a") = 0xe40c292c, ("foobar") = 0xbf9cf968
    expect(bucketOf('')).toBe(0x811c9dc5 % BUCKETS);
    expect(bucketOf('a')).toBe(0xe40c292c % BUCKETS);
    expect(bucketOf('foobar')).toBe(0xbf9cf968 % BUCKETS);
  });

  it('gives pinned values for fixed keys (stable across versions and processes)', () => {
    expect(bucketOf('')).toBe(6261);
    expect(bucketOf('a')).toBe(2220);
    expect(bucketOf('foobar')).toBe(5720);
    expect(bucketOf('user-1')).toBe(8500);
    expect(bucketOf('user-42')).toBe(5499);
    expect(bucketOf('shipit')).toBe(5106);
    expect(bucketOf('203.0.113.7')).toBe(6736);
  });

  it('is deterministic and always within [0, BUCKETS)', () => {
    const bad = keys(2000).filter((k) => {
      const b = bucketOf(k);
      return !Number.isInteger(b) || b < 0 || b >= BUCKETS || bucketOf(k) !== b;
    });
    expect(bad).toEqual([]);
  });
});

describe('splitOf', () => {
  it('gives the newest release the lowest buckets, older ones after it in descending order', () => {
    const s = splitOf([
      { number: 1, weight: 70 },
      { number: 3, weight: 10 },
      { number: 2, weight: 20 },
    ]);
    expect(s.ranges).toEqual([
      { number: 3, upTo: 1000 },
      { number: 2, upTo: 3000 },
      { number: 1, upTo: BUCKETS },
    ]);
    expect(s.only).toBeNull();
    expect(s.newest).toBe(3);
  });

  it('normalises weights that do not add up to 100', () => {
    const s = splitOf([
      { number: 1, weight: 1 },
      { number: 2, weight: 3 },
    ]);
    expect(s.ranges).toEqual([
      { number: 2, upTo: 7500 },
      { number: 1, upTo: BUCKETS },
    ]);
  });

  it('leaves weight-0 releases out of the ranges but counts them for newest', () => {
    const s = splitOf([
      { number: 4, weight: 100 },
      { number: 5, weight: 0 },
    ]);
    expect(s.ranges).toEqual([{ number: 4, upTo: BUCKETS }]);
    expect(s.only).toBe(4);
    expect(s.newest).toBe(5);
  });

  it('sets `only` for a single live release', () => {
    const s = splitOf([{ number: 7, weight: 100 }]);
    expect(s).toEqual({ ranges: [{ number: 7, upTo: BUCKETS }], only: 7, newest: 7 });
  });

  it('has no ranges when nothing takes traffic', () => {
    expect(splitOf([])).toEqual({ ranges: [], only: null, newest: null });
    expect(splitOf([{ number: 2, weight: 0 }])).toEqual({ ranges: [], only: null, newest: 2 });
  });

  it('always ends the last range at BUCKETS, even when rounding would fall short', () => {
    const s = splitOf([
      { number: 1, weight: 33.3 },
      { number: 2, weight: 33.3 },
      { number: 3, weight: 33.3 },
    ]);
    expect(s.ranges[s.ranges.length - 1].upTo).toBe(BUCKETS);
    const ups = s.ranges.map((r) => r.upTo);
    expect([...ups].sort((a, b) => a - b)).toEqual(ups);
  });
});

describe('pickRelease', () => {
  it('takes the fast path for a single release, whatever the key', () => {
    const s = splitOf([{ number: 9, weight: 100 }]);
    expect(pickRelease(s, null)).toBe(9);
    expect(pickRelease(s, 'anything')).toBe(9);
    expect(pickRelease(s, '')).toBe(9);
  });

  it('returns null when nothing takes traffic and the user is not an acceptance user', () => {
    expect(pickRelease(splitOf([]), 'k')).toBeNull();
    expect(pickRelease(splitOf([{ number: 1, weight: 0 }]), 'k')).toBeNull();
    expect(pickRelease(splitOf([]), 'k', true)).toBeNull();
  });

  it('sends acceptance users to the newest release even at weight 0', () => {
    const s = splitOf([
      { number: 1, weight: 100 },
      { number: 2, weight: 0 },
    ]);
    for (const k of keys(200)) expect(pickRelease(s, k, true)).toBe(2);
    expect(pickRelease(s, null, true)).toBe(2);
  });

  it('never picks a weight-0 release without acceptance', () => {
    const s = splitOf([
      { number: 1, weight: 50 },
      { number: 2, weight: 50 },
      { number: 3, weight: 0 },
    ]);
    const seen = new Set<number | null>();
    for (const k of keys(5000)) seen.add(pickRelease(s, k));
    for (let i = 0; i < 500; i++) seen.add(pickRelease(s, null));
    expect(seen).toEqual(new Set([1, 2]));
  });

  it('picks by bucket: a key goes to the release whose range holds its bucket', () => {
    const s = splitOf([
      { number: 1, weight: 50 },
      { number: 2, weight: 50 },
    ]);
    // bucketOf('a') = 2220 (< 5000: newest), bucketOf('user-1') = 8500 (>= 5000: older)
    expect(pickRelease(s, 'a')).toBe(2);
    expect(pickRelease(s, 'user-1')).toBe(1);
    expect(pickRelease(s, 'a')).toBe(pickRelease(s, 'a'));
  });

  it('splits 10,000 random keys at 5/95 close to 5% / 95%', () => {
    const s = splitOf([
      { number: 1, weight: 95 },
      { number: 2, weight: 5 },
    ]);
    const ks = Array.from({ length: 10000 }, () => randomUUID());
    const canary = ks.filter((k) => pickRelease(s, k) === 2).length;
    const share = canary / ks.length;
    // 5% ± 1.5%: about 7 standard deviations for n = 10,000
    expect(share).toBeGreaterThan(0.035);
    expect(share).toBeLessThan(0.065);
    expect(ks.filter((k) => pickRelease(s, k) === 1).length).toBe(ks.length - canary);
  });

  it('splits keyless requests randomly at roughly the weights', () => {
    const s = splitOf([
      { number: 1, weight: 80 },
      { number: 2, weight: 20 },
    ]);
    let canary = 0;
    for (let i = 0; i < 10000; i++) if (pickRelease(s, null) === 2) canary++;
    expect(canary / 10000).toBeGreaterThan(0.17);
    expect(canary / 10000).toBeLessThan(0.23);
  });

  it('is sticky: every key on the canary at 5% stays on it at 50% and at 100%', () => {
    const at = (w: number) =>
      splitOf([
        { number: 1, weight: 100 - w },
        { number: 2, weight: w },
      ]);
    const s5 = at(5);
    const s50 = at(50);
    const s100 = at(100);
    const ks = keys(10000, 99);
    const onCanary = ks.filter((k) => pickRelease(s5, k) === 2);
    expect(onCanary.length).toBeGreaterThan(300);
    for (const k of onCanary) {
      expect(pickRelease(s50, k)).toBe(2);
      expect(pickRelease(s100, k)).toBe(2);
    }
    // and users on the canary at 50% are a superset that grew, not a reshuffle
    const at50 = ks.filter((k) => pickRelease(s50, k) === 2).length;
    expect(at50).toBeGreaterThan(onCanary.length * 5);
  });
});
