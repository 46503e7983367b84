// Fuzzing the control API's request validation (issue 7.5): every request body (arbitrary
// JSON, arbitrary values, valid bodies with random mutations) and every log query gives either
// a valid request or a usage error (HTTP 400) naming the bad field; never another exception.
// A deploy body the API accepts also plans without surprises.

import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import type { z } from 'zod';
import { ShipitError } from '../domain/errors';
import type { ReleaseRecord, ServiceSpec, StrategyName } from '../domain/types';
import { MAX_LOG_LIMIT, parseLogRequest } from '../observe/log-query';
import { planBlueGreen } from '../strategies/blue-green';
import { planCanary } from '../strategies/canary';
import { planRainbow } from '../strategies/rainbow';
import { planRolling } from '../strategies/rolling';
import type { Planner } from '../strategies/types';
import {
  anchored,
  check,
  fuzzRuns,
  issuePaths,
  mutate,
  mutationOf,
  type Json,
} from '../testing/fuzz';
import * as validation from './validation';
import { deployBodySchema, parseBody, serviceSpecSchema } from './validation';

const RUNS = fuzzRuns(10_000);

/** Every request body schema the API parses with parseBody (new ones are picked up here). */
const BODIES = Object.entries(validation).filter(([name]) => name.endsWith('BodySchema')) as [
  string,
  z.ZodType<unknown>,
][];

type Outcome = { ok: true; value: unknown } | { ok: false; err: ShipitError };

/** parseBody's answer; any exception but a ShipitError escapes and fails the property. */
function parse(schema: z.ZodType<unknown>, body: unknown): Outcome {
  try {
    return { ok: true, value: parseBody(schema, body) };
  } catch (e) {
    if (e instanceof ShipitError) return { ok: false, err: e };
    throw e;
  }
}

/** A rejected body: a usage error, HTTP 400, `invalid request: <path>: <problem>; ...`. */
function checkCleanError(err: ShipitError): void {
  check(
    err.code === 'usage' && err.httpStatus === 400 && err.exitCode === 2,
    () => `unexpected error ${err.code}/${err.httpStatus}: ${err.message}`,
  );
  check(/^invalid request: .+: \S/.test(err.message), () => `unexpected message: ${err.message}`);
}

/** A body the API accepted parses again to itself (nothing is left half-normalised). */
function checkStable(schema: z.ZodType<unknown>, value: unknown): void {
  const again = schema.safeParse(value);
  check(
    again.success && isDeepStrictEqual(again.data, value),
    () => `not stable: ${JSON.stringify(value)}`,
  );
}

const isMs = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isCount = (v: unknown) =>
  (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) ||
  (typeof v === 'string' && /^\d{1,3}%$/.test(v));

/** What the engine relies on in a spec the API accepted. */
function checkSpec(s: ServiceSpec): void {
  const bad: string[] = [];
  if (!/^[a-z0-9-]{1,32}$/.test(s.name)) bad.push(`name ${s.name}`);
  if (!s.image || s.image.length > 512) bad.push('image');
  if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) bad.push(`port ${s.port}`);
  if (!Number.isSafeInteger(s.replicas) || s.replicas < 1 || s.replicas > 1000)
    bad.push(`replicas ${s.replicas}`);
  if (s.hosts.some((h) => typeof h !== 'string' || !h)) bad.push('hosts');
  if (Object.values(s.env).some((v) => typeof v !== 'string')) bad.push('env');
  const hc = s.healthcheck;
  if (!isMs(hc.intervalMs) || hc.intervalMs < 10) bad.push(`intervalMs ${hc.intervalMs}`);
  if (!isMs(hc.timeoutMs) || hc.timeoutMs < 1) bad.push(`timeoutMs ${hc.timeoutMs}`);
  const d = s.deploy;
  if (!isMs(d.deployTimeoutMs) || d.deployTimeoutMs < 1) bad.push('deployTimeoutMs');
  if (!isMs(d.drainTimeoutMs) || !isMs(d.keepPreviousMs)) bad.push('drain/keepPrevious');
  if (d.rolling && !(isCount(d.rolling.maxSurge) && isCount(d.rolling.maxUnavailable)))
    bad.push(`rolling ${JSON.stringify(d.rolling)}`);
  if (d.canary) {
    if (!d.canary.steps.length) bad.push('no canary step');
    for (const st of d.canary.steps)
      if (!(st.weight >= 0 && st.weight <= 100) || !(st.pauseMs === 'manual' || isMs(st.pauseMs)))
        bad.push(`canary step ${JSON.stringify(st)}`);
  }
  if (d.rainbow && !(Number.isSafeInteger(d.rainbow.maxLive) && d.rainbow.maxLive >= 1))
    bad.push('rainbow.maxLive');
  const a = s.autoscale;
  if (a && !(a.min >= 0 && a.max >= 1 && a.max <= 1000)) bad.push('autoscale');
  check(bad.length === 0, () => `an accepted spec breaks: ${bad.join(', ')}`);
}

