import { BUCKET_BOUNDS_MS, quantileMs, since, type StatsSnapshot } from '../proxy/stats';

export interface CounterReading {
  service: string;
  /** null: the proxy's own answers before a release was picked. */
  release: number | null;
  snapshot: StatsSnapshot;
}

export interface WindowRates {
  /** Requests counted in the window. */
  requests: number;
  /** Requests per second over the window. */
  rps: number;
  /** 5xx answers / requests (0 without requests). */
  errorRate: number;
  /** Upper bound of the latency bucket holding the 99th percentile, ms (0 without requests). */
  p99Ms: number;
}

interface Point {
  at: number;
  snap: StatsSnapshot;
}

const EMPTY: StatsSnapshot = {
  requests: 0,
  errors: 0,
  sumMs: 0,
  buckets: new Array<number>(BUCKET_BOUNDS_MS.length + 1).fill(0),
};

const keyOf = (service: string, release: number | null) => `${service}/${release ?? '-'}`;

/**
 * Rates over sliding windows, from periodic readings of the proxy's monotonic
 * counters: alerts and the dashboard ask "what happened in the last N seconds".
 */
export class StatsWindow {
  private series = new Map<string, { service: string; release: number | null; points: Point[] }>();
  private lastAt: number | null = null;

  /** @param keepMs how much history to keep (the longest window anyone asks for). */
  constructor(private readonly keepMs: number) {}

  sample(now: number, readings: CounterReading[]): void {
    for (const r of readings) {
      const key = keyOf(r.service, r.release);
      let s = this.series.get(key);
      if (!s) {
        // Counters that appeared since the last reading started from zero then.
        s = { service: r.service, release: r.release, points: [] };
        if (this.lastAt !== null) s.points.push({ at: this.lastAt, snap: EMPTY });
        this.series.set(key, s);
      }
      s.points.push({ at: now, snap: r.snapshot });
      const horizon = now - this.keepMs;
      // Keep one point at or before the horizon so a full window always has a baseline.
      while (s.points.length > 2 && s.points[1].at <= horizon) s.points.shift();
    }
    this.lastAt = now;
  }

  /** Rates of one release, or of the whole service (every release and the proxy's own answers). */
  rates(service: string, release: number | null | 'all', windowMs: number): WindowRates {
    let total: StatsSnapshot = EMPTY;
    let seconds = 0;
    for (const s of this.series.values()) {
      if (s.service !== service) continue;
      if (release !== 'all' && s.release !== release) continue;
      const last = s.points.at(-1);
      if (!last) continue;
      const base = baseline(s.points, last.at - windowMs);
      seconds = Math.max(seconds, (last.at - base.at) / 1000);
      total = add(total, since(last.snap, base.snap));
    }
    return {
      requests: total.requests,
      rps: seconds > 0 ? total.requests / seconds : 0,
      errorRate: total.requests > 0 ? total.errors / total.requests : 0,
      p99Ms: quantileMs(total, 0.99),
    };
  }
}

/** The newest point at or before `from`, else the oldest one. */
function baseline(points: Point[], from: number): Point {
  let base = points[0];
  for (const p of points) {
    if (p.at > from) break;
    base = p;
  }
  return base;
}

function add(a: StatsSnapshot, b: StatsSnapshot): StatsSnapshot {
  return {
    requests: a.requests + b.requests,
    errors: a.errors + b.errors,
    sumMs: a.sumMs + b.sumMs,
    buckets: a.buckets.map((x, i) => x + (b.buckets[i] ?? 0)),
  };
}
