// Per-release request counters kept by the proxy itself: enough for canary
// analysis (error rate, p99), alerts and the Prometheus export, without a
// label lookup on the request path.

/** Upper bounds (ms) of the latency buckets: 1ms .. ~65s, doubling. */
export const BUCKET_BOUNDS_MS = Array.from({ length: 17 }, (_, i) => 2 ** i);

export interface StatsSnapshot {
  requests: number;
  errors: number;
  /** Sum of the durations (ms) of the counted requests. */
  sumMs: number;
  buckets: number[];
}

export class ReleaseStats {
  requests = 0;
  /** 5xx answers, the proxy's own 502/503/504 included. */
  errors = 0;
  sumMs = 0;
  readonly buckets = new Array<number>(BUCKET_BOUNDS_MS.length + 1).fill(0);
  /** Answers by status code (index = code); a typed array keeps the hot path free of map lookups. */
  readonly codes = new Float64Array(600);
  /** Failed attempts to reach an upstream, by reason (refused, reset, timeout...). */
  readonly upstreamErrors = new Map<string, number>();

  record(status: number, ms: number): void {
    this.requests++;
    this.sumMs += ms;
    if (status >= 500) this.errors++;
    if (status >= 100 && status < 600) this.codes[status]++;
    let i = 0;
    while (i < BUCKET_BOUNDS_MS.length && ms > BUCKET_BOUNDS_MS[i]) i++;
    this.buckets[i]++;
  }

  upstreamError(reason: string): void {
    this.upstreamErrors.set(reason, (this.upstreamErrors.get(reason) ?? 0) + 1);
  }

  /** Non-zero status codes and their counts. */
  codeCounts(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let c = 100; c < 600; c++) if (this.codes[c] > 0) out.push([c, this.codes[c]]);
    return out;
  }

  snapshot(): StatsSnapshot {
    return {
      requests: this.requests,
      errors: this.errors,
      sumMs: this.sumMs,
      buckets: [...this.buckets],
    };
  }
}

/** What happened between two snapshots. */
export function since(now: StatsSnapshot, before: StatsSnapshot | null): StatsSnapshot {
  if (!before) return now;
  return {
    requests: now.requests - before.requests,
    errors: now.errors - before.errors,
    sumMs: now.sumMs - before.sumMs,
    buckets: now.buckets.map((b, i) => b - (before.buckets[i] ?? 0)),
  };
}

/** The bucket bound under which `q` of the requests finished (Infinity past the last bound). */
export function quantileMs(s: StatsSnapshot, q: number): number {
  if (s.requests <= 0) return 0;
  const rank = Math.ceil(q * s.requests);
  let seen = 0;
  for (let i = 0; i < s.buckets.length; i++) {
    seen += s.buckets[i];
    if (seen >= rank) return i < BUCKET_BOUNDS_MS.length ? BUCKET_BOUNDS_MS[i] : Infinity;
  }
  return Infinity;
}
