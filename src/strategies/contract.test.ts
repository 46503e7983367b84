// One contract for every deploy planner: the same invariants over a grid of
// inputs, first on the plan itself (a pure simulation of its steps), then by
// running the plan through the real Executor on the fake runtime with a
// failure injected at every step.

import pino from 'pino';
import type {
  AnalysisSpec,
  CanaryStepSpec,
  CountOrPercent,
  DeployEvent,
  Plan,
  ReleaseRecord,
  ReleaseStatus,
  ServiceSpec,
  Step,
  StrategyName,
} from '../domain/types';
import { describeStep, formatPlan } from '../domain/types';
import { Executor } from '../engine/executor';
import { RolloutGates } from '../engine/gates';
import { Routes } from '../engine/routes';
import type { Probe } from '../health/probe';
import type { Clock } from '../ports/clock';
import { ProxyRouter } from '../proxy/router';
import { SqliteStore } from '../store/sqlite';
import { FakeRuntime } from '../testing/fake-runtime';
import { PlanSim } from '../testing/plan-sim';
import { planBlueGreen } from './blue-green';
import { planCanary } from './canary';
import { planRainbow } from './rainbow';
import { planRolling, resolveCount } from './rolling';
import type { Desired, Observed, Planner } from './types';

type PlannerName = Extract<StrategyName, 'blue-green' | 'rolling' | 'canary' | 'rainbow'>;
const PLANNERS: Record<PlannerName, Planner> = {
  'blue-green': planBlueGreen,
  rolling: planRolling,
  canary: planCanary,
  rainbow: planRainbow,
};

const NEW = 6;
const LIVE = 5;
const KEPT = [4, 3];
const HOST = 'example.test';
const PROJECT = 'app';

// ---- inputs ------------------------------------------------------------------

interface Knobs {
  replicas: number;
  keepPreviousMs: number;
  rolling?: { maxSurge: CountOrPercent; maxUnavailable: CountOrPercent };
  canary?: { steps: CanaryStepSpec[]; analysis: AnalysisSpec } | { steps: undefined };
  healthIntervalMs?: number;
}

function spec(strategy: PlannerName, image: string, k: Knobs): ServiceSpec {
  const s: ServiceSpec = {
    name: 'web',
    image,
    port: 8080,
    hosts: [HOST],
    replicas: k.replicas,
    env: {},
    healthcheck: {
      path: '/healthz',
      intervalMs: k.healthIntervalMs ?? 1000,
      timeoutMs: 500,
      healthyThreshold: 1,
      unhealthyThreshold: 3,
    },
    deploy: {
      strategy,
      deployTimeoutMs: 1000,
      drainTimeoutMs: 50,
      keepPreviousMs: k.keepPreviousMs,
    },
  };
  if (k.rolling) s.deploy.rolling = k.rolling;
  if (k.canary?.steps) {
    s.deploy.canary = { steps: k.canary.steps, sticky: 'cookie', analysis: k.canary.analysis };
  }
  return s;
}

function record(
  number: number,
  status: ReleaseStatus,
  replicas: number,
  strategy: PlannerName,
  image: string,
): ReleaseRecord {
  return {
    service: 'web',
    number,
    image,
    strategy,
    spec: spec(strategy, image, { replicas, keepPreviousMs: 600_000 }),
    status,
    replicas,
    startedAt: number * 1000,
    finishedAt: number * 1000 + 500,
    result: 'succeeded',
    reason: null,
    demotedAt: status === 'previous' ? number * 1000 + 900 : null,
  };
}

interface Case {
  name: string;
  strategy: PlannerName;
  observed: Observed;
  desired: Desired;
}

const plan = (c: Case): Plan => PLANNERS[c.strategy](c.observed, c.desired);

function makeCase(
  strategy: PlannerName,
  k: Knobs,
  live: { replicas: number } | null,
  keptCount: number,
): Case {
  const observed: Observed = {
    service: 'web',
    live: live ? record(LIVE, 'live', live.replicas, strategy, 'app:old') : null,
    kept: KEPT.slice(0, keptCount).map((n) => record(n, 'previous', 2, strategy, `app:kept${n}`)),
  };
  const parts = [
    `replicas ${k.replicas}`,
    live ? `live r${LIVE} x${live.replicas}` : 'no live',
    `${keptCount} kept`,
    `keepPrevious ${k.keepPreviousMs}`,
  ];
  if (k.rolling)
    parts.push(`maxSurge ${k.rolling.maxSurge} maxUnavailable ${k.rolling.maxUnavailable}`);
  if (k.canary)
    parts.push(
      `steps ${JSON.stringify(k.canary.steps ?? 'default')}${k.canary.steps && k.canary.analysis ? ' +analysis' : ''}`,
    );
  return {
    name: parts.join(', '),
    strategy,
    observed,
    desired: { release: NEW, spec: spec(strategy, 'app:new', k) },
  };
}

