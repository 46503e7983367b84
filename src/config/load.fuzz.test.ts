// Fuzzing the config loader (issue 7.5): arbitrary text, arbitrary JSON values and
// near-valid configs with random mutations at random key paths all give either a valid
// config or a config error (exit 2) that names a key path; never another exception.

import fc from 'fast-check';
import { LineCounter, parseDocument, stringify } from 'yaml';
import { serviceSpecSchema } from '../api/validation';
import { ShipitError } from '../domain/errors';
import type { ServiceSpec } from '../domain/types';
import {
  anchored,
  check,
  fuzzRuns,
  issuePaths,
  mutate,
  mutationOf,
  type Json,
} from '../testing/fuzz';
import { problemsFromIssues } from './issues';
import { parseApiListen, parseHostPort } from './listen';
import { parseConfig, serviceSpecFromRaw, type LoadedConfig } from './load';
import { ALERT_METRICS, NAME_RE, STRATEGIES, configSchema, type ShipitConfig } from './schema';

const RUNS = fuzzRuns(10_000);
const FILE = '/fuzz/shipit.yml';
const OPTS = { path: FILE, cwd: '/fuzz', env: {} };

// YAML warns (process.emitWarning) about odd but valid documents, such as a mapping used as a key.
beforeAll(() => jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined));
afterAll(() => jest.restoreAllMocks());

type Outcome = { ok: true; cfg: LoadedConfig } | { ok: false; err: ShipitError };

/** The loader's answer; any exception but a ShipitError escapes and fails the property. */
function load(text: string): Outcome {
  try {
    return { ok: true, cfg: parseConfig(text, OPTS) };
  } catch (e) {
    if (e instanceof ShipitError) return { ok: false, err: e };
    throw e;
  }
}

/** What every error of the loader looks like: a config error, exit 2, in one of three forms. */
function checkCleanError(err: ShipitError): void {
  const m = () => `unexpected error ${err.code}/${err.exitCode}: ${err.message}`;
  check(err.code === 'config' && err.exitCode === 2, m);
  const [head, ...lines] = err.message.split('\n');
  if (head === `invalid config ${FILE}: the file is empty`) return;
  if (head.startsWith(`invalid YAML in ${FILE}`)) {
    // a syntax error names its line and column; an alias bomb says what it is on the same line
    if (head === `invalid YAML in ${FILE}:`) {
      check(lines.length > 0, m);
      for (const l of lines) check(/^ {2}- line \d+, column \d+: /.test(l), m);
    } else check(/^invalid YAML in \/fuzz\/shipit\.yml: \S/.test(head), m);
    return;
  }
  check(head === `invalid config ${FILE}:` && lines.length > 0, m);
  // problems read `<key path>: <what was expected>`
  check(/^ {2}- .+: \S/.test(lines[0]), m);
  check(/^fix the keys? above; /.test(err.hint ?? ''), m);
}

const isMs = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** What a config that loaded promises: every invariant the engine relies on. */
function checkValid(cfg: LoadedConfig): void {
  const bad: string[] = [];
  const { proxy, api } = cfg;
  if (!Number.isInteger(proxy.port) || proxy.port < 0 || proxy.port > 65535)
    bad.push(`proxy.port ${proxy.port}`);
  if (!isMs(proxy.upstreamTimeoutMs)) bad.push(`proxy.upstreamTimeout ${proxy.upstreamTimeoutMs}`);
  if (!isMs(proxy.maxBodyBytes)) bad.push(`proxy.maxBodySize ${proxy.maxBodyBytes}`);
  if (api.socketPath === undefined) {
    if (!Number.isInteger(api.port) || api.port! < 0 || api.port! > 65535)
      bad.push(`api.port ${api.port}`);
  } else if (!api.socketPath) bad.push('empty api socket path');
  check(bad.length === 0, () => `a loaded config breaks its invariants: ${bad.join('; ')}`);
  checkSettings(cfg.raw, cfg.services);
  checkDeployable(cfg.services);
}