const PLANNERS: Record<StrategyName, Planner> = {
  'blue-green': planBlueGreen,
  rolling: planRolling,
  canary: planCanary,
  rainbow: planRainbow,
};

function record(number: number, spec: ServiceSpec, status: ReleaseRecord['status']): ReleaseRecord {
  return {
    service: spec.name,
    number,
    image: spec.image,
    strategy: spec.deploy.strategy,
    spec,
    status,
    replicas: spec.replicas,
    startedAt: number,
    finishedAt: number,
    result: 'succeeded',
    reason: null,
    demotedAt: null,
  };
}

/**
 * An accepted spec plans, over a live release and a kept one, without throwing, and every
 * routing step of the plan and of its compensation sends 100% of the traffic somewhere.
 */
function checkPlans(spec: ServiceSpec): void {
  const plan = PLANNERS[spec.deploy.strategy](
    { service: spec.name, live: record(2, spec, 'live'), kept: [record(1, spec, 'previous')] },
    { release: 3, spec },
  );
  for (const s of [...plan.steps, ...plan.compensation]) {
    if (s.kind !== 'set-weights') continue;
    const ws = Object.values(s.weights);
    const sum = ws.reduce((a, b) => a + b, 0);
    check(
      sum === 100 && ws.every((w) => w >= 0 && w <= 100),
      () => `weights ${JSON.stringify(s.weights)} for ${JSON.stringify(spec.deploy)}`,
    );
  }
}

// ---- valid bodies to mutate ---------------------------------------------------------------

const MINIMAL_SPEC = {
  name: 'web',
  image: 'app:1',
  port: 8080,
  hosts: ['example.test'],
  replicas: 2,
  env: { A: '1' },
  healthcheck: {
    path: '/healthz',
    intervalMs: 1000,
    timeoutMs: 500,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
  },
  deploy: {
    strategy: 'blue-green',
    deployTimeoutMs: 60000,
    drainTimeoutMs: 5000,
    keepPreviousMs: 0,
  },
};

/** Every optional field set. */
const FULL_SPEC = {
  ...MINIMAL_SPEC,
  hosts: ['*', 'app.example.com', '*.example.com'],
  command: ['node', 'server.js'],
  resources: { memoryBytes: 134217728, cpus: 0.5 },
  healthcheck: { ...MINIMAL_SPEC.healthcheck, tcp: false },
  deploy: {
    strategy: 'canary',
    deployTimeoutMs: 60000,
    drainTimeoutMs: 5000,
    keepPreviousMs: 600000,
    rainbow: { maxLive: 3, maxAgeMs: 3600000 },
    rolling: { maxSurge: '25%', maxUnavailable: 1 },
    canary: {
      steps: [
        { weight: 5, pauseMs: 30000 },
        { weight: 50, pauseMs: 'manual' },
      ],
      sticky: 'header:X-User',
      analysis: { intervalMs: 5000, minRequests: 20, maxErrorRate: 0.05, maxP99Ms: 1000 },
    },
  },
  acceptance: { header: 'X-Shipit-Track', cookie: 'shipit-track' },
  links: ['api'],
  labels: { 'io.shipit.preview': 'pr-1' },
  autoscale: {
    min: 1,
    max: 10,
    target: { inflightPerReplica: 10 },
    scaleDownDelayMs: 60000,
    idleTimeoutMs: 300000,
    schedule: [{ from: '07:00', to: '19:00', min: 5, days: ['mon', 'tue'] }],
  },
};

const VALID_BODIES: [string, z.ZodType<unknown>, Json][] = [
  ['deploy', deployBodySchema, { spec: MINIMAL_SPEC }],
  ['deploy', deployBodySchema, { spec: FULL_SPEC, dryRun: true }],
  [
    'preview',
    validation.previewBodySchema,
    {
      name: 'pr-1',
      service: 'web',
      image: 'app:2',
      ttlMs: 3600000,
      env: { X: 'y' },
      spec: MINIMAL_SPEC,
    },
  ],
  ['rollback', validation.rollbackBodySchema, { to: 3, dryRun: false }],
  ['scale', validation.scaleBodySchema, { replicas: 3 }],
  ['shutdown', validation.shutdownBodySchema, { remove: true }],
];