const COUNTS: CountOrPercent[] = [0, 1, 2, '25%', '50%', '100%'];
const ANALYSIS: AnalysisSpec = { intervalMs: 5, minRequests: 5, maxErrorRate: 0.1, maxP99Ms: 500 };
const CANARY_STEPS: Knobs['canary'][] = [
  { steps: undefined },
  {
    steps: [
      { weight: 0, pauseMs: 'manual' },
      { weight: 5, pauseMs: 30_000 },
      { weight: 50, pauseMs: 'manual' },
    ],
    analysis: ANALYSIS,
  },
  {
    steps: [
      { weight: 0, pauseMs: 0 },
      { weight: 10, pauseMs: 20 },
      { weight: 100, pauseMs: 'manual' },
    ],
    analysis: ANALYSIS,
  },
  { steps: [{ weight: 25, pauseMs: 0 }], analysis: ANALYSIS },
  { steps: [] as CanaryStepSpec[], analysis: ANALYSIS },
];

function grid(strategy: PlannerName): Case[] {
  const cases: Case[] = [];
  const variants: Partial<Knobs>[] =
    strategy === 'rolling'
      ? COUNTS.flatMap((maxSurge) =>
          COUNTS.filter((maxUnavailable) => !(maxSurge === 0 && maxUnavailable === 0)).map(
            (maxUnavailable) => ({ rolling: { maxSurge, maxUnavailable } }),
          ),
        )
      : strategy === 'canary'
        ? CANARY_STEPS.map((canary) => ({ canary }))
        : [{}];
  for (const replicas of [1, 2, 3, 4]) {
    for (const keepPreviousMs of [0, 600_000]) {
      for (const v of variants) {
        const k: Knobs = { replicas, keepPreviousMs, ...v };
        cases.push(makeCase(strategy, k, null, 0));
        for (const liveReplicas of [1, 2, 3, 4]) {
          // kept releases matter little to the shape: vary them at the same replica count only
          for (const kept of liveReplicas === replicas ? [0, 1, 2] : [1])
            cases.push(makeCase(strategy, k, { replicas: liveReplicas }, kept));
        }
      }
    }
  }
  return cases;
}

// ---- a pure simulation of a plan ---------------------------------------------------

/** The observed releases running, the live one routed, the new release `n` deploying. */
function simOf(o: Observed, n: number): PlanSim {
  const sim = PlanSim.running([o.live, ...o.kept].filter((r): r is ReleaseRecord => r !== null));
  sim.status.set(n, 'deploying');
  sim.weights = o.live ? { [o.live.number]: 100 } : {};
  return sim;
}

// ---- invariants -----------------------------------------------------------------

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const label = (list: string, i: number, s: Step) => `${list}[${i}] ${describeStep(s)}`;

function releasesOf(s: Step): number[] {
  return s.kind === 'set-weights' ? Object.keys(s.weights).map(Number) : [s.release];
}

function checkWeights(p: Plan): string[] {
  const bad: string[] = [];
  for (const [list, steps] of [
    ['steps', p.steps],
    ['compensation', p.compensation],
  ] as const) {
    steps.forEach((s, i) => {
      if (s.kind !== 'set-weights') return;
      const ws = Object.values(s.weights);
      const sum = ws.reduce((a, b) => a + b, 0);
      if (sum !== 100) bad.push(`${label(list, i, s)}: weights sum to ${sum}`);
      if (ws.some((w) => !Number.isInteger(w) || w < 0 || w > 100))
        bad.push(`${label(list, i, s)}: a weight outside 0..100`);
    });
  }
  return bad;
}

function checkReferences(p: Plan, c: Case): string[] {
  const known = new Set([
    NEW,
    ...(c.observed.live ? [LIVE] : []),
    ...c.observed.kept.map((k) => k.number),
  ]);
  const bad: string[] = [];
  [...p.steps, ...p.compensation].forEach((s, i) => {
    for (const r of releasesOf(s)) if (!known.has(r)) bad.push(`step ${i}: unknown release r${r}`);
  });
  return bad;
}