/** The validated settings (and the service specs made from them) keep every promise of the schema. */
function checkSettings(raw: ShipitConfig, services: Record<string, ServiceSpec>): void {
  const bad: string[] = [];
  const ms = (where: string, v: unknown) => {
    if (!isMs(v)) bad.push(`${where}: ${String(v)} is not a duration in ms`);
  };
  if (!NAME_RE.test(raw.project)) bad.push(`project ${raw.project}`);
  if (!['docker', 'swarm'].includes(raw.runtime)) bad.push(`runtime ${raw.runtime}`);
  if (!parseHostPort(raw.proxy.listen, '0.0.0.0')) bad.push(`proxy.listen ${raw.proxy.listen}`);
  if (!parseApiListen(raw.api.listen)) bad.push(`api.listen ${raw.api.listen}`);
  ms('proxy.upstreamTimeout', raw.proxy.upstreamTimeout);
  if (!isMs(raw.proxy.maxBodySize)) bad.push(`proxy.maxBodySize ${raw.proxy.maxBodySize}`);
  ms('logs.retention', raw.logs.retention);
  if (!Number.isSafeInteger(raw.logs.maxLines) || raw.logs.maxLines < 1)
    bad.push(`logs.maxLines ${raw.logs.maxLines}`);

  const names = Object.keys(services);
  if (names.length === 0) bad.push('no service');
  const owner = new Map<string, string>();
  for (const name of names) {
    const s = services[name];
    const at = `services.${name}`;
    if (!NAME_RE.test(name) || s.name !== name) bad.push(`${at}: bad name ${s.name}`);
    if (!/^\S+$/.test(s.image)) bad.push(`${at}.image ${JSON.stringify(s.image)}`);
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) bad.push(`${at}.port ${s.port}`);
    if (!Number.isSafeInteger(s.replicas) || s.replicas < 1)
      bad.push(`${at}.replicas ${s.replicas}`);
    if (new Set(s.hosts).size !== s.hosts.length) bad.push(`${at}.hosts repeats a host`);
    for (const h of s.hosts) {
      if (h !== h.toLowerCase() || h !== h.trim() || !h) bad.push(`${at}.hosts "${h}"`);
      if (owner.has(h)) bad.push(`host ${h} owned by ${owner.get(h)} and ${name}`);
      owner.set(h, name);
    }
    for (const [k, v] of Object.entries(s.env))
      if (typeof v !== 'string' || /[=\s]/.test(k)) bad.push(`${at}.env.${k}`);
    const hc = s.healthcheck;
    ms(`${at}.healthcheck.interval`, hc.intervalMs);
    ms(`${at}.healthcheck.timeout`, hc.timeoutMs);
    if (hc.tcp ? hc.path !== undefined : !hc.path?.startsWith('/'))
      bad.push(`${at}.healthcheck tcp ${hc.tcp} path ${hc.path}`);
    for (const k of ['healthyThreshold', 'unhealthyThreshold'] as const)
      if (!Number.isSafeInteger(hc[k]) || hc[k] < 1) bad.push(`${at}.healthcheck.${k} ${hc[k]}`);
    const d = s.deploy;
    if (!STRATEGIES.includes(d.strategy)) bad.push(`${at}.deploy.strategy ${d.strategy}`);
    ms(`${at}.deploy.deployTimeout`, d.deployTimeoutMs);
    ms(`${at}.deploy.drainTimeout`, d.drainTimeoutMs);
    ms(`${at}.deploy.keepPrevious`, d.keepPreviousMs);
    if (d.rainbow?.maxAgeMs !== undefined) ms(`${at}.deploy.rainbow.maxAge`, d.rainbow.maxAgeMs);
    if (!Number.isSafeInteger(d.rainbow?.maxLive) || d.rainbow!.maxLive < 1)
      bad.push(`${at}.deploy.rainbow.maxLive ${d.rainbow?.maxLive}`);
    const r = d.rolling!;
    const zero = (v: unknown) => v === 0 || v === '0%';
    if (zero(r.maxSurge) && zero(r.maxUnavailable)) bad.push(`${at}.deploy.rolling both 0`);
    for (const v of [r.maxSurge, r.maxUnavailable])
      if (typeof v === 'number' ? !Number.isSafeInteger(v) || v < 0 : !/^\d{1,3}%$/.test(v))
        bad.push(`${at}.deploy.rolling ${v}`);
    const c = d.canary!;
    if (c.steps.length === 0) bad.push(`${at}.deploy.canary.steps empty`);
    c.steps.forEach((st, i) => {
      if (!(st.weight >= 0 && st.weight <= 100)) bad.push(`${at} canary weight ${st.weight}`);
      if (i > 0 && !(st.weight > c.steps[i - 1].weight))
        bad.push(`${at} canary weights not rising`);
      if (st.pauseMs !== 'manual') ms(`${at} canary pause`, st.pauseMs);
    });
    ms(`${at}.deploy.canary.analysis.interval`, c.analysis.intervalMs);
    if (c.analysis.maxP99Ms !== undefined) ms(`${at} maxP99`, c.analysis.maxP99Ms);
    for (const l of s.links ?? [])
      if (!own(services, l)) bad.push(`${at}.links: unknown service "${l}"`);
    const a = s.autoscale;
    if (a) {
      if (!(a.min >= 0 && a.min <= a.max)) bad.push(`${at}.autoscale min ${a.min} max ${a.max}`);
      ms(`${at}.autoscale.scaleDownDelay`, a.scaleDownDelayMs);
      ms(`${at}.autoscale.idleTimeout`, a.idleTimeoutMs);
      if (Object.values(a.target).filter((v) => v !== undefined).length !== 1)
        bad.push(`${at}.autoscale.target ${JSON.stringify(a.target)}`);
      for (const w of a.schedule) if (w.min > a.max) bad.push(`${at}.autoscale.schedule min`);
    }
    if (s.resources?.memoryBytes !== undefined && !isMs(s.resources.memoryBytes))
      bad.push(`${at}.resources.memory ${s.resources.memoryBytes}`);
    if (s.resources?.cpus !== undefined && !(s.resources.cpus > 0))
      bad.push(`${at}.resources.cpus ${s.resources.cpus}`);
  }
  const alertNames = new Set<string>();
  raw.alerts.forEach((al, i) => {
    if (!own(services, al.service)) bad.push(`alerts[${i}].service: unknown "${al.service}"`);
    if (alertNames.has(al.name)) bad.push(`alerts[${i}].name repeated`);
    alertNames.add(al.name);
    if (!ALERT_METRICS.includes(al.when.metric)) bad.push(`alerts[${i}].when.metric`);
    const th = [al.when.above, al.when.below].filter((v) => v !== undefined);
    if (th.length !== 1 || !(th[0]! >= 0) || !Number.isFinite(th[0]))
      bad.push(`alerts[${i}].when threshold ${JSON.stringify(al.when)}`);
    ms(`alerts[${i}].when.for`, al.when.for);
    ms(`alerts[${i}].when.window`, al.when.window);
  });
  check(bad.length === 0, () => `loaded settings break their invariants: ${bad.join('; ')}`);
}

