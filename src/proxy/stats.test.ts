import { BUCKET_BOUNDS_MS, quantileMs, ReleaseStats, since, type StatsSnapshot } from './stats';

const LAST = BUCKET_BOUNDS_MS.length; // index of the overflow bucket

function bucketOf(ms: number): number {
  const s = new ReleaseStats();
  s.record(200, ms);
  return s.buckets.findIndex((b) => b === 1);
}

describe('BUCKET_BOUNDS_MS', () => {
  it('doubles from 1ms to 65536ms (17 bounds)', () => {
    expect(BUCKET_BOUNDS_MS).toHaveLength(17);
    expect(BUCKET_BOUNDS_MS[0]).toBe(1);
    expect(BUCKET_BOUNDS_MS.at(-1)).toBe(65536);
    for (let i = 1; i < BUCKET_BOUNDS_MS.length; i++)
      expect(BUCKET_BOUNDS_MS[i]).toBe(2 * BUCKET_BOUNDS_MS[i - 1]);
  });
});

describe('ReleaseStats', () => {
  it('starts empty, with one bucket per bound plus an overflow bucket', () => {
    const s = new ReleaseStats();
    expect(s.requests).toBe(0);
    expect(s.errors).toBe(0);
    expect(s.buckets).toEqual(new Array(18).fill(0));
  });

  it('counts every request and only 5xx answers as errors', () => {
    const s = new ReleaseStats();
    for (const status of [200, 204, 301, 404, 499, 500, 502, 503, 504, 599]) s.record(status, 1);
    expect(s.requests).toBe(10);
    expect(s.errors).toBe(5);
  });

  it('puts a latency in the first bucket whose bound is >= it (bounds are inclusive)', () => {
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(0.4)).toBe(0);
    expect(bucketOf(1)).toBe(0);
    expect(bucketOf(1.0001)).toBe(1);
    expect(bucketOf(2)).toBe(1);
    expect(bucketOf(3)).toBe(2);
    expect(bucketOf(4)).toBe(2);
    expect(bucketOf(5)).toBe(3);
    expect(bucketOf(1000)).toBe(10); // 512 < 1000 <= 1024
    expect(bucketOf(1024)).toBe(10);
    expect(bucketOf(65536)).toBe(16);
    expect(bucketOf(65537)).toBe(LAST);
    expect(bucketOf(1e9)).toBe(LAST);
  });

  it('snapshot is a copy: later records do not change it', () => {
    const s = new ReleaseStats();
    s.record(500, 3);
    const snap = s.snapshot();
    s.record(200, 3);
    expect(snap).toEqual({
      requests: 1,
      errors: 1,
      sumMs: 3,
      buckets: [0, 0, 1, ...new Array(15).fill(0)],
    });
    expect(s.snapshot().requests).toBe(2);
    snap.buckets[2] = 99;
    expect(s.buckets[2]).toBe(2);
  });
});

describe('ReleaseStats codes, sums and upstream errors', () => {
  it('counts answers per status code and sums durations', () => {
    const s = new ReleaseStats();
    s.record(200, 2);
    s.record(200, 3.5);
    s.record(503, 1);
    s.record(99, 1); // not a valid code: counted as a request, not per code
    expect(s.codeCounts()).toEqual([
      [200, 2],
      [503, 1],
    ]);
    expect(s.sumMs).toBeCloseTo(7.5);
    expect(s.requests).toBe(4);
  });

  it('counts upstream errors by reason', () => {
    const s = new ReleaseStats();
    s.upstreamError('refused');
    s.upstreamError('refused');
    s.upstreamError('timeout');
    expect([...s.upstreamErrors]).toEqual([
      ['refused', 2],
      ['timeout', 1],
    ]);
  });
});

describe('since', () => {
  const snap = (requests: number, errors: number, buckets: number[]): StatsSnapshot => ({
    requests,
    errors,
    sumMs: requests * 10,
    buckets,
  });

  it('returns the snapshot itself when there is no baseline', () => {
    const now = snap(3, 1, [1, 2, 0]);
    expect(since(now, null)).toBe(now);
  });

  it('subtracts the baseline field by field and bucket by bucket', () => {
    expect(since(snap(10, 4, [5, 3, 2]), snap(4, 1, [2, 2, 0]))).toEqual(snap(6, 3, [3, 1, 2]));
  });

  it('treats buckets missing from the baseline as 0', () => {
    expect(since(snap(2, 0, [1, 1]), snap(1, 0, [1]))).toEqual(snap(1, 0, [0, 1]));
  });

  it('is what happened between two snapshots of the same counters', () => {
    const s = new ReleaseStats();
    s.record(200, 1);
    s.record(500, 100);
    const before = s.snapshot();
    s.record(503, 3);
    s.record(200, 3);
    s.record(200, 70_000);
    const d = since(s.snapshot(), before);
    expect(d.requests).toBe(3);
    expect(d.errors).toBe(1);
    expect(d.buckets[2]).toBe(2);
    expect(d.buckets[LAST]).toBe(1);
    expect(d.buckets.reduce((a, b) => a + b, 0)).toBe(3);
  });
});

describe('quantileMs', () => {
  function stats(...samples: [count: number, ms: number][]): StatsSnapshot {
    const s = new ReleaseStats();
    for (const [count, ms] of samples) for (let i = 0; i < count; i++) s.record(200, ms);
    return s.snapshot();
  }

  it('is 0 with no request', () => {
    expect(quantileMs(stats(), 0.99)).toBe(0);
    expect(quantileMs({ requests: -1, errors: 0, sumMs: 0, buckets: [] }, 0.5)).toBe(0);
  });

  it('answers the upper bound of the bucket holding the q-th request', () => {
    expect(quantileMs(stats([1, 0.5]), 0.99)).toBe(1);
    expect(quantileMs(stats([1, 3]), 0.5)).toBe(4);
    expect(quantileMs(stats([1, 700]), 1)).toBe(1024);
  });

  it('p99 ignores 1 slow request in 100 and sees 2', () => {
    expect(quantileMs(stats([99, 3], [1, 1000]), 0.99)).toBe(4);
    expect(quantileMs(stats([98, 3], [2, 1000]), 0.99)).toBe(1024);
    expect(quantileMs(stats([99, 3], [1, 1000]), 1)).toBe(1024);
  });

  it('p50 is the median bucket', () => {
    expect(quantileMs(stats([5, 1], [5, 10]), 0.5)).toBe(1);
    expect(quantileMs(stats([5, 1], [6, 10]), 0.5)).toBe(16);
  });

  it('is Infinity when the q-th request is past the last bound', () => {
    expect(quantileMs(stats([1, 100_000]), 0.99)).toBe(Infinity);
    expect(quantileMs(stats([99, 1], [1, 100_000]), 0.99)).toBe(1);
    expect(quantileMs(stats([98, 1], [2, 100_000]), 0.99)).toBe(Infinity);
  });

  it('is Infinity when the buckets hold fewer requests than counted (inconsistent snapshot)', () => {
    expect(quantileMs({ requests: 5, errors: 0, sumMs: 0, buckets: [1, 1] }, 0.99)).toBe(Infinity);
  });

  it('works on a difference of snapshots', () => {
    const s = new ReleaseStats();
    for (let i = 0; i < 50; i++) s.record(200, 5000); // before the baseline: slow
    const base = s.snapshot();
    for (let i = 0; i < 100; i++) s.record(200, 2);
    expect(quantileMs(since(s.snapshot(), base), 0.99)).toBe(2);
    expect(quantileMs(s.snapshot(), 0.99)).toBe(8192);
  });
});
