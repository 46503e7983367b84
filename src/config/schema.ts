import { z } from 'zod';
import {
  bool,
  duration,
  durationOrManual,
  expecting,
  hostPort,
  apiListen,
  int,
  listOf,
  nonEmptyString,
  num,
  oneOf,
  pattern,
  recordOf,
  size,
  str,
  strict,
  countOrPercent,
} from './fields';
import {
  tryParseDuration,
  tryParseSize,
  DURATION_EXPECTED,
  SIZE_EXPECTED,
  describeValue,
} from './duration';
import { crossCheck } from './cross-check';
import { tlsSchema } from './tls-schema';

// The one schema of shipit.yml (SPEC §2). Types, defaults, error messages and the editor
// JSON Schema (configJsonSchema) all come from here.

export const NAME_RE = /^[a-z0-9-]{1,32}$/;
const NAME_WHAT = 'lowercase letters, digits and "-", 1 to 32 characters';
// Upper case is allowed in the file (hosts are lower-cased when parsed) so the JSON Schema agrees.
const HOST_RE =
  /^(\*|(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:\d{1,5})?)$/;
const HEADER_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const TIME_RE = /^([01]\d|2[0-3]):[0-5]\d$/;
export const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
/** Bounds the daemon's API checks too (src/api/validation.ts): a config that loads must deploy. */
const MAX_REPLICAS = 1000;
const atMost = (max: number | string) => expecting(`at most ${max}`);

// Cross-field checks run even when a sibling key has a problem, so one run reports every problem
// (their callbacks therefore treat each field as possibly invalid).
const evenWithIssues = {
  when: (p: { value: unknown }) => typeof p.value === 'object' && p.value !== null,
};

export const STRATEGIES = ['rolling', 'blue-green', 'canary', 'rainbow'] as const;
export const ALERT_METRICS = ['error_rate', 'p99', 'rps', 'cpu', 'memory'] as const;

const hostSchema = z
  .string(expecting('a host name like "app.example.com", "*.example.com" or "*"'))
  .trim()
  .toLowerCase()
  .regex(HOST_RE, expecting('a host name like "app.example.com", "*.example.com" or "*"'));

const healthcheckSchema = strict({
  path: pattern(/^\/\S*$/, 'an HTTP path like "/healthz"')
    .optional()
    .describe('HTTP path probed with GET; 2xx/3xx is healthy (default "/")'),
  tcp: bool().default(false).describe('probe by opening a TCP connection instead of HTTP'),
  interval: duration(undefined, 10).prefault('1s').describe('time between probes'),
  timeout: duration(undefined, 1).prefault('2s').describe('a probe slower than this fails'),
  healthyThreshold: int(1).default(1).describe('consecutive passes to become healthy'),
  unhealthyThreshold: int(1).default(3).describe('consecutive failures to become unhealthy'),
})
  .superRefine((h, ctx) => {
    if (h.tcp === true && h.path !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['path'],
        message: 'set either path (HTTP check) or tcp: true, not both',
      });
    }
  }, evenWithIssues)
  .transform((h) => ({ ...h, path: h.tcp ? undefined : (h.path ?? '/') }));

const rollingSchema = strict({
  maxSurge: countOrPercent()
    .default(1)
    .describe('extra containers started above the replica count (number, or "25%" rounded up)'),
  maxUnavailable: countOrPercent()
    .default(0)
    .describe('containers that may be out of service at once (number, or "25%" rounded down)'),
}).superRefine((r, ctx) => {
  const zero = (v: unknown) => v === 0 || v === '0%';
  if (zero(r.maxSurge) && zero(r.maxUnavailable)) {
    ctx.addIssue({
      code: 'custom',
      path: ['maxSurge'],
      message: 'maxSurge and maxUnavailable cannot both be 0 (the rollout could not make progress)',
    });
  }
}, evenWithIssues);