/**
 * The CLI sends a service's settings, as loaded, to the daemon's API: whatever the loader
 * accepts the API must accept too, or a valid shipit.yml fails only at deploy time.
 */
function checkDeployable(services: Record<string, ServiceSpec>): void {
  const bad: string[] = [];
  for (const [name, spec] of Object.entries(services)) {
    const r = serviceSpecSchema.safeParse(spec);
    if (!r.success)
      for (const i of r.error.issues) bad.push(`${name}: ${i.path.join('.')}: ${i.message}`);
  }
  check(bad.length === 0, () => `the API rejects a loaded service: ${bad.join('; ')}`);
}

// ---- (a) arbitrary text --------------------------------------------------------------

/** Lines assembled from YAML-ish pieces: keys of the config, indentation, flow syntax, anchors. */
const yamlishText = fc
  .array(
    fc.tuple(
      fc.constantFrom('', '  ', '    ', '      ', '\t', '- ', '  - '),
      fc.oneof(
        fc.constantFrom(
          'project',
          'services',
          'web',
          'image',
          'port',
          'hosts',
          'replicas',
          'deploy',
          'strategy',
          'canary',
          'steps',
          'weight',
          'pause',
          'healthcheck',
          'interval',
          'proxy',
          'listen',
          'api',
          'alerts',
          '<<',
          '? ',
          '&a',
          '*a',
          '!!str',
          '!!binary',
          '!custom',
          '%YAML 1.2',
          '---',
          '...',
          '#',
          '|',
          '>',
        ),
        fc.string({ maxLength: 12 }),
      ),
      fc.constantFrom(': ', ':', ' ', ': [', ': {', ': "', ": '", ': &a ', ': *a', ': !!int '),
      fc.oneof(
        fc.constantFrom(
          'demo',
          'demo-web:v1',
          '8080',
          '"*"',
          '1s',
          'fast',
          '-1s',
          'manual',
          '[]',
          '{}',
          '~',
          'null',
          '.nan',
          '.inf',
          '0x1F',
          '1e400',
          'true',
          ']',
          '}',
          "'",
          '"',
        ),
        fc.string({ maxLength: 12 }),
      ),
    ),
    { maxLength: 12 },
  )
  .map((lines) => lines.map((parts) => parts.join('')).join('\n'));

