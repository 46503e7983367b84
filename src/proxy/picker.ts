// Release picking: a pure function of (sticky key, weights). One user keeps one
// release while weights move, because the key's bucket never changes and the
// releases' bucket ranges grow from a fixed order (oldest first).

export const BUCKETS = 10000;

/** FNV-1a 32-bit: fast, stable across processes and versions. */
export function bucketOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % BUCKETS;
}

export interface WeightedRelease {
  number: number;
  /** Percent, 0..100. */
  weight: number;
}

export interface ReleaseSplit {
  /** Releases in bucket order with the upper bound (exclusive) of each one's bucket range. */
  ranges: { number: number; upTo: number }[];
  /** Set when one release takes everything: no hashing needed. */
  only: number | null;
  /** The newest release (highest number), for acceptance users. */
  newest: number | null;
}

/**
 * Precomputes bucket ranges. The newest release takes the lowest buckets, so a
 * user who lands on a canary at 5% stays on it at 50%; older releases share
 * the rest in descending order.
 */
export function splitOf(releases: WeightedRelease[]): ReleaseSplit {
  const live = releases.filter((r) => r.weight > 0).sort((a, b) => b.number - a.number);
  const newest = releases.reduce<number | null>(
    (n, r) => (n === null || r.number > n ? r.number : n),
    null,
  );
  if (live.length === 0) return { ranges: [], only: null, newest };
  const total = live.reduce((s, r) => s + r.weight, 0);
  let acc = 0;
  const ranges = live.map((r) => {
    acc += r.weight;
    return { number: r.number, upTo: Math.round((acc / total) * BUCKETS) };
  });
  ranges[ranges.length - 1].upTo = BUCKETS;
  return { ranges, only: live.length === 1 ? live[0].number : null, newest };
}

/**
 * The release a request goes to, or null when nothing takes traffic.
 * `acceptance` users get the newest release even at weight 0.
 */
export function pickRelease(
  split: ReleaseSplit,
  key: string | null,
  acceptance = false,
): number | null {
  if (acceptance && split.newest !== null) return split.newest;
  if (split.only !== null) return split.only;
  if (split.ranges.length === 0) return null;
  const b = key === null ? Math.floor(Math.random() * BUCKETS) : bucketOf(key);
  for (const r of split.ranges) if (b < r.upTo) return r.number;
  return split.ranges[split.ranges.length - 1].number;
}