const canaryStepSchema = strict({
  weight: num({ min: 0, max: 100 }, 'a percentage from 0 to 100').describe(
    'percent of users sent to the new release (0: only acceptance users, a dark launch)',
  ),
  pause: durationOrManual()
    .prefault(0)
    .describe('how long to hold this step, or "manual" to wait for `shipit promote`'),
});

const DEFAULT_CANARY_STEPS = [
  { weight: 5, pause: '30s' },
  { weight: 50, pause: 'manual' },
];

const analysisSchema = strict({
  interval: duration(undefined, 10)
    .prefault('5s')
    .describe('how often the canary metrics are checked'),
  minRequests: int(0).default(20).describe('requests needed before a verdict'),
  maxErrorRate: num({ min: 0, max: 1 }, 'a ratio from 0 to 1')
    .default(0.05)
    .describe('5xx ratio above which the canary is aborted'),
  maxP99: duration().optional().describe('p99 latency above which the canary is aborted'),
});

const canarySchema = strict({
  steps: listOf(canaryStepSchema, 'a list of steps like { weight: 5, pause: 30s }')
    .min(1, expecting('at least one step'))
    .prefault(DEFAULT_CANARY_STEPS),
  sticky: pattern(/^(cookie|ip|header:[A-Za-z0-9-]+)$/, '"cookie", "ip" or "header:<Name>"')
    .default('cookie')
    .describe('what keeps one user on one version'),
  analysis: analysisSchema.prefault({}),
}).superRefine((c, ctx) => {
  if (!Array.isArray(c.steps)) return;
  c.steps.forEach((step, i) => {
    const prev = c.steps[i - 1];
    if (
      i > 0 &&
      typeof step?.weight === 'number' &&
      typeof prev?.weight === 'number' &&
      step.weight <= prev.weight
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['steps', i, 'weight'],
        message: `expected a weight above the previous step's ${prev.weight}, got ${step.weight}`,
      });
    }
  });
}, evenWithIssues);

const deploySchema = strict({
  strategy: oneOf(STRATEGIES).default('blue-green'),
  deployTimeout: duration(undefined, 1)
    .prefault('60s')
    .describe('the new release must be healthy within this'),
  drainTimeout: duration().prefault('30s').describe('in-flight requests may finish within this'),
  keepPrevious: duration()
    .prefault('10m')
    .describe('the old release stays running, out of routing, for instant rollback'),
  rolling: rollingSchema.prefault({}),
  canary: canarySchema.prefault({}),
  rainbow: strict({
    maxLive: int(1).default(3).describe('releases kept live at once'),
    maxAge: duration().optional().describe('a release older than this is drained'),
  }).prefault({}),
});

const targetSchema = strict({
  inflightPerReplica: num({ gt: 0 }, 'a number above 0').optional(),
  rpsPerReplica: num({ gt: 0 }, 'a number above 0').optional(),
  cpu: num({ gt: 0, max: 1 }, 'a CPU ratio above 0, up to 1').optional(),
}).superRefine((t, ctx) => {
  const set = Object.keys(t).filter((k) => t[k as keyof typeof t] !== undefined);
  if (set.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message: `expected exactly one of inflightPerReplica, rpsPerReplica, cpu, got ${set.length ? set.join(', ') : 'none'}`,
    });
  }
}, evenWithIssues);