describe('config loader fuzz: arbitrary text', () => {
  it('gives a config or a clean config error for any string (full unicode)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 100 }), fc.string({ maxLength: 100 })),
        (text) => {
          const r = load(text);
          if (r.ok) checkValid(r.cfg);
          else checkCleanError(r.err);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('gives a config or a clean config error for YAML-ish text', () => {
    fc.assert(
      fc.property(yamlishText, (text) => {
        const r = load(text);
        if (r.ok) checkValid(r.cfg);
        else checkCleanError(r.err);
      }),
      { numRuns: fuzzRuns(5_000) },
    );
  });
});

// ---- (b) arbitrary values --------------------------------------------------------------

describe('config loader fuzz: arbitrary JSON values', () => {
  it('gives a config or a clean config error for any JSON value, as YAML or as JSON text', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), (value, asJson) => {
        const r = load(asJson ? JSON.stringify(value) : stringify(value));
        if (r.ok) checkValid(r.cfg);
        else checkCleanError(r.err);
      }),
      { numRuns: fuzzRuns(5_000) },
    );
  });

  it('the schema never throws on any value (also non-JSON ones) and reports a path per issue', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withMap: true, withSet: true }), (v) => {
        const r = configSchema.safeParse(v);
        if (r.success) return;
        const problems = problemsFromIssues(r.error.issues);
        check(problems.length > 0, () => 'a failed parse with no problem');
        for (const p of problems) check(p.path !== '', () => `an empty key path: ${p.message}`);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- (c) near-valid configs, mutated ------------------------------------------------------

const MINIMAL = { project: 'demo', services: { web: { image: 'demo-web:v1', port: 8080 } } };

/** Every key of SPEC §2 set, two services linked, one alert. */
const FULL = {
  project: 'demo',
  runtime: 'docker',
  proxy: { listen: '0.0.0.0:8080', upstreamTimeout: '30s', maxBodySize: '10m' },
  api: { listen: 'unix:.shipit/daemon.sock' },
  services: {
    web: {
      image: 'demo-web:v1',
      port: 8080,
      hosts: ['*', 'app.example.com'],
      replicas: 2,
      env: { KEY: 'value', N: 1, ON: true },
      command: ['node', 'server.js'],
      resources: { memory: '128m', cpus: 0.5 },
      healthcheck: {
        path: '/healthz',
        interval: '1s',
        timeout: '2s',
        healthyThreshold: 1,
        unhealthyThreshold: 3,
      },
      deploy: {
        strategy: 'canary',
        deployTimeout: '60s',
        drainTimeout: '30s',
        keepPrevious: '10m',
        rolling: { maxSurge: 1, maxUnavailable: '25%' },
        canary: {
          steps: [
            { weight: 5, pause: '30s' },
            { weight: 50, pause: 'manual' },
          ],
          sticky: 'header:X-User',
          analysis: { interval: '5s', minRequests: 20, maxErrorRate: 0.05, maxP99: '1s' },
        },
        rainbow: { maxLive: 3, maxAge: '1h' },
      },
      acceptance: { header: 'X-Shipit-Track', cookie: 'shipit-track' },
      autoscale: {
        min: 1,
        max: 10,
        target: { inflightPerReplica: 10 },
        scaleDownDelay: '60s',
        idleTimeout: '5m',
        schedule: [{ from: '07:00', to: '19:00', min: 5, days: ['mon', 'tue'] }],
      },
      links: ['api'],
    },
    api: {
      image: 'demo-api:v1',
      port: 3000,
      hosts: ['api.example.com', '*.api.example.com'],
      healthcheck: { tcp: true },
      deploy: { strategy: 'rolling', rolling: { maxSurge: '50%', maxUnavailable: 1 } },
    },
  },
  alerts: [
    {
      name: 'web-errors',
      service: 'web',
      when: { metric: 'error_rate', above: 0.05, for: '1m' },
      notify: { webhook: 'http://127.0.0.1:9999/hook' },
    },
    {
      name: 'slow',
      service: 'api',
      when: { metric: 'p99', above: '500ms', window: '30s' },
      notify: { webhook: 'https://hooks.example.com/x' },
    },
  ],
  logs: { retention: '7d', maxLines: 1000000 },
};

const DURATIONS = [
  'fast',
  '-1s',
  '1.5',
  '1.5s',
  '0',
  '0s',
  '500ms',
  '1m30s',
  '1e3s',
  ' 5s ',
  '5 s',
  '5S',
  '5sec',
  '',
  '9999999999999999999d',
  '99999999999999999999',
  '1h-1m',
  'Infinity',
  'manual',
  'Manual',
  '7d',
];
const NUMBERS = [
  0,
  -0,
  -1,
  1,
  0.5,
  2,
  99.5,
  100,
  101,
  1000,
  1001,
  65535,
  65536,
  1e308,
  -1e308,
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
  '*',
  '*.*',
  '**',
  '*.example.com',
  'a..b',
  '-a.com',
  'a.com:99999',
  'a.com:80',
  'APP.Example.COM',
  ' x ',
  'ünï.com',
  'Demo',
  'a_b',
  'a'.repeat(33),
  'a'.repeat(32),
  'x'.repeat(600),
  'constructor',
  'toString',
  '__proto__',
  'blue-green',
  'Blue-Green',
  'recreate',
  'canary ',
  'rolling',
  'rainbow',
  'cookie',
  'ip',
  'header:',
  'header:X-A',
  'header:a b',
  'unix:',
  'unix:/tmp/s.sock',
  '127.0.0.1:7070',
  ':0',
  '9000',
  '[::1]:80',
  '0.0.0.0:65536',
  '25%',
  '0%',
  '100%',
  '1000%',
  '07:00',
  '24:00',
  '7:00',
  'mon',
  'Mon',
  'http://x',
  'ftp://x',
  '/healthz',
  'healthz',
  '/ a',
  'error_rate',
  'p99',
  'memory',
  '128m',
  '1g',
  '-1m',
  '10x',
  'web',
  'api',
  'true',
  'null',
  'X-Shipit-Track',
];
const STRUCTURES: Json[] = [
  null,
  true,
  false,
  [],
  {},
  [null],
  [{}],
  ['*'],
  [''],
  { weight: 5 },
  { inflightPerReplica: 1, cpu: 0.5 },
  [
    { weight: 50, pause: '1s' },
    { weight: 5, pause: '1s' },
  ],
  { metric: 'rps', above: 1, below: 2 },
];

const weirdValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...DURATIONS) },
  { weight: 3, arbitrary: fc.constantFrom(...NUMBERS) },
  { weight: 4, arbitrary: fc.constantFrom(...STRINGS) },
  { weight: 2, arbitrary: fc.constantFrom(...STRUCTURES) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const weirdKey = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'toString',
    'Image',
    ' port',
    'web',
    'api',
    'Web',
    'a_b',
    '',
    'a'.repeat(33),
    'extra',
  ),
  fc.string({ maxLength: 8 }),
);