/** A remove of a release that took traffic comes after a drain of the same containers, with no re-routing between. */
function checkDrainBeforeRemove(list: string, steps: Step[], tookTraffic: Set<number>): string[] {
  const bad: string[] = [];
  const took = new Set(tookTraffic);
  const drains: Extract<Step, { kind: 'drain' }>[] = [];
  steps.forEach((s, i) => {
    if (s.kind === 'set-weights') {
      for (const r of Object.keys(s.weights).map(Number)) {
        took.add(r);
        // re-routing a release undoes its earlier drains
        for (let j = drains.length - 1; j >= 0; j--)
          if (drains[j].release === r) drains.splice(j, 1);
      }
    }
    if (s.kind === 'drain') drains.push(s);
    if (s.kind !== 'remove' || !took.has(s.release)) return;
    const covered = drains.some(
      (d) =>
        d.release === s.release &&
        (d.indices === undefined ||
          (s.indices !== undefined &&
            d.indices.length === s.indices.length &&
            s.indices.every((x) => d.indices!.includes(x)))),
    );
    if (!covered) bad.push(`${label(list, i, s)}: no drain of the same containers before it`);
  });
  return bad;
}

function checkCauses(p: Plan): string[] {
  const bad: string[] = [];
  const lines = formatPlan(p).split('\n');
  p.steps.forEach((s, i) => {
    const line = lines[i + 1] ?? '';
    if (!s.cause.trim()) bad.push(`${label('steps', i, s)}: empty cause`);
    if (!line.startsWith(`  ${i + 1}. ${describeStep(s)}`) || !line.endsWith(`— ${s.cause}`))
      bad.push(`${label('steps', i, s)}: line "${line}" lacks its cause`);
  });
  if (p.compensation.length && lines[p.steps.length + 1] !== '  on failure:')
    bad.push('no "on failure:" section');
  p.compensation.forEach((s, i) => {
    const line = lines[p.steps.length + 2 + i] ?? '';
    if (!s.cause.trim()) bad.push(`${label('compensation', i, s)}: empty cause`);
    if (!line.startsWith(`   - ${describeStep(s)}`) || !line.endsWith(`— ${s.cause}`))
      bad.push(`${label('compensation', i, s)}: line "${line}" lacks its cause`);
  });
  if (lines.length !== 1 + p.steps.length + (p.compensation.length ? 1 + p.compensation.length : 0))
    bad.push(`formatPlan has ${lines.length} lines`);
  return bad;
}

/** Simulates the steps: the end state of a successful deploy. */
function checkOutcome(p: Plan, c: Case): string[] {
  const bad: string[] = [];
  const sim = simOf(c.observed, NEW);
  p.steps.forEach((s) => sim.apply(s));
  const want = c.desired.spec.replicas;
  const boxes = [...sim.of(NEW).entries()];
  if (boxes.length !== want) bad.push(`ends with ${boxes.length} new containers, not ${want}`);
  if (
    boxes
      .map(([i]) => i)
      .sort((a, b) => a - b)
      .join() !== range(want).join()
  )
    bad.push(`new container indices ${boxes.map(([i]) => i).join()}`);
  if (boxes.some(([, b]) => !b.healthy)) bad.push('a new container never waited healthy');
  if (c.strategy === 'rainbow' && c.observed.live) {
    // Rainbow's end state: the new release takes every new user; the one that
    // served stays live at weight 0 with its containers; kept releases are untouched.
    const live = c.observed.live;
    if (JSON.stringify(sim.weights) !== JSON.stringify({ [LIVE]: 0, [NEW]: 100 }))
      bad.push(`ends routing ${JSON.stringify(sim.weights)}`);
    if (sim.status.get(NEW) !== 'live') bad.push(`r${NEW} ends ${sim.status.get(NEW)}`);
    if (sim.status.get(LIVE) !== 'live') bad.push(`old live r${LIVE} ends ${sim.status.get(LIVE)}`);
    if (sim.count(LIVE) !== live.replicas)
      bad.push(`old live r${LIVE} keeps ${sim.count(LIVE)} containers`);
    for (const k of c.observed.kept) {
      if (sim.count(k.number) === 0) bad.push(`kept r${k.number} lost its containers`);
    }
    return bad;
  }
  if (JSON.stringify(sim.weights) !== JSON.stringify({ [NEW]: 100 }))
    bad.push(`ends routing ${JSON.stringify(sim.weights)}`);
  if (sim.status.get(NEW) !== 'live') bad.push(`r${NEW} ends ${sim.status.get(NEW)}`);
  const live = c.observed.live;
  if (live) {
    const keeps = c.strategy !== 'rolling' && c.desired.spec.deploy.keepPreviousMs > 0;
    const status = sim.status.get(LIVE);
    if (status !== (keeps ? 'previous' : 'retired')) bad.push(`old live r${LIVE} ends ${status}`);
    const left = sim.count(LIVE);
    if (left !== (keeps ? live.replicas : 0))
      bad.push(`old live r${LIVE} keeps ${left} containers`);
  }
  if (c.strategy !== 'rolling' || !live) {
    for (const k of c.observed.kept) {
      if (sim.count(k.number) !== 0) bad.push(`kept r${k.number} still has containers`);
      if (sim.status.get(k.number) !== 'retired') bad.push(`kept r${k.number} not retired`);
    }
  }
  return bad;
}