const autoscaleSchema = strict({
  min: int(0)
    .max(MAX_REPLICAS, atMost(MAX_REPLICAS))
    .default(1)
    .describe('fewest replicas; 0 allows scale-to-zero'),
  max: int(1).max(MAX_REPLICAS, atMost(MAX_REPLICAS)).describe('most replicas'),
  target: targetSchema.prefault({ inflightPerReplica: 10 }),
  scaleDownDelay: duration()
    .prefault('60s')
    .describe('load must stay low this long before scaling down'),
  idleTimeout: duration()
    .prefault('5m')
    .describe('with min 0: stop all replicas after this long without requests'),
  schedule: listOf(
    strict({
      from: pattern(TIME_RE, 'a local time like "07:00"'),
      to: pattern(TIME_RE, 'a local time like "19:00"'),
      min: int(0),
      days: listOf(oneOf(DAYS), 'a list of days like ["mon", "tue"]')
        .optional()
        .describe('days the window starts on (every day when omitted)'),
    }),
    'a list of windows like { from: "07:00", to: "19:00", min: 20 }',
  ).default([]),
}).superRefine((a, ctx) => {
  if (typeof a.min === 'number' && typeof a.max === 'number' && a.min > a.max) {
    ctx.addIssue({
      code: 'custom',
      path: ['min'],
      message: `expected at most max (${a.max}), got ${a.min}`,
    });
  }
  if (!Array.isArray(a.schedule) || typeof a.max !== 'number') return;
  a.schedule.forEach((w, i) => {
    if (typeof w?.min === 'number' && w.min > a.max) {
      ctx.addIssue({
        code: 'custom',
        path: ['schedule', i, 'min'],
        message: `expected at most max (${a.max}), got ${w.min}`,
      });
    }
  });
}, evenWithIssues);

const serviceSchema = strict(
  {
    image: pattern(/^\S+$/, 'an image like "demo-web:v1"').max(512, atMost('512 characters')),
    port: int(1, 65535).describe('the port the container listens on'),
    hosts: listOf(hostSchema, 'a list of hosts like ["app.example.com"]')
      .default(['*'])
      .transform((hosts) => [...new Set(hosts)])
      .describe('Host header routing; "*" = default service; [] = only reachable through links'),
    replicas: int(1).max(MAX_REPLICAS, atMost(MAX_REPLICAS)).default(1),
    env: recordOf(
      /^[^=\s]+$/,
      'environment variable name',
      'a name without "=" or spaces',
      z
        .union([z.string(), z.number(), z.boolean()], expecting('a string, number or boolean'))
        .transform(String),
      'a mapping of NAME: value',
    ).default({}),
    command: listOf(str(), 'a list of strings like ["node", "server.js"]')
      .min(1, expecting('a non-empty list of strings'))
      .optional()
      .describe("overrides the image's command"),
    resources: strict({
      memory: size(undefined, 1).optional().describe('memory limit per container, like 128m'),
      cpus: num({ gt: 0 }, 'a number of CPUs above 0, like 0.5').optional(),
    }).optional(),
    healthcheck: healthcheckSchema.prefault({}),
    deploy: deploySchema.prefault({}),
    acceptance: strict({
      header: pattern(HEADER_RE, 'an HTTP header name').default('X-Shipit-Track'),
      cookie: pattern(HEADER_RE, 'a cookie name').default('shipit-track'),
    })
      .prefault({})
      .describe(
        'a request with this header or cookie set to "next" reaches the release in rollout',
      ),
    autoscale: autoscaleSchema.optional(),
    links: listOf(pattern(NAME_RE, 'a service name'), 'a list of service names')
      .max(100, atMost('100 service names'))
      .default([])
      .describe("names this service's containers can call"),
  },
  'a mapping of service settings',
);

const threshold = (what: string) =>
  z
    .union([z.number(), z.string()], expecting('a number'))
    .optional()
    .describe(
      `${what}: error_rate and cpu are ratios, p99 a duration, memory a size, rps requests per second`,
    );

const alertWhenSchema = strict({
  metric: oneOf(ALERT_METRICS),
  above: threshold('fires when the metric is above this'),
  below: threshold('fires when the metric is below this'),
  for: duration().prefault(0).describe('the condition must hold this long'),
  window: duration()
    .prefault('10s')
    .describe('error_rate, p99 and rps are computed over this sliding window'),
}).transform((w, ctx) => {
  const given = (['above', 'below'] as const).filter((k) => w[k] !== undefined);
  if (given.length !== 1) {
    ctx.issues.push({
      code: 'custom',
      path: given.length ? ['below'] : [],
      input: w,
      message: given.length
        ? 'expected either above or below, not both'
        : 'expected a threshold: above or below',
    });
    return z.NEVER;
  }
  const op = given[0];
  const value = alertThreshold(w.metric, w[op] as number | string);
  if (typeof value === 'number')
    return {
      metric: w.metric,
      for: w.for,
      window: w.window,
      above: op === 'above' ? value : undefined,
      below: op === 'below' ? value : undefined,
    };
  ctx.issues.push({
    code: 'custom',
    path: [op],
    input: w[op],
    message: `expected ${value}, got ${describeValue(w[op])}`,
  });
  return z.NEVER;
});