const mutation = mutationOf(weirdValue, weirdKey);

/** The data the loader sees in `text`, parsed as it does; undefined for a YAML error. */
function dataOf(text: string): { data: Json } | undefined {
  const doc = parseDocument(text, {
    lineCounter: new LineCounter(),
    merge: true,
    prettyErrors: false,
  });
  if (doc.errors.length) return undefined;
  try {
    return { data: doc.toJS({ maxAliasCount: 1000 }) };
  } catch {
    return undefined;
  }
}

const serialised = fc.constantFrom('json', 'json', 'yaml', 'yaml-flow');
function serialise(v: Json, how: string): string {
  if (how === 'json') return JSON.stringify(v) ?? '';
  return stringify(v, how === 'yaml-flow' ? { collectionStyle: 'flow' } : undefined);
}

/** How every problem reads: what was expected (or which rule across keys was broken). */
const PROBLEM =
  /^(expected |is required \(expected |unknown key \(allowed: |invalid .* \(expected |host ".*" is claimed by two services|unknown service |duplicate alert name |set either path|maxSurge and maxUnavailable cannot both be 0)/;

const mutated = fc
  .tuple(fc.constantFrom(MINIMAL, FULL), fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([base, mutations]) => mutate(base, mutations));

describe('config loader fuzz: near-valid configs with random mutations', () => {
  it('the unmutated bases load', () => {
    for (const base of [MINIMAL, FULL]) {
      const r = load(stringify(base));
      if (!r.ok) throw r.err;
      checkValid(r.cfg);
    }
  });

  it('validates to settings that keep every promise, or to problems at key paths of the input', () => {
    let valid = 0;
    fc.assert(
      fc.property(mutated, (data) => {
        const r = configSchema.safeParse(data);
        if (r.success) {
          valid++;
          const services = Object.fromEntries(
            Object.entries(r.data.services).map(([n, svc]) => [n, serviceSpecFromRaw(n, svc)]),
          );
          checkSettings(r.data, services);
          checkDeployable(services);
          return;
        }
        for (const path of issuePaths(r.error.issues))
          check(anchored(data, path), () => `${String(path)} is not a key path of the input`);
        for (const p of problemsFromIssues(r.error.issues))
          check(p.path !== '' && PROBLEM.test(p.message), () => `${p.path}: ${p.message}`);
      }),
      { numRuns: RUNS },
    );
    // the mutations are near misses: a fair share of them is still valid
    expect(valid).toBeGreaterThan(50);
  });

  it('loads them from YAML or JSON text, or names every problem with its key path', () => {
    fc.assert(
      fc.property(mutated, serialised, (data, how) => {
        const text = serialise(data, how);
        const r = load(text);
        if (r.ok) return checkValid(r.cfg);
        checkCleanError(r.err);
        const parsed = how === 'json' ? { data: JSON.parse(text) as Json } : dataOf(text);
        if (!parsed || parsed.data === null || parsed.data === undefined) return;
        const result = configSchema.safeParse(parsed.data);
        check(!result.success, () => 'the loader failed where the schema passes');
        for (const p of problemsFromIssues(result.error!.issues))
          check(r.err.message.includes(`  - ${p.path}: ${p.message}`), () => `${p.path} not named`);
      }),
      // each run parses YAML two or three times: the schema property above does the bulk
      { numRuns: fuzzRuns(1_000) },
    );
  });
});

// ---- regressions: the counterexamples fuzzing found, as plain tests ----------------------

describe('config loader: regressions found by fuzzing', () => {
  const svc = (extra: string) =>
    `project: demo\nservices:\n  web:\n    image: demo-web:v1\n    port: 8080\n${extra}`;
  const problems = (text: string): string[] => {
    const r = load(text);
    if (r.ok) return [];
    return r.err.message.split('\n').slice(1);
  };

  it('a link or an alert to "constructor" (a key of every object) names an unknown service', () => {
    expect(problems(svc('    links: [constructor]\n'))).toEqual([
      '  - services.web.links[0]: unknown service "constructor" (services: web) (line 6)',
    ]);
    const alert =
      'alerts:\n  - name: a\n    service: constructor\n    when: { metric: rps, above: 1 }\n    notify: { webhook: "http://h" }\n';
    expect(problems(`${svc('')}${alert}`)).toEqual([
      '  - alerts[0].service: unknown service "constructor" (services: web) (line 8)',
    ]);
  });

  it('a duration of bare digits beyond what milliseconds can count is an error, not 1e20', () => {
    expect(problems(svc('    healthcheck: { interval: "99999999999999999999" }\n'))).toEqual([
      '  - services.web.healthcheck.interval: expected a duration like "5s", got "99999999999999999999" (line 6)',
    ]);
  });

  it('a canary pause too long to count is an error, not 0 (which would skip the hold)', () => {
    const steps = (pause: string) =>
      svc(`    deploy: { canary: { steps: [{ weight: 5, pause: "${pause}" }] } }\n`);
    for (const pause of ['99999999999999999999', '99999999999999999999d'])
      expect(problems(steps(pause))).toEqual([
        `  - services.web.deploy.canary.steps[0].pause: expected a duration like "5s" or "manual", got "${pause}" (line 6)`,
      ]);
  });

  it('what the daemon API refuses is a config error at its key path, not a 400 at deploy', () => {
    expect(problems(svc('    replicas: 1001\n'))).toEqual([
      '  - services.web.replicas: expected at most 1000, got 1001 (line 6)',
    ]);
    expect(problems(svc('    autoscale: { max: 1001 }\n'))).toEqual([
      '  - services.web.autoscale.max: expected at most 1000, got 1001 (line 6)',
    ]);
    expect(problems(svc('    healthcheck: { interval: 5ms, timeout: 0 }\n'))).toEqual([
      '  - services.web.healthcheck.interval: expected at least 10ms, got "5ms" (line 6)',
      '  - services.web.healthcheck.timeout: expected at least 1ms, got 0 (line 6)',
    ]);
    expect(
      problems(svc('    deploy: { deployTimeout: 0s, canary: { analysis: { interval: 0 } } }\n')),
    ).toEqual([
      '  - services.web.deploy.deployTimeout: expected at least 1ms, got "0s" (line 6)',
      '  - services.web.deploy.canary.analysis.interval: expected at least 10ms, got 0 (line 6)',
    ]);
    expect(problems(svc('    resources: { memory: 0 }\n'))).toEqual([
      '  - services.web.resources.memory: expected at least 1 bytes, got 0 (line 6)',
    ]);
    expect(problems(svc(`    links: [${Array(101).fill('web').join(', ')}]\n`))).toEqual([
      '  - services.web.links: expected at most 100 service names, got a list (line 6)',
    ]);
    const long = `demo-web:${'v'.repeat(504)}`;
    expect(problems(svc('').replace('demo-web:v1', long))).toEqual([
      `  - services.web.image: expected at most 512 characters, got "${long}" (line 4)`,
    ]);
  });

  it('a service only reached through links (hosts: []) loads and the API takes its spec', () => {
    const r = load(
      `${svc('    links: [api]\n')}  api:\n    image: demo-api:v1\n    port: 3000\n    hosts: []\n`,
    );
    if (!r.ok) throw r.err;
    expect(r.cfg.services.api.hosts).toEqual([]);
    checkDeployable(r.cfg.services);
  });
});