function checkCompensationShape(p: Plan, c: Case): string[] {
  const bad: string[] = [];
  const comp = p.compensation;
  const routes = comp.filter((s) => s.kind === 'set-weights');
  if (c.observed.live) {
    const last = routes.at(-1);
    if (!last || JSON.stringify(last.weights) !== JSON.stringify({ [LIVE]: 100 }))
      bad.push('compensation does not route 100% back to the live release');
    if (!comp.some((s) => s.kind === 'mark' && s.release === LIVE && s.status === 'live'))
      bad.push('compensation does not record the live release live');
  } else if (routes.length) bad.push('a first deploy compensation routes something');
  if (!comp.some((s) => s.kind === 'remove' && s.release === NEW && !s.indices))
    bad.push('compensation does not remove the new release');
  if (!comp.some((s) => s.kind === 'mark' && s.release === NEW && s.status === 'failed'))
    bad.push('compensation does not record the new release failed');
  if (comp.some((s) => s.bestEffort)) bad.push('a best-effort compensation step');
  return bad;
}

/**
 * For a failure at every (non best-effort) step, before or after the step took
 * effect: running the compensation brings back the live release in full.
 */
function checkCompensationRestores(p: Plan, c: Case, k: number): string[] {
  const live = c.observed.live;
  if (!live) return [];
  const bad: string[] = [];
  for (const applied of [false, true]) {
    const sim = simOf(c.observed, NEW);
    p.steps.slice(0, k + (applied ? 1 : 0)).forEach((s) => sim.apply(s));
    p.compensation.forEach((s) => sim.apply(s));
    const at = `failure at ${label('steps', k, p.steps[k])} (${applied ? 'after' : 'before'} it took effect)`;
    const boxes = [...sim.of(LIVE).entries()];
    if (
      boxes
        .map(([i]) => i)
        .sort((a, b) => a - b)
        .join() !== range(live.replicas).join()
    )
      bad.push(`${at}: r${LIVE} has containers [${boxes.map(([i]) => i).join()}]`);
    if (boxes.some(([, b]) => !b.healthy || b.draining))
      bad.push(`${at}: a r${LIVE} container is not serving`);
    if (JSON.stringify(sim.weights) !== JSON.stringify({ [LIVE]: 100 }))
      bad.push(`${at}: routing ${JSON.stringify(sim.weights)}`);
    if (sim.count(NEW) !== 0) bad.push(`${at}: r${NEW} keeps containers`);
    if (sim.status.get(LIVE) !== 'live') bad.push(`${at}: r${LIVE} is ${sim.status.get(LIVE)}`);
  }
  return bad;
}

/** maxSurge / maxUnavailable as the rolling planner applies them (both 0 after rounding: surge 1). */
function effectiveLimits(c: Case): { surge: number; unavailable: number; bumped: boolean } {
  const r = c.desired.spec.deploy.rolling!;
  const want = c.desired.spec.replicas;
  const surge = resolveCount(r.maxSurge, want, 'up');
  const unavailable = resolveCount(r.maxUnavailable, want, 'down');
  const bumped = surge === 0 && unavailable === 0;
  return { surge: bumped ? 1 : surge, unavailable, bumped };
}

/**
 * Rolling, step by step: never more than replicas + maxSurge containers of the
 * two releases, never fewer than replicas - maxUnavailable serving (healthy and
 * routed). When the live release runs another replica count, the bounds are
 * taken against what runs now: max(old, new) + maxSurge containers, and the
 * serving floor is min(old, replicas - maxUnavailable) (a plan must not make
 * availability worse than the configured floor allows).
 */
function checkRollingCapacity(p: Plan, c: Case): string[] {
  const live = c.observed.live!;
  const want = c.desired.spec.replicas;
  const { surge, unavailable, bumped } = effectiveLimits(c);
  // When both limits round to 0 the planner surges by 1 and must keep full capacity.
  const floorUnavailable = bumped ? 0 : unavailable;
  const maxTotal = Math.max(live.replicas, want) + surge;
  const minServing = Math.min(live.replicas, want - floorUnavailable);
  const bad: string[] = [];
  const sim = simOf(c.observed, NEW);
  const check = (where: string) => {
    const total = sim.count(LIVE) + sim.count(NEW);
    const serving = sim.serving([LIVE, NEW]);
    if (total > maxTotal) bad.push(`${where}: ${total} containers > ${maxTotal}`);
    if (serving < minServing) bad.push(`${where}: ${serving} serving < ${minServing}`);
  };
  check('before the first step');
  p.steps.forEach((s, i) => {
    sim.apply(s);
    check(`after ${label('steps', i, s)}`);
  });
  return bad;
}