const NUMBERS = [
  0,
  -0,
  -1,
  1,
  0.5,
  9,
  10,
  99.5,
  100,
  101,
  999,
  1000,
  1001,
  65535,
  65536,
  1e308,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  Number.MIN_VALUE,
  NaN,
  Infinity,
  -Infinity,
];
const STRINGS = [
  '',
  ' ',
  'web',
  'Web',
  'a_b',
  'a'.repeat(33),
  'x'.repeat(513),
  '/',
  'healthz',
  'manual',
  'Manual',
  'cookie',
  'ip',
  'header:',
  'header:X-A',
  'header:a b',
  'blue-green',
  'recreate',
  'rolling',
  'canary',
  'rainbow',
  '25%',
  '0%',
  '1000%',
  '-1%',
  '1.5%',
  '07:00',
  '24:00',
  'mon',
  'Mon',
  '__proto__',
  'constructor',
  'true',
  '1',
  'null',
  '*',
];
const STRUCTURES: Json[] = [
  null,
  true,
  false,
  [],
  {},
  [null],
  [''],
  [{}],
  ['web'],
  { weight: 5, pauseMs: 0 },
  [
    { weight: 50, pauseMs: 0 },
    { weight: 5, pauseMs: 0 },
  ],
  { inflightPerReplica: 1, cpu: 0.5 },
];

const value: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NUMBERS) },
  { weight: 4, arbitrary: fc.constantFrom(...STRINGS) },
  { weight: 2, arbitrary: fc.constantFrom(...STRUCTURES) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const key = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'toString', 'Name', ' port', 'extra', '', 'web'),
  fc.string({ maxLength: 8 }),
);
const mutation = mutationOf(value, key);

