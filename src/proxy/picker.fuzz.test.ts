// Fuzzing the proxy's choices (issue 7.5): the release a request goes to (sticky hash against
// the weights), the container within it (fewest in-flight), and the service a Host header
// names. Every input gives an answer the design promises and nothing throws.

import fc from 'fast-check';
import { check, fuzzRuns } from '../testing/fuzz';
import { BUCKETS, bucketOf, pickRelease, splitOf, type WeightedRelease } from './picker';
import { buildServiceRoute, RoutingTable } from './routing-table';
import { leastInflight, Target } from './target';

const RUNS = fuzzRuns(10_000);

/** `n` non-negative integers summing to 100 (the weights planners publish). */
const weightsTo100 = (n: number) =>
  fc
    .uniqueArray(fc.integer({ min: 0, max: 100 }), { minLength: n - 1, maxLength: n - 1 })
    .chain((cuts) =>
      // repeated cut points give weight-0 releases: allow them half the time
      fc.boolean().map((dupes) => {
        const points = [0, ...cuts.sort((a, b) => a - b), 100];
        if (dupes && points.length > 2) points[1] = points[0];
        return points.slice(1).map((p, i) => p - points[i]);
      }),
    );

/** Distinct release numbers, each with a weight; the weights sum to 100. */
const releases100: fc.Arbitrary<WeightedRelease[]> = fc
  .integer({ min: 1, max: 6 })
  .chain((n) =>
    fc.tuple(
      fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { minLength: n, maxLength: n }),
      weightsTo100(n),
    ),
  )
  .map(([numbers, weights]) => numbers.map((number, i) => ({ number, weight: weights[i] })));

/** Any finite non-negative weights, also fractional, tiny or not adding up to 100. */
const releasesAny: fc.Arbitrary<WeightedRelease[]> = fc
  .uniqueArray(
    fc.record({
      number: fc.integer({ min: 1, max: 1_000_000 }),
      weight: fc.oneof(
        fc.constantFrom(0, 100, Number.MIN_VALUE, 1e-9, 0.5, 33.3),
        fc.integer({ min: 0, max: 100 }),
        fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }),
      ),
    }),
    { selector: (r) => r.number, maxLength: 8 },
  )
  .filter((rs) => rs.every((r) => Number.isFinite(r.weight)));

const stickyKey = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.uuid(),
  fc.ipV4(),
  fc.ipV6(),
);

/** The bucket ranges are well formed: every live release once, newest first, ending at BUCKETS. */
function checkSplit(rs: WeightedRelease[]): ReturnType<typeof splitOf> {
  const split = splitOf(rs);
  const live = rs.filter((r) => r.weight > 0).map((r) => r.number);
  const m = () => `${JSON.stringify(rs)} -> ${JSON.stringify(split)}`;
  check(split.ranges.map((r) => r.number).join() === [...live].sort((a, b) => b - a).join(), m);
  check(split.ranges.length === 0 || split.ranges.at(-1)!.upTo === BUCKETS, m);
  split.ranges.forEach((r, i) =>
    check(
      Number.isInteger(r.upTo) && r.upTo >= (i ? split.ranges[i - 1].upTo : 0) && r.upTo <= BUCKETS,
      m,
    ),
  );
  check(split.only === (live.length === 1 ? live[0] : null), m);
  const newest = rs.length ? Math.max(...rs.map((r) => r.number)) : null;
  check(split.newest === newest, m);
  return split;
}

/** One pick: a release with weight > 0, null only when there is none; acceptance: the newest. */
function checkPick(rs: WeightedRelease[], key: string | null): void {
  const split = checkSplit(rs);
  const live = new Set(rs.filter((r) => r.weight > 0).map((r) => r.number));
  const got = pickRelease(split, key);
  const m = () => `${JSON.stringify(rs)}, key ${JSON.stringify(key)}: picked ${got}`;
  check(got === null ? live.size === 0 : live.has(got), m);
  if (key !== null) {
    // the same key, the same weights (even rebuilt): the same release
    check(pickRelease(split, key) === got && pickRelease(splitOf(rs), key) === got, m);
  }
  check(pickRelease(split, key, true) === split.newest, m);
}