// ---- known bugs ------------------------------------------------------------------------

// ---- the planner contract ------------------------------------------------------------

describe.each(['blue-green', 'rolling', 'canary', 'rainbow'] as PlannerName[])(
  'planner contract: %s',
  (strategy) => {
    const cases = grid(strategy);

    it(`covers a grid of ${strategy} inputs`, () => {
      expect(cases.length).toBeGreaterThan(strategy === 'rolling' ? 1000 : 50);
    });

    const all = (check: (p: Plan, c: Case) => string[]) => () => {
      const bad = cases.flatMap((c) => check(plan(c), c).map((m) => `${c.name}: ${m}`));
      expect(bad).toEqual([]);
    };

    it(
      'names the service, the release and the strategy (a first deploy keeps the strategy name)',
      all((p, c) =>
        p.service === 'web' && p.release === NEW && p.strategy === c.strategy
          ? []
          : [`${p.service} r${p.release} ${p.strategy}`],
      ),
    );

    it(
      'every set-weights step (steps and compensation) has weights summing to 100',
      all((p) => checkWeights(p)),
    );

    it('references only the new, the live or a kept release', all(checkReferences));

    it(
      'drains a release that took traffic before removing it, in the steps',
      all((p, c) =>
        checkDrainBeforeRemove(
          'steps',
          p.steps,
          new Set([...(c.observed.live ? [LIVE] : []), ...c.observed.kept.map((k) => k.number)]),
        ),
      ),
    );

    it(
      'drains a release that took traffic before removing it, in the compensation',
      all((p, c) =>
        // the compensation may run after any step: every release may have taken traffic
        checkDrainBeforeRemove(
          'compensation',
          p.compensation,
          new Set([
            NEW,
            ...(c.observed.live ? [LIVE] : []),
            ...c.observed.kept.map((k) => k.number),
          ]),
        ),
      ),
    );

    it('gives every step a non-empty cause, shown on its own line of formatPlan', all(checkCauses));

    it(
      'ends with exactly `replicas` healthy new containers taking 100% of traffic',
      all(checkOutcome),
    );

    it(
      'has a compensation that routes 100% back to the live release and removes the new one',
      all(checkCompensationShape),
    );

    it('restores the live release in full from a failure at any step', () => {
      const bad = cases.flatMap((c) => {
        const p = plan(c);
        return p.steps.flatMap((s, k) =>
          s.bestEffort ? [] : checkCompensationRestores(p, c, k).map((m) => `${c.name}: ${m}`),
        );
      });
      expect(bad).toEqual([]);
    });

    if (strategy === 'rolling') {
      it('keeps within maxSurge and maxUnavailable at every step (same replica count)', () => {
        const bad = cases
          .filter((c) => c.observed.live && c.observed.live.replicas === c.desired.spec.replicas)
          .flatMap((c) => checkRollingCapacity(plan(c), c).map((m) => `${c.name}: ${m}`));
        expect(bad).toEqual([]);
      });

      it('keeps within maxSurge and maxUnavailable at every step when the replica count changes', () => {
        const bad = cases
          .filter((c) => c.observed.live && c.observed.live.replicas !== c.desired.spec.replicas)
          .flatMap((c) => checkRollingCapacity(plan(c), c).map((m) => `${c.name}: ${m}`));
        expect(bad).toEqual([]);
      });

      it(
        'removes the old live containers in batches by index, never one twice',
        all((p, c) => {
          if (!c.observed.live) return [];
          const removed = p.steps.flatMap((s) =>
            s.kind === 'remove' && s.release === LIVE ? (s.indices ?? [-1]) : [],
          );
          return removed.join() === range(c.observed.live.replicas).join()
            ? []
            : [`removes r${LIVE} [${removed.join()}]`];
        }),
      );

      it(
        'starts the new containers by index 1..replicas, each once, in batches',
        all((p, c) => {
          if (!c.observed.live) return [];
          const started = p.steps.flatMap((s) =>
            s.kind === 'start' && s.release === NEW ? (s.indices ?? [-1]) : [],
          );
          return started.join() === range(c.desired.spec.replicas).join()
            ? []
            : [`starts [${started.join()}]`];
        }),
      );
    }
  },
);

// ---- the checks themselves catch broken plans -------------------------------------