describe('API request bodies fuzz', () => {
  it('the unmutated bodies are valid', () => {
    for (const [name, schema, body] of VALID_BODIES) {
      const r = parse(schema, body);
      if (!r.ok) throw new Error(`${name}: ${r.err.message}`);
    }
  });

  it('any JSON body, for every body schema, is a request or a 400 naming the field', () => {
    fc.assert(
      fc.property(fc.nat({ max: BODIES.length - 1 }), fc.jsonValue(), (which, body) => {
        const [, schema] = BODIES[which];
        const r = parse(schema, body);
        if (r.ok) return checkStable(schema, r.value);
        checkCleanError(r.err);
      }),
      { numRuns: RUNS },
    );
  });

  it('any value at all (undefined, NaN, -0, Map, null prototype...) too', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: BODIES.length - 1 }),
        fc.anything({ withNullPrototype: true, withMap: true, withSet: true, withBigInt: true }),
        (which, body) => {
          const r = parse(BODIES[which][1], body);
          if (!r.ok) checkCleanError(r.err);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a valid body with random mutations: an accepted request that plans, or 400s at key paths of the body', () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        // an index, not the body: a counterexample then prints without its zod schema
        fc.nat({ max: VALID_BODIES.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        (which, mutations) => {
          const [, schema, base] = VALID_BODIES[which];
          const body = mutate(base, mutations);
          const r = parse(schema, body);
          if (r.ok) {
            accepted++;
            checkStable(schema, r.value);
            const spec = (r.value as { spec?: ServiceSpec }).spec;
            if (spec) {
              checkSpec(spec);
              checkPlans(spec);
            }
            return;
          }
          checkCleanError(r.err);
          const issues = schema.safeParse(body ?? {});
          check(!issues.success, () => 'parseBody failed where the schema passes');
          for (const path of issuePaths(issues.error!.issues))
            check(anchored(body ?? {}, path), () => `${String(path)} is not in the body`);
          // the message names each problem by its dotted path (an unknown key: the key's parent)
          for (const i of issues.error!.issues) {
            const named = i.path.map(String).join('.') || '(body)';
            check(r.err.message.includes(`${named}: `), () => `${named} not in ${r.err.message}`);
          }
        },
      ),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(RUNS / 50);
  });

  it('a spec the API accepts (generated field by field) plans with weights summing to 100', () => {
    const count = fc.oneof(
      fc.nat({ max: 12 }),
      fc.nat({ max: 999 }).map((n) => `${n}%`),
    );
    const spec = fc.record({
      replicas: fc.integer({ min: 1, max: 1000 }),
      strategy: fc.constantFrom('blue-green', 'rolling', 'canary', 'rainbow'),
      rolling: fc.record({ maxSurge: count, maxUnavailable: count }),
      steps: fc.array(
        fc.record({
          weight: fc.oneof(
            fc.integer({ min: 0, max: 100 }),
            fc.double({ min: 0, max: 100, noNaN: true }),
          ),
          pauseMs: fc.oneof(fc.nat(), fc.constant('manual' as const)),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      maxLive: fc.integer({ min: 1, max: 10 }),
    });
    fc.assert(
      fc.property(spec, (g) => {
        const body = {
          spec: {
            ...FULL_SPEC,
            replicas: g.replicas,
            deploy: {
              ...FULL_SPEC.deploy,
              strategy: g.strategy,
              rolling: g.rolling,
              rainbow: { maxLive: g.maxLive },
              canary: { ...FULL_SPEC.deploy.canary, steps: g.steps },
            },
          },
        };
        const r = parse(deployBodySchema, body);
        if (!r.ok) throw r.err;
        checkPlans((r.value as { spec: ServiceSpec }).spec);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- GET /v1/logs query parameters ------------------------------------------------------------

const NOW = 1_700_000_000_000;

function parseQuery(q: URLSearchParams): void {
  let r;
  try {
    r = parseLogRequest(q, NOW);
  } catch (e) {
    if (!(e instanceof ShipitError)) throw e;
    check(e.code === 'usage' && e.httpStatus === 400, () => `${e.code}: ${e.message}`);
    check(
      /^(limit|release|after|service|since|grep): /.test(e.message),
      () => `the message names no parameter: ${e.message}`,
    );
    return;
  }
  const bad: string[] = [];
  if (!Number.isSafeInteger(r.limit) || r.limit < 0 || r.limit > MAX_LOG_LIMIT) bad.push('limit');
  if (r.release !== undefined && !(Number.isSafeInteger(r.release) && r.release >= 1))
    bad.push('release');
  if (r.afterId !== undefined && !(Number.isSafeInteger(r.afterId) && r.afterId >= 0))
    bad.push('after');
  if (r.service !== undefined && !/^[a-z0-9-]{1,32}$/.test(r.service)) bad.push('service');
  if (r.sinceMs !== undefined && (typeof r.sinceMs !== 'number' || Number.isNaN(r.sinceMs)))
    bad.push('since');
  if (r.grep !== undefined) {
    try {
      new RegExp(r.grep);
    } catch {
      bad.push('grep');
    }
  }
  if (typeof r.follow !== 'boolean' || typeof r.access !== 'boolean') bad.push('flags');
  check(bad.length === 0, () => `accepted ${q.toString()} with bad ${bad.join(', ')}`);
}

const PARAM_VALUES = [
  '',
  ' ',
  '0',
  '1',
  '-1',
  '1.5',
  '100000',
  '100001',
  '9007199254740991',
  '9007199254740993',
  '99999999999999999999',
  '9'.repeat(400),
  ' 5 ',
  '0x10',
  '1e3',
  'ten',
  'true',
  'false',
  'web',
  'Web',
  'a'.repeat(33),
  '5m',
  '1h30m',
  '99999999999999999999d',
  '2024-01-01',
  '2024-13-45',
  '2024-01-01T00:00:00Z',
  '(unclosed',
  '(a+)+$',
  '[',
  '\\',
  'a'.repeat(1001),
  '*',
  '?',
];

describe('API log query fuzz', () => {
  it('any query string is a log request or a 400 naming the parameter', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (qs) =>
        parseQuery(new URLSearchParams(qs)),
      ),
      { numRuns: RUNS },
    );
  });

  it('the known parameters with odd values, repeated or not', () => {
    const param = fc.tuple(
      fc.constantFrom(
        'limit',
        'release',
        'after',
        'service',
        'since',
        'grep',
        'follow',
        'access',
        'x',
      ),
      fc.oneof(fc.constantFrom(...PARAM_VALUES), fc.string({ maxLength: 12 })),
    );
    fc.assert(
      fc.property(fc.array(param, { maxLength: 6 }), (pairs) =>
        parseQuery(new URLSearchParams(pairs)),
      ),
      { numRuns: RUNS },
    );
  });
});

// ---- regressions -------------------------------------------------------------------------------

describe('API validation: regressions found by fuzzing', () => {
  it('takes a spec with hosts: [] (a service only reached through links, as shipit.yml allows)', () => {
    const r = parse(serviceSpecSchema, { ...MINIMAL_SPEC, hosts: [] });
    expect(r.ok).toBe(true);
  });
});
