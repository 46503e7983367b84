import { ReleaseStats } from '../proxy/stats';
import { StatsWindow, type CounterReading } from './window';

/** Live counters per `service/release`, read into a window like Observability.tick() does. */
class Counters {
  readonly stats = new Map<string, { service: string; release: number | null; s: ReleaseStats }>();

  of(service: string, release: number | null): ReleaseStats {
    const key = `${service}/${release}`;
    let e = this.stats.get(key);
    if (!e) {
      e = { service, release, s: new ReleaseStats() };
      this.stats.set(key, e);
    }
    return e.s;
  }

  record(service: string, release: number | null, n: number, status = 200, ms = 3): void {
    const s = this.of(service, release);
    for (let i = 0; i < n; i++) s.record(status, ms);
  }

  readings(): CounterReading[] {
    return [...this.stats.values()].map((e) => ({
      service: e.service,
      release: e.release,
      snapshot: e.s.snapshot(),
    }));
  }
}

describe('StatsWindow', () => {
  it('computes rps, error rate and p99 over the window from counter deltas', () => {
    const c = new Counters();
    const w = new StatsWindow(60_000);
    c.record('web', 1, 1000); // history before the first reading is not counted
    w.sample(0, c.readings());
    for (let t = 1; t <= 10; t++) {
      c.record('web', 1, 9, 200, 3);
      c.record('web', 1, 1, 503, 3);
      w.sample(t * 1000, c.readings());
    }
    const r = w.rates('web', 1, 10_000);
    expect(r.requests).toBe(100);
    expect(r.rps).toBeCloseTo(10);
    expect(r.errorRate).toBeCloseTo(0.1);
    expect(r.p99Ms).toBe(4); // 3ms lands in the (2, 4] bucket

    // A shorter window only sees the last 5 seconds.
    const short = w.rates('web', 1, 5000);
    expect(short.requests).toBe(50);
    expect(short.rps).toBeCloseTo(10);
  });

  it('only the requests inside the window make the p99', () => {
    const c = new Counters();
    const w = new StatsWindow(60_000);
    w.sample(0, c.readings());
    c.record('web', 1, 50, 200, 1000); // slow, early
    w.sample(1000, c.readings());
    c.record('web', 1, 98, 200, 3);
    c.record('web', 1, 2, 200, 300);
    w.sample(2000, c.readings());

    // Over both seconds the slow early requests dominate the tail.
    expect(w.rates('web', 1, 2000).p99Ms).toBe(1024);
    // In the last second: 98 fast + 2 at 300ms -> the 99th is in the (256, 512] bucket.
    const last = w.rates('web', 1, 1000);
    expect(last.requests).toBe(100);
    expect(last.p99Ms).toBe(512);
  });

  it('reports Infinity as p99 when the tail is past the last bucket', () => {
    const c = new Counters();
    const w = new StatsWindow(60_000);
    w.sample(0, c.readings());
    c.record('web', 1, 1, 504, 100_000);
    w.sample(1000, c.readings());
    expect(w.rates('web', 1, 1000)).toEqual({
      requests: 1,
      rps: 1,
      errorRate: 1,
      p99Ms: Infinity,
    });
  });

  it('counts a release that appeared mid-way from zero at the previous reading', () => {
    const c = new Counters();
    const w = new StatsWindow(60_000);
    c.record('web', 1, 0);
    w.sample(0, c.readings());
    c.record('web', 1, 10);
    w.sample(1000, c.readings());
    c.record('web', 1, 10);
    w.sample(2000, c.readings());
    // Release 2 started between 2s and 3s: everything it counted so far happened after 2s.
    c.record('web', 1, 10);
    c.record('web', 2, 30, 500);
    w.sample(3000, c.readings());
    c.record('web', 1, 10);
    c.record('web', 2, 10, 200);
    w.sample(4000, c.readings());

    const r2 = w.rates('web', 2, 10_000);
    expect(r2.requests).toBe(40);
    expect(r2.rps).toBeCloseTo(20); // 40 requests over the 2 s since it appeared
    expect(r2.errorRate).toBeCloseTo(0.75);

    const r1 = w.rates('web', 1, 10_000);
    expect(r1.requests).toBe(40);
    expect(r1.rps).toBeCloseTo(10);
    expect(r1.errorRate).toBe(0);
  });

  it('a release seen in the very first reading starts from that reading', () => {
    const c = new Counters();
    const w = new StatsWindow(60_000);
    c.record('web', 1, 500);
    w.sample(0, c.readings());
    // Only one reading: nothing measurable yet.
    expect(w.rates('web', 1, 10_000)).toEqual({ requests: 0, rps: 0, errorRate: 0, p99Ms: 0 });
    c.record('web', 1, 5);
    w.sample(1000, c.readings());
    expect(w.rates('web', 1, 10_000).requests).toBe(5);
  });

  it("'all' sums every release and the proxy's own (release null) answers of one service", () => {
    const c = new Counters();
    const w = new StatsWindow(60_000);
    c.record('web', 1, 0);
    c.record('web', null, 0);
    c.record('api', 1, 0);
    w.sample(0, c.readings());
    c.record('web', 1, 60, 200);
    c.record('web', 2, 20, 500);
    c.record('web', null, 20, 503); // no release picked: 503 by the proxy
    c.record('api', 1, 1000, 500); // another service: never counted for web
    w.sample(2000, c.readings());

    const all = w.rates('web', 'all', 10_000);
    expect(all.requests).toBe(100);
    expect(all.rps).toBeCloseTo(50);
    expect(all.errorRate).toBeCloseTo(0.4);

    const unrouted = w.rates('web', null, 10_000);
    expect(unrouted.requests).toBe(20);
    expect(unrouted.errorRate).toBe(1);

    expect(w.rates('web', 1, 10_000).requests).toBe(60);
    expect(w.rates('api', 'all', 10_000).requests).toBe(1000);
  });

  it('trims history older than keepMs, but keeps the baseline of a full window', () => {
    const c = new Counters();
    const w = new StatsWindow(10_000);
    w.sample(0, c.readings());
    // 10 req/s for 50 s, then 1 req/s for 50 s.
    for (let t = 1; t <= 100; t++) {
      c.record('web', 1, t <= 50 ? 10 : 1);
      w.sample(t * 1000, c.readings());
    }
    // The exact window: its baseline (the reading at 90 s) is still there.
    const full = w.rates('web', 1, 10_000);
    expect(full.requests).toBe(10);
    expect(full.rps).toBeCloseTo(1);
    // A window longer than what is kept: only the kept history counts (not 550 requests over 100 s).
    const longer = w.rates('web', 1, 1_000_000);
    expect(longer.requests).toBe(10);
    expect(longer.rps).toBeCloseTo(1);
  });

  it('with readings that do not align with the window, the baseline is the newest at or before its start', () => {
    const c = new Counters();
    const w = new StatsWindow(10_000);
    w.sample(0, c.readings());
    for (const t of [7000, 14_000, 21_000]) {
      c.record('web', 1, 7);
      w.sample(t, c.readings());
    }
    // Window start 11 s: the baseline is the reading at 7 s, so 14 requests over 14 s.
    const r = w.rates('web', 1, 10_000);
    expect(r.requests).toBe(14);
    expect(r.rps).toBeCloseTo(1);
  });

  it('answers zeros without requests', () => {
    const c = new Counters();
    const w = new StatsWindow(60_000);
    const zeros = { requests: 0, rps: 0, errorRate: 0, p99Ms: 0 };
    expect(w.rates('web', 'all', 10_000)).toEqual(zeros);
    c.record('web', 1, 0);
    w.sample(0, c.readings());
    w.sample(1000, c.readings());
    w.sample(2000, c.readings());
    expect(w.rates('web', 1, 10_000)).toEqual(zeros);
    expect(w.rates('web', 'all', 10_000)).toEqual(zeros);
    expect(w.rates('web', 7, 10_000)).toEqual(zeros);
    expect(w.rates('nothing', 'all', 10_000)).toEqual(zeros);
  });
});