/** Normalises an alert threshold: p99 to ms, memory to bytes; else the expectation text. */
function alertThreshold(
  metric: (typeof ALERT_METRICS)[number],
  value: number | string,
): number | string {
  if (metric === 'p99') return tryParseDuration(value) ?? DURATION_EXPECTED;
  if (metric === 'memory') return tryParseSize(value) ?? SIZE_EXPECTED;
  return typeof value === 'number' && value >= 0 ? value : 'a number >= 0';
}

const alertSchema = strict({
  name: nonEmptyString('an alert name'),
  service: pattern(NAME_RE, 'a service name'),
  when: alertWhenSchema,
  notify: strict({ webhook: pattern(/^https?:\/\/\S+$/, 'an http(s) URL') }),
});

export const configSchema = strict(
  {
    project: pattern(NAME_RE, `a project name of ${NAME_WHAT}`).describe(
      'names containers and the network',
    ),
    runtime: oneOf(['docker', 'swarm']).default('docker'),
    proxy: strict({
      listen: hostPort('0.0.0.0:8080').default('0.0.0.0:8080').describe('public HTTP listener'),
      upstreamTimeout: duration().prefault('30s').describe('time to first response byte, then 504'),
      maxBodySize: size().prefault('10m').describe('larger request bodies get 413'),
      tls: tlsSchema.optional().describe('HTTPS: certificate files and/or ACME'),
    }).prefault({}),
    api: strict({
      listen: apiListen()
        .default('unix:.shipit/daemon.sock')
        .describe('"unix:PATH" (relative to this file) or "HOST:PORT"; a token is always required'),
    }).prefault({}),
    services: recordOf(
      NAME_RE,
      'service name',
      NAME_WHAT,
      serviceSchema,
      'a mapping of service names to settings',
    ),
    alerts: listOf(alertSchema, 'a list of alerts').default([]),
    logs: strict({
      retention: duration().prefault('7d').describe('log lines older than this are deleted'),
      maxLines: int(1).default(1_000_000).describe('most log lines kept'),
    }).prefault({}),
  },
  'a mapping of settings',
)
  .superRefine(crossCheck, evenWithIssues)
  .describe('shipit.yml: zero-downtime Docker deploys');

export type ShipitConfigInput = z.input<typeof configSchema>;
export type ShipitConfig = z.output<typeof configSchema>;
export type ServiceConfig = ShipitConfig['services'][string];
export type HealthcheckConfig = ServiceConfig['healthcheck'];
export type DeployConfig = ServiceConfig['deploy'];
export type RollingConfig = DeployConfig['rolling'];
export type CanaryConfig = DeployConfig['canary'];
export type CanaryStepConfig = CanaryConfig['steps'][number];
export type RainbowConfig = DeployConfig['rainbow'];
export type AcceptanceConfig = ServiceConfig['acceptance'];
export type AutoscaleConfig = NonNullable<ServiceConfig['autoscale']>;
export type AlertConfig = ShipitConfig['alerts'][number];
export type LogsConfig = ShipitConfig['logs'];

let jsonSchemaCache: Record<string, unknown> | undefined;

/** The JSON Schema of shipit.yml for editors, generated from configSchema (input side). */
export function configJsonSchema(): Record<string, unknown> {
  jsonSchemaCache ??= {
    ...z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'shipit.yml',
  } as Record<string, unknown>;
  return structuredClone(jsonSchemaCache);
}
