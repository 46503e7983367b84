// Core value types shared by every layer. Pure data: no I/O, no imports.

export type StrategyName = 'rolling' | 'blue-green' | 'canary' | 'rainbow';

/**
 * deploying: containers being started / checked; live: serving traffic;
 * previous: kept running out of routing for instant rollback; failed: never went live;
 * retired: containers removed after being live.
 */
export type ReleaseStatus = 'deploying' | 'live' | 'previous' | 'failed' | 'retired';

export interface ReleaseRecord {
  service: string;
  number: number;
  image: string;
  strategy: StrategyName;
  /** The service settings this release was made from (durations in ms), as JSON. */
  spec: ServiceSpec;
  status: ReleaseStatus;
  replicas: number;
  startedAt: number;
  finishedAt: number | null;
  /** Outcome of the deploy that created it: succeeded | failed | interrupted. */
  result: string | null;
  reason: string | null;
  /** When a previous release stopped serving (ms epoch): keepPrevious counts from here. */
  demotedAt: number | null;
}

export interface DeployEvent {
  service: string;
  release: number | null;
  at: number;
  type: string;
  message: string;
  data?: Record<string, unknown>;
}

export interface HealthcheckSpec {
  path?: string;
  tcp?: boolean;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

/** A count, or a percentage of replicas like "25%". */
export type CountOrPercent = number | string;

export interface RollingSpec {
  maxSurge: CountOrPercent;
  maxUnavailable: CountOrPercent;
}

export interface CanaryStepSpec {
  /** Percent of traffic on the new release during this step. */
  weight: number;
  /** How long to hold the step, or 'manual' until `shipit promote`. */
  pauseMs: number | 'manual';
}

export interface AnalysisSpec {
  intervalMs: number;
  minRequests: number;
  maxErrorRate: number;
  maxP99Ms?: number;
}

export interface CanarySpec {
  steps: CanaryStepSpec[];
  /** cookie | ip | header:<Name> */
  sticky: string;
  analysis: AnalysisSpec;
}

export interface DeploySpec {
  strategy: StrategyName;
  deployTimeoutMs: number;
  drainTimeoutMs: number;
  keepPreviousMs: number;
  rolling?: RollingSpec;
  canary?: CanarySpec;
  rainbow?: { maxLive: number; maxAgeMs?: number };
}

/** One service's settings, normalised (durations in milliseconds, sizes in bytes). */
export interface ServiceSpec {
  name: string;
  image: string;
  port: number;
  hosts: string[];
  replicas: number;
  env: Record<string, string>;
  command?: string[];
  resources?: { memoryBytes?: number; cpus?: number };
  healthcheck: HealthcheckSpec;
  deploy: DeploySpec;
  /** Requests with this header or cookie set to "next" reach the release in rollout. */
  acceptance?: { header: string; cookie: string };
  autoscale?: AutoscaleSpec;
  /** Services this one's containers call by name (http://api/). */
  links?: string[];
  /** Extra container labels (previews mark theirs). */
  labels?: Record<string, string>;
}

export interface AutoscaleSpec {
  min: number;
  max: number;
  target: { inflightPerReplica?: number; rpsPerReplica?: number; cpu?: number };
  scaleDownDelayMs: number;
  idleTimeoutMs: number;
  schedule: {
    from: string;
    to: string;
    min: number;
    days?: ('sun' | 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat')[];
  }[];
}

/** A container as the runtime reports it. */
export interface ContainerInfo {
  id: string;
  name: string;
  project: string;
  service: string;
  release: number;
  index: number;
  image: string;
  running: boolean;
  state: string;
  /** Address on the project network, or null when not running. */
  ip: string | null;
  port: number;
  exitCode: number | null;
}

export type Weights = Record<number, number>;

/** One thing the executor does. `bestEffort` steps report a failure and go on (cleanup of old releases). */
export type Step = (
  | {
      kind: 'start';
      release: number;
      count: number;
      /** Container indices to start (default 1..count). */
      indices?: number[];
      /** Start only those of 1..count that are not running (restoring a release). */
      ensure?: boolean;
      cause: string;
    }
  | {
      kind: 'wait-healthy';
      release: number;
      timeoutMs: number;
      quick?: boolean;
      /** Probe this often until healthy (a cold start: the first good probe counts). */
      pollMs?: number;
      indices?: number[];
      cause: string;
    }
  | { kind: 'set-weights'; weights: Weights; cause: string }
  | { kind: 'drain'; release: number; timeoutMs: number; indices?: number[]; cause: string }
  | { kind: 'remove'; release: number; indices?: number[]; cause: string }
  | { kind: 'mark'; release: number; status: ReleaseStatus; cause: string }
  | {
      kind: 'pause';
      release: number;
      /** Milliseconds, or 'manual' until `shipit promote`. */
      pauseMs: number | 'manual';
      /** Canary analysis run during the pause against the release's own counters. */
      analysis?: AnalysisSpec;
      cause: string;
    }
) & { bestEffort?: boolean };

export interface Plan {
  service: string;
  release: number;
  strategy: StrategyName;
  steps: Step[];
  /** Run in order when a step fails: brings users back to what they had. */
  compensation: Step[];
}

export function describeStep(s: Step): string {
  switch (s.kind) {
    case 'start':
      if (s.ensure) return `make sure r${s.release} runs its ${s.count} container(s)`;
      return s.indices
        ? `start container(s) ${s.indices.join(', ')} of r${s.release}`
        : `start ${s.count} container(s) of r${s.release}`;
    case 'wait-healthy':
      return `wait until r${s.release} is healthy (${s.quick ? 'one probe each, ' : ''}${s.pollMs ? `probing every ${s.pollMs}ms, ` : ''}timeout ${s.timeoutMs}ms)`;
    case 'set-weights':
      return `route ${
        Object.entries(s.weights)
          .map(([r, w]) => `r${r}=${w}%`)
          .join(', ') || 'nothing'
      }`;
    case 'drain':
      return `drain ${ofRelease(s)} (up to ${s.timeoutMs}ms)`;
    case 'remove':
      return `stop and remove ${s.indices ? ofRelease(s) : `the containers of r${s.release}`}`;
    case 'pause':
      return s.pauseMs === 'manual'
        ? `pause until \`shipit promote\`${s.analysis ? ', with analysis' : ''}`
        : `pause ${s.pauseMs}ms${s.analysis ? ' with analysis' : ''}`;
    case 'mark':
      return `record r${s.release} as ${s.status}`;
  }
}

function ofRelease(s: { release: number; indices?: number[] }): string {
  return s.indices ? `container(s) ${s.indices.join(', ')} of r${s.release}` : `r${s.release}`;
}

export function formatPlan(plan: Plan): string {
  const lines = [`plan: ${plan.service} r${plan.release} (${plan.strategy})`];
  plan.steps.forEach((s, i) =>
    lines.push(
      `  ${i + 1}. ${describeStep(s)}${s.bestEffort ? ' (best effort)' : ''}  — ${s.cause}`,
    ),
  );
  if (plan.compensation.length) {
    lines.push('  on failure:');
    plan.compensation.forEach((s) => lines.push(`   - ${describeStep(s)}  — ${s.cause}`));
  }
  return lines.join('\n');
}