describe('release picker fuzz', () => {
  it('bucketOf is a stable integer in [0, BUCKETS) for any key', () => {
    fc.assert(
      fc.property(stickyKey, (key) => {
        const b = bucketOf(key);
        check(Number.isInteger(b) && b >= 0 && b < BUCKETS && bucketOf(key) === b, () => `${b}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('with weights summing to 100: a release with weight > 0, the same one for the same key', () => {
    fc.assert(fc.property(releases100, fc.option(stickyKey, { freq: 10 }), checkPick), {
      numRuns: RUNS,
    });
  });

  it('with any finite weights (fractional, tiny, not summing to 100, none): never a weight-0 release', () => {
    fc.assert(fc.property(releasesAny, fc.option(stickyKey, { freq: 10 }), checkPick), {
      numRuns: RUNS,
    });
  });

  it('is sticky: a key on the newest release stays there while its share grows', () => {
    // the newest release's share rises from a to b; the others share the rest in any way
    const progression = fc
      .tuple(
        fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { minLength: 2, maxLength: 5 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        fc.array(fc.nat({ max: 100 }), { minLength: 8, maxLength: 8 }),
      )
      .map(([numbers, x, y, shares]) => {
        const sorted = [...numbers].sort((p, q) => q - p);
        const [lo, hi] = x <= y ? [x, y] : [y, x];
        const spread = (newest: number): WeightedRelease[] => {
          const others = sorted.slice(1);
          const raw = others.map((_, i) => shares[i] + 1);
          const total = raw.reduce((s, v) => s + v, 0);
          let left = 100 - newest;
          const ws = raw.map((v, i) => {
            const w = i === raw.length - 1 ? left : Math.floor(((100 - newest) * v) / total);
            left -= w;
            return w;
          });
          return [
            { number: sorted[0], weight: newest },
            ...others.map((number, i) => ({ number, weight: ws[i] })),
          ];
        };
        return { before: spread(lo), after: spread(hi) };
      });
    fc.assert(
      fc.property(progression, fc.array(stickyKey, { minLength: 1, maxLength: 20 }), (p, keys) => {
        const before = splitOf(p.before);
        const after = splitOf(p.after);
        const newest = before.newest!;
        for (const k of keys) {
          if (pickRelease(before, k) !== newest) continue;
          check(
            pickRelease(after, k) === newest,
            () => `${JSON.stringify(k)} left r${newest}: ${JSON.stringify(p)}`,
          );
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('spreads many keys roughly as the weights say', () => {
    // 1,000 keys a run from a seeded generator: each release's share within 0.1 of its weight
    // (over 6 standard deviations of a fair split at n = 1,000)
    const N = 1000;
    fc.assert(
      fc.property(releases100, fc.integer(), (rs, seed) => {
        const split = splitOf(rs);
        const got = new Map<number | null, number>();
        let s = seed >>> 0 || 1;
        for (let i = 0; i < N; i++) {
          s ^= s << 13;
          s >>>= 0;
          s ^= s >>> 17;
          s ^= s << 5;
          s >>>= 0;
          const r = pickRelease(split, `${s.toString(36)}.${i}`);
          got.set(r, (got.get(r) ?? 0) + 1);
        }
        for (const r of rs) {
          const share = (got.get(r.number) ?? 0) / N;
          check(
            Math.abs(share - r.weight / 100) <= 0.1,
            () =>
              `r${r.number} at ${r.weight}% got ${(share * 100).toFixed(1)}%: ${JSON.stringify(rs)}`,
          );
        }
      }),
      { numRuns: fuzzRuns(1_000) },
    );
  });
});

// ---- the container within a release ------------------------------------------------------------

const targets = fc.array(
  fc.record({
    inflight: fc.oneof(fc.nat({ max: 3 }), fc.nat({ max: 1_000_000 })),
    healthy: fc.boolean(),
    draining: fc.boolean(),
  }),
  { maxLength: 8 },
);

function build(spec: { inflight: number; healthy: boolean; draining: boolean }[]): Target[] {
  return spec.map((t, i) => {
    const x = new Target(`c${i}`, `app-web-r1-${i}`, 'web', 1, '10.0.0.2', 8080 + i);
    Object.assign(x, t);
    return x;
  });
}

describe('container choice fuzz (fewest in-flight)', () => {
  it('never an unhealthy, draining or excluded container; the fewest in flight; null only when none is left', () => {
    fc.assert(
      fc.property(targets, fc.option(fc.nat({ max: 8 })), (spec, excludeAt) => {
        const ts = build(spec);
        const exclude = excludeAt === null ? undefined : ts[excludeAt];
        const eligible = ts.filter((t) => t.healthy && !t.draining && t !== exclude);
        const got = leastInflight(ts, exclude);
        const m = () => `${JSON.stringify(spec)} excluding ${excludeAt}: ${got?.id}`;
        if (!eligible.length) return check(got === null, m);
        check(got !== null && eligible.includes(got), m);
        check(got!.inflight === Math.min(...eligible.map((t) => t.inflight)), m);
      }),
      { numRuns: RUNS },
    );
  });

  it('rotates between tied containers: n picks reach every tied one', () => {
    fc.assert(
      fc.property(targets, (spec) => {
        const ts = build(spec);
        const eligible = ts.filter((t) => t.available);
        if (!eligible.length) return;
        const min = Math.min(...eligible.map((t) => t.inflight));
        const tied = new Set(eligible.filter((t) => t.inflight === min));
        const seen = new Set<Target>();
        for (let i = 0; i < ts.length; i++) seen.add(leastInflight(ts)!);
        check(
          seen.size === tied.size && [...seen].every((t) => tied.has(t)),
          () => `${JSON.stringify(spec)}: saw ${[...seen].map((t) => t.id).join()}`,
        );
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- the service a Host header names -----------------------------------------------------------

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));

/** Up to 5 services, each owning exact hosts and `*.` patterns; one may own `*`. */
const table = fc
  .record({
    exact: fc.uniqueArray(domain, { maxLength: 6 }),
    wild: fc.uniqueArray(domain, { maxLength: 4 }),
    fallback: fc.boolean(),
    owners: fc.array(fc.nat({ max: 4 }), { minLength: 11, maxLength: 11 }),
  })
  .map(({ exact, wild, fallback, owners }) => {
    const hosts = new Map<string, string[]>();
    const own = (svc: string, h: string) => hosts.set(svc, [...(hosts.get(svc) ?? []), h]);
    exact.forEach((h, i) => own(`s${owners[i]}`, h));
    wild.forEach((h, i) => own(`s${owners[6 + i]}`, `*.${h}`));
    if (fallback) own(`s${owners[10]}`, '*');
    return { exact, wild, fallback: fallback ? `s${owners[10]}` : null, hosts };
  });

describe('Host header routing fuzz', () => {
  it('an exact host (any case, any port), else the most specific wildcard, else the default', () => {
    const header = fc.tuple(
      domain,
      fc.constantFrom('', 'www.', 'a.b.'),
      fc.boolean(),
      fc.option(fc.nat({ max: 65535 })),
    );
    fc.assert(
      fc.property(
        table,
        fc.array(header, { minLength: 1, maxLength: 6 }),
        fc.array(fc.string({ unit: 'binary', maxLength: 30 }), { maxLength: 4 }),
        (t, headers, noise) => {
          const services = new Map(
            [...t.hosts].map(([name, hs]) => [name, buildServiceRoute(name, hs, [])]),
          );
          const rt = new RoutingTable(services);
          const owner = (h: string) => [...t.hosts].find(([, hs]) => hs.includes(h))?.[0] ?? null;
          // the candidates: the generated domains, and random text
          const candidates = [
            ...t.exact,
            ...t.wild,
            ...headers.map(([h, prefix, upper, port]) => {
              const host = `${prefix}${h}`;
              return `${upper ? host.toUpperCase() : host}${port === null ? '' : `:${port}`}`;
            }),
          ];
          for (const raw of candidates) {
            const got = rt.lookup(raw)?.name ?? null;
            const colon = raw.lastIndexOf(':');
            const bare = (colon > 0 ? raw.slice(0, colon) : raw).toLowerCase();
            let want: string | null = owner(bare);
            if (want === null) {
              // the longest `*.suffix` the host ends with, at any depth
              const suffixes = t.wild.filter(
                (w) => bare.endsWith(`.${w}`) && bare.length > w.length + 1,
              );
              suffixes.sort((a, b) => b.length - a.length);
              want = suffixes.length ? owner(`*.${suffixes[0]}`) : t.fallback;
            }
            check(
              got === want,
              () =>
                `Host ${JSON.stringify(raw)}: ${got}, not ${want} (${JSON.stringify([...t.hosts])})`,
            );
          }
          // any text at all: no exception, and a service or the default
          for (const h of [...noise, undefined]) {
            const got = rt.lookup(h);
            check(got === null || services.get(got.name) === got, () => `${JSON.stringify(h)}`);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