describe('the contract checks catch broken plans', () => {
  const live = (strategy: PlannerName, k: Partial<Knobs> = {}, replicas = 3) =>
    makeCase(strategy, { replicas, keepPreviousMs: 0, ...k }, { replicas }, 1);
  const edit = (p: Plan, f: (p: Plan) => void): Plan => {
    const copy = structuredClone(p);
    f(copy);
    return copy;
  };

  it('weights that do not sum to 100', () => {
    const c = live('blue-green');
    const p = edit(plan(c), (x) => {
      const s = x.steps.find((s) => s.kind === 'set-weights')!;
      if (s.kind === 'set-weights') s.weights = { [NEW]: 99 };
    });
    expect(checkWeights(p)).toEqual([expect.stringContaining('weights sum to 99')]);
  });

  it('an unknown release', () => {
    const c = live('canary');
    const p = edit(plan(c), (x) =>
      x.steps.push({ kind: 'mark', release: 42, status: 'failed', cause: 'x' }),
    );
    expect(checkReferences(p, c)).toEqual([expect.stringContaining('unknown release r42')]);
  });

  it('a remove without its drain, or with a re-routing in between', () => {
    const c = live('rolling', { rolling: { maxSurge: 1, maxUnavailable: 0 } });
    const took = new Set([LIVE]);
    const noDrain = edit(plan(c), (x) => {
      x.steps = x.steps.filter((s) => s.kind !== 'drain');
    });
    expect(checkDrainBeforeRemove('steps', noDrain.steps, took)).toHaveLength(3);
    const rerouted = edit(plan(c), (x) => {
      const i = x.steps.findIndex((s) => s.kind === 'remove');
      x.steps.splice(i, 0, { kind: 'set-weights', weights: { [LIVE]: 50, [NEW]: 50 }, cause: 'x' });
    });
    expect(checkDrainBeforeRemove('steps', rerouted.steps, took)).toHaveLength(1);
    const otherIndices = edit(plan(c), (x) => {
      const d = x.steps.find((s) => s.kind === 'drain')!;
      if (d.kind === 'drain') d.indices = [2];
    });
    expect(checkDrainBeforeRemove('steps', otherIndices.steps, took)).toHaveLength(1);
  });

  it('an empty cause', () => {
    const p = edit(plan(live('blue-green')), (x) => void (x.compensation[0].cause = ''));
    expect(checkCauses(p).length).toBeGreaterThan(0);
  });

  it('a rolling plan that starts every new container at once, or removes old ones too early', () => {
    const c = live('rolling', { rolling: { maxSurge: 1, maxUnavailable: 0 } });
    const allAtOnce = edit(plan(c), (x) => {
      x.steps.unshift({ kind: 'start', release: NEW, count: 3, cause: 'x' });
    });
    expect(checkRollingCapacity(allAtOnce, c).join()).toContain('6 containers > 4');
    const early = edit(plan(c), (x) => {
      x.steps.unshift({ kind: 'drain', release: LIVE, indices: [1], timeoutMs: 1, cause: 'x' });
    });
    expect(checkRollingCapacity(early, c).join()).toContain('2 serving < 3');
  });

  it('a compensation that does not bring back the removed old containers', () => {
    const c = live('rolling', { rolling: { maxSurge: 1, maxUnavailable: 0 } });
    const p = edit(plan(c), (x) => {
      x.compensation = x.compensation.filter((s) => s.kind !== 'start');
    });
    const k = p.steps.findIndex((s) => s.kind === 'remove');
    expect(checkCompensationRestores(p, c, k).join()).toContain('r5 has containers [2,3]');
    expect(checkCompensationRestores(p, c, 0)).toEqual([]);
  });

  it('a compensation that does not route back or does not remove the new release', () => {
    const c = live('canary');
    const p = edit(plan(c), (x) => {
      x.compensation = x.compensation.filter(
        (s) => s.kind !== 'set-weights' && s.kind !== 'remove',
      );
    });
    expect(checkCompensationShape(p, c)).toEqual([
      'compensation does not route 100% back to the live release',
      'compensation does not remove the new release',
    ]);
  });

  it('an outcome with the wrong number of new containers', () => {
    const c = live('blue-green');
    const p = edit(plan(c), (x) => {
      const s = x.steps[0];
      if (s.kind === 'start') s.count = 2;
    });
    expect(checkOutcome(p, c)).toContain('ends with 2 new containers, not 3');
  });
});

// ---- the executor contract ---------------------------------------------------------

/** A clock that advances instantly when slept on (health waits and drains cost no time). */
function fakeClock(): Clock {
  let t = 1_000_000;
  return { now: () => t, sleep: async (ms) => void (t += ms) };
}

type Kind = Step['kind'];

interface RunResult {
  error: Error | null;
  injected: boolean;
  events: DeployEvent[];
  runtime: FakeRuntime;
  store: SqliteStore;
  router: ProxyRouter;
}

/**
 * Runs the case's plan through the real Executor on the fake runtime. When
 * `failAt` is set, the step at that index fails: start (runtime.start throws),
 * wait-healthy (the probe fails), set-weights (the router refuses the routes),
 * drain (router.drain throws), remove (runtime.stop throws), mark (the store
 * write fails), pause (`shipit abort`).
 */
async function runPlan(c: Case, failAt: number | null): Promise<RunResult> {
  const p = plan(c);
  const runtime = new FakeRuntime({ images: ['app:old', 'app:new', 'app:kept4', 'app:kept3'] });
  const store = SqliteStore.openMemory();
  const clock = fakeClock();
  const router = new ProxyRouter(clock);
  const routes = new Routes(router, { watch: () => {} });
  const gates = new RolloutGates();
  let armed: Kind | null = null;
  let injected = false;
  const fire = (kind: Kind) => {
    if (armed !== kind) return;
    armed = null;
    injected = true;
    throw new Error(`injected ${kind} failure`);
  };
  const probe: Probe = async () => {
    if (armed === 'wait-healthy') {
      injected = true;
      return { ok: false, detail: 'injected: GET /healthz -> 500' };
    }
    return { ok: true, detail: 'GET /healthz -> 200' };
  };

  // what exists before the deploy
  const specs = new Map<number, ServiceSpec>([[NEW, c.desired.spec]]);
  for (const r of [c.observed.live, ...c.observed.kept]) {
    if (!r) continue;
    specs.set(r.number, r.spec);
    store.insertRelease(r);
    for (const index of range(r.replicas)) {
      await runtime.start({
        project: PROJECT,
        service: 'web',
        release: r.number,
        index,
        image: r.image,
        port: r.spec.port,
        env: {},
      });
    }
  }
  store.insertRelease({
    ...record(NEW, 'deploying', c.desired.spec.replicas, c.strategy, 'app:new'),
    spec: c.desired.spec,
    finishedAt: null,
    result: null,
  });
  const live = c.observed.live;
  if (live) {
    routes.publish('web', [
      {
        number: LIVE,
        weight: 100,
        spec: live.spec,
        containers: runtime.running({ release: LIVE }),
      },
    ]);
  }

  // one-shot failures
  const start = runtime.start.bind(runtime);
  runtime.start = async (s) => {
    fire('start');
    return start(s);
  };
  const stop = runtime.stop.bind(runtime);
  runtime.stop = async (id, grace) => {
    fire('remove');
    return stop(id, grace);
  };
  const setService = router.setService.bind(router);
  router.setService = (...args) => {
    fire('set-weights');
    return setService(...args);
  };
  const drain = router.drain.bind(router);
  router.drain = async (ids, ms) => {
    fire('drain');
    return drain(ids, ms);
  };
  const update = store.updateRelease.bind(store);
  store.updateRelease = (service, number, patch) => {
    fire('mark');
    return update(service, number, patch);
  };

  const executor = new Executor({
    project: PROJECT,
    runtime,
    router,
    routes,
    store,
    probe,
    clock,
    log: pino({ level: 'silent' }),
    gates,
  });
  const events: DeployEvent[] = [];
  gates.begin('web');
  let error: Error | null = null;
  try {
    await executor.run(
      p,
      (n) => {
        const s = specs.get(n);
        if (!s) throw new Error(`no spec for r${n}`);
        return s;
      },
      (e) => {
        events.push({ service: 'web', at: clock.now(), ...e });
        if (e.type === 'step') {
          const i = Number(/^\[(\d+)\//.exec(e.message)![1]) - 1;
          if (i === failAt) {
            armed = p.steps[i].kind;
            if (armed === 'pause') {
              injected = true;
              setImmediate(() => gates.abort('web', 'injected abort'));
            }
          }
        }
        if (e.type === 'paused' && armed !== 'pause') setImmediate(() => gates.promote('web'));
        if (e.type === 'step-failed' || e.type === 'step-done' || e.type === 'warning')
          armed = null;
      },
    );
  } catch (e) {
    error = e as Error;
  } finally {
    gates.end('web');
  }
  return { error, injected, events, runtime, store, router };
}

const routedIds = (r: RunResult, release: number) =>
  (r.router.table.lookup(HOST)?.releases.get(release)?.targets ?? [])
    .filter((t) => t.available)
    .map((t) => t.id)
    .sort();

function expectDeployed(r: RunResult, c: Case): void {
  expect(r.error).toBeNull();
  expect(r.router.weights('web')).toEqual({ [NEW]: 100 });
  const mine = r.runtime.running({ release: NEW });
  expect(mine.map((x) => x.index)).toEqual(range(c.desired.spec.replicas));
  expect(routedIds(r, NEW)).toEqual(mine.map((x) => x.id).sort());
  expect(r.store.getRelease('web', NEW)!.status).toBe('live');
}

function expectLiveUnchanged(r: RunResult, c: Case): void {
  expect(r.error).toBeInstanceOf(Error);
  expect(r.injected).toBe(true);
  // nothing of the new release is left, and it is recorded failed
  expect(r.runtime.all({ release: NEW })).toEqual([]);
  expect(r.router.targets('web').filter((t) => t.release === NEW)).toEqual([]);
  expect(routedIds(r, NEW)).toEqual([]);
  expect(r.store.getRelease('web', NEW)!.status).toBe('failed');
  const live = c.observed.live;
  if (!live) return;
  // the old live release serves everything again, every container of it running and routed
  expect(r.router.weights('web')).toEqual({ [LIVE]: 100 });
  const running = r.runtime.running({ release: LIVE });
  expect(running.map((x) => x.index)).toEqual(range(live.replicas));
  expect(r.runtime.all({ release: LIVE })).toHaveLength(live.replicas);
  expect(routedIds(r, LIVE)).toEqual(running.map((x) => x.id).sort());
  expect(r.store.getRelease('web', LIVE)!.status).toBe('live');
}

const EXEC_CASES: Case[] = [
  makeCase('blue-green', { replicas: 2, keepPreviousMs: 600_000 }, null, 0),
  makeCase('blue-green', { replicas: 2, keepPreviousMs: 600_000 }, { replicas: 2 }, 0),
  makeCase('blue-green', { replicas: 2, keepPreviousMs: 600_000 }, { replicas: 1 }, 1),
  makeCase('blue-green', { replicas: 2, keepPreviousMs: 0 }, { replicas: 2 }, 1),
  makeCase(
    'rolling',
    { replicas: 2, keepPreviousMs: 0, rolling: { maxSurge: 1, maxUnavailable: 0 } },
    null,
    0,
  ),
  makeCase(
    'rolling',
    { replicas: 3, keepPreviousMs: 0, rolling: { maxSurge: 1, maxUnavailable: 0 } },
    { replicas: 3 },
    0,
  ),
  makeCase(
    'rolling',
    { replicas: 3, keepPreviousMs: 600_000, rolling: { maxSurge: '50%', maxUnavailable: 1 } },
    { replicas: 3 },
    1,
  ),
  makeCase(
    'rolling',
    { replicas: 3, keepPreviousMs: 0, rolling: { maxSurge: 0, maxUnavailable: 1 } },
    { replicas: 3 },
    0,
  ),
  makeCase(
    'rolling',
    { replicas: 2, keepPreviousMs: 0, rolling: { maxSurge: 2, maxUnavailable: '100%' } },
    { replicas: 3 },
    0,
  ),
  makeCase(
    'rolling',
    { replicas: 1, keepPreviousMs: 0, rolling: { maxSurge: 1, maxUnavailable: 0 } },
    { replicas: 1 },
    0,
  ),
  ...[0, 600_000].flatMap((keepPreviousMs) =>
    [0, 1].map((kept) =>
      makeCase(
        'canary',
        {
          replicas: 2,
          keepPreviousMs,
          canary: {
            steps: [
              { weight: 0, pauseMs: 'manual' },
              { weight: 5, pauseMs: 10 },
              { weight: 50, pauseMs: 'manual' },
            ],
            analysis: ANALYSIS,
          },
        },
        { replicas: 2 },
        kept,
      ),
    ),
  ),
  makeCase('canary', { replicas: 1, keepPreviousMs: 0, canary: { steps: undefined } }, null, 0),
];

describe('executor contract: a failure at any step leaves the live release as it was', () => {
  describe.each(EXEC_CASES.map((c) => [`${c.strategy} (${c.name})`, c] as const))(
    '%s',
    (_name, c) => {
      const p = plan(c);

      it('runs to the end when nothing fails', async () => {
        expectDeployed(await runPlan(c, null), c);
      });

      p.steps.forEach((s, k) => {
        const title = `step ${k + 1}/${p.steps.length} (${describeStep(s)}) fails`;
        if (s.bestEffort) {
          it(`${title}: best effort, the deploy still completes`, async () => {
            const r = await runPlan(c, k);
            expect(r.injected).toBe(true);
            expect(
              r.events.some((e) => e.type === 'warning' && e.message.includes('injected')),
            ).toBe(true);
            expectDeployed(r, c);
          });
          return;
        }
        it(`${title}: rolled back`, async () => {
          const r = await runPlan(c, k);
          expectLiveUnchanged(r, c);
          expect(r.events.some((e) => e.type === 'step-failed' && e.data?.step === k + 1)).toBe(
            true,
          );
        });
      });
    },
  );
});
