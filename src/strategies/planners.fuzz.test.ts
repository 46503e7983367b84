// Fuzzing the planners (issue 7.5) with random observed states and desired specs. The
// invariants are the planner contract's (contract.test.ts), over inputs its grid does not
// reach: several releases serving (after rainbow), kept releases with other numbers than
// the live one, hundreds of replicas, any maxSurge / maxUnavailable, any canary steps,
// rollbacks and scaling. Every plan is run over a pure model of the containers:
//   - every set-weights step (and compensation step) sends 100% somewhere, each weight 0..100
//     (integers unless a canary step itself is fractional);
//   - a rolling deploy keeps replicas - maxUnavailable containers serving (healthy, routed
//     with weight > 0) and at most max(old, new) + maxSurge containers; blue-green, canary,
//     rainbow and rollback never leave no container serving when one served before;
//   - the forward steps never drain or remove the new release, drain what took traffic before
//     removing it, and end with the new release live with exactly its replicas, healthy;
//   - the compensation, run after a failure at any step, routes everything back to the release
//     that was live, with every one of its containers serving, and leaves nothing of the new one.

import fc from 'fast-check';
import type {
  CanaryStepSpec,
  CountOrPercent,
  Plan,
  ReleaseRecord,
  ReleaseStatus,
  ServiceSpec,
  Step,
  StrategyName,
  Weights,
} from '../domain/types';
import { describeStep } from '../domain/types';
import { check, fuzzRuns } from '../testing/fuzz';
import { PlanSim } from '../testing/plan-sim';
import { planBlueGreen } from './blue-green';
import { planCanary } from './canary';
import { planRainbow } from './rainbow';
import { planRollback } from './rollback';
import { planRolling, resolveCount } from './rolling';
import { planScale } from './scale';
import type { Observed, Planner } from './types';

const RUNS = fuzzRuns(10_000);

const PLANNERS: Record<StrategyName, Planner> = {
  'blue-green': planBlueGreen,
  rolling: planRolling,
  canary: planCanary,
  rainbow: planRainbow,
};

// ---- a pure model of the containers a plan acts on ------------------------------------------

/** Every known release runs its replicas, healthy; the serving ones are routed as the engine routes them. */
function simOf(o: Observed): PlanSim {
  const serving = o.serving ?? (o.live ? [o.live] : []);
  const sim = PlanSim.running([...serving, ...o.kept]);
  sim.weights = Object.fromEntries(serving.map((r, i) => [r.number, i === 0 ? 100 : 0]));
  return sim;
}

// ---- generated inputs ---------------------------------------------------------------------------

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const label = (list: string, i: number, s: Step) => `${list}[${i}] ${describeStep(s)}`;

/** Mostly a handful of replicas, now and then hundreds (where rounding shows). */
const replicas = (min: number) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.integer({ min, max: 6 }) },
    { weight: 1, arbitrary: fc.integer({ min: Math.max(min, 1), max: 250 }) },
  );

const countOrPercent: fc.Arbitrary<CountOrPercent> = fc.oneof(
  fc.integer({ min: 0, max: 5 }),
  fc.integer({ min: 0, max: 150 }).map((p) => `${p}%`),
  fc.constantFrom<CountOrPercent>(0, '0%', '100%', '999%'),
);

const canarySteps: fc.Arbitrary<CanaryStepSpec[] | undefined> = fc.option(
  fc.array(
    fc.record({
      weight: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 100 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 1000 }).map((w) => w / 10) },
      ),
      pauseMs: fc.oneof(fc.constant(0), fc.nat({ max: 60_000 }), fc.constant('manual' as const)),
    }),
    { minLength: 1, maxLength: 5 },
  ),
  { freq: 6 },
);

interface Knobs {
  strategy: StrategyName;
  replicas: number;
  keepPreviousMs: number;
  rolling?: { maxSurge: CountOrPercent; maxUnavailable: CountOrPercent };
  steps?: CanaryStepSpec[];
  maxLive?: number;
}

const knobs = (strategy: StrategyName): fc.Arbitrary<Knobs> =>
  fc.record({
    strategy: fc.constant(strategy),
    replicas: replicas(1),
    keepPreviousMs: fc.constantFrom(0, 600_000),
    rolling: fc.option(fc.record({ maxSurge: countOrPercent, maxUnavailable: countOrPercent }), {
      nil: undefined,
      freq: 6,
    }),
    steps: canarySteps.map((s) => s ?? undefined),
    maxLive: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined, freq: 6 }),
  });

function spec(k: Knobs): ServiceSpec {
  const s: ServiceSpec = {
    name: 'web',
    image: 'app:new',
    port: 8080,
    hosts: ['example.test'],
    replicas: k.replicas,
    env: {},
    healthcheck: {
      path: '/healthz',
      intervalMs: 1000,
      timeoutMs: 500,
      healthyThreshold: 1,
      unhealthyThreshold: 3,
    },
    deploy: {
      strategy: k.strategy,
      deployTimeoutMs: 1000,
      drainTimeoutMs: 50,
      keepPreviousMs: k.keepPreviousMs,
    },
  };
  if (k.rolling) s.deploy.rolling = k.rolling;
  if (k.steps) {
    s.deploy.canary = {
      steps: k.steps,
      sticky: 'cookie',
      analysis: { intervalMs: 5, minRequests: 5, maxErrorRate: 0.1 },
    };
  }
  if (k.maxLive !== undefined) s.deploy.rainbow = { maxLive: k.maxLive };
  return s;
}

function record(
  number: number,
  status: ReleaseStatus,
  n: number,
  over: Partial<Knobs> = {},
): ReleaseRecord {
  const k: Knobs = { strategy: 'blue-green', replicas: n, keepPreviousMs: 600_000, ...over };
  return {
    service: 'web',
    number,
    image: `app:${number}`,
    strategy: k.strategy,
    spec: spec({ ...k, replicas: Math.max(1, n) }),
    status,
    replicas: n,
    startedAt: number * 1000,
    finishedAt: number * 1000 + 500,
    result: 'succeeded',
    reason: null,
    demotedAt: status === 'previous' ? number * 1000 + 900 : null,
  };
}

/**
 * What the engine observes (Deployer.observe): the releases recorded live, newest first (the
 * first is `live`, the same object), and the previous ones kept, newest first. Release numbers
 * are distinct; a kept release may be newer than the live one (after a rollback).
 */
const observed: fc.Arbitrary<Observed> = fc
  .record({
    numbers: fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { minLength: 6, maxLength: 6 }),
    serving: fc.nat({ max: 3 }),
    kept: fc.nat({ max: 2 }),
    counts: fc.array(replicas(0), { minLength: 5, maxLength: 5 }),
  })
  .map(({ numbers, serving, kept, counts }) => {
    const live = numbers.slice(0, serving).sort((a, b) => b - a);
    const prev = numbers.slice(3, 3 + kept).sort((a, b) => b - a);
    const servingRecords = live.map((n, i) => record(n, 'live', counts[i]));
    return {
      service: 'web',
      live: servingRecords[0] ?? null,
      kept: prev.map((n, i) => record(n, 'previous', Math.max(1, Math.min(counts[3 + i], 4)))),
      ...(servingRecords.length > 1 || serving === 1 ? { serving: servingRecords } : {}),
    };
  });

/** The number of the new release: after every release there is. */
function nextNumber(o: Observed): number {
  const all = [...(o.serving ?? []), ...(o.live ? [o.live] : []), ...o.kept];
  return Math.max(60, ...all.map((r) => r.number)) + 1;
}

// ---- invariants ---------------------------------------------------------------------------------

function checkWeights(p: Plan, integers: boolean): void {
  for (const [list, steps] of [
    ['steps', p.steps],
    ['compensation', p.compensation],
  ] as const) {
    steps.forEach((s, i) => {
      if (s.kind !== 'set-weights') return;
      const ws = Object.values(s.weights);
      const sum = ws.reduce((a, b) => a + b, 0);
      check(sum === 100, () => `${label(list, i, s)}: weights sum to ${sum}`);
      check(
        ws.every((w) => w >= 0 && w <= 100 && (!integers || Number.isInteger(w))),
        () => `${label(list, i, s)}: a weight outside 0..100${integers ? ' or not whole' : ''}`,
      );
    });
  }
}

function checkReferences(p: Plan, known: Set<number>): void {
  [...p.steps, ...p.compensation].forEach((s, i) => {
    const rs = s.kind === 'set-weights' ? Object.keys(s.weights).map(Number) : [s.release];
    for (const r of rs) check(known.has(r), () => `step ${i} (${describeStep(s)}): unknown r${r}`);
  });
}

/** A remove of a release that took traffic comes after a drain of the same containers, with no re-routing between. */
function checkDrainBeforeRemove(list: string, steps: Step[], tookTraffic: Set<number>): void {
  const took = new Set(tookTraffic);
  const drains: Extract<Step, { kind: 'drain' }>[] = [];
  steps.forEach((s, i) => {
    if (s.kind === 'set-weights') {
      for (const r of Object.keys(s.weights).map(Number)) {
        took.add(r);
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
    check(covered, () => `${label(list, i, s)}: no drain of the same containers before it`);
  });
}

/** The forward steps never drain or remove the release they deploy. */
function checkKeepsNew(p: Plan, n: number): void {
  p.steps.forEach((s, i) =>
    check(
      !((s.kind === 'remove' || s.kind === 'drain') && s.release === n),
      () => `${label('steps', i, s)}: takes down the new release`,
    ),
  );
}

/** The new release ends live, with exactly `want` healthy containers 1..want taking its share. */
function checkNewLive(sim: PlanSim, n: number, want: number): void {
  const boxes = [...sim.of(n).entries()];
  const idx = boxes.map(([i]) => i).sort((a, b) => a - b);
  check(idx.join() === range(want).join(), () => `r${n} ends with containers [${idx}]`);
  check(
    boxes.every(([, b]) => b.healthy && !b.draining),
    () => `a container of r${n} is not serving`,
  );
  check(sim.status.get(n) === 'live', () => `r${n} ends ${sim.status.get(n)}`);
  check(sim.weights[n] === 100, () => `ends routing ${JSON.stringify(sim.weights)}`);
}

/**
 * Compensation after a failure at step k (before or after it took effect): all traffic back on
 * the release that was live, every one of its containers serving, nothing left of the new one.
 */
function checkCompensation(
  p: Plan,
  start: PlanSim,
  k: number,
  applied: boolean,
  live: ReleaseRecord,
  n: number,
  newRemoved = true,
): void {
  const sim = start.clone();
  p.steps.slice(0, k + (applied ? 1 : 0)).forEach((s) => sim.apply(s));
  p.compensation.forEach((s) => sim.apply(s));
  const at = () =>
    `failure at ${label('steps', k, p.steps[k])} (${applied ? 'after' : 'before'} it took effect)`;
  const boxes = [...sim.of(live.number).entries()];
  const idx = boxes.map(([i]) => i).sort((a, b) => a - b);
  check(
    idx.join() === range(live.replicas).join(),
    () => `${at()}: r${live.number} has containers [${idx}]`,
  );
  check(
    boxes.every(([, b]) => b.healthy && !b.draining),
    () => `${at()}: a container of r${live.number} is not serving`,
  );
  check(
    sim.weights[live.number] === 100 &&
      Object.entries(sim.weights).every(([r, w]) => Number(r) === live.number || w === 0),
    () => `${at()}: routing ${JSON.stringify(sim.weights)}`,
  );
  check(sim.status.get(live.number) === 'live', () => `${at()}: r${live.number} is not live`);
  if (newRemoved) check(sim.of(n).size === 0, () => `${at()}: r${n} keeps containers`);
}

/** The first non-best-effort step at or after `cut` (a best-effort step's failure is not rolled back). */
function failingStep(p: Plan, cut: number): number | null {
  for (let j = 0; j < p.steps.length; j++) {
    const k = (cut + j) % p.steps.length;
    if (!p.steps[k].bestEffort) return k;
  }
  return null;
}

// ---- deploy planners -------------------------------------------------------------------------------

interface DeployCase {
  o: Observed;
  k: Knobs;
  cut: number;
  applied: boolean;
}

function runDeploy({ o, k, cut, applied }: DeployCase): void {
  const n = nextNumber(o);
  const desired = { release: n, spec: spec(k) };
  const p = PLANNERS[k.strategy](o, desired);
  const live = o.live;
  const serving = o.serving ?? (live ? [live] : []);
  const steps = k.steps ?? [];
  const integers = k.strategy !== 'canary' || steps.every((s) => Number.isInteger(s.weight));

  check(p.release === n && p.service === 'web', () => `plan names r${p.release}`);
  checkWeights(p, integers);
  checkReferences(p, new Set([n, ...serving.map((r) => r.number), ...o.kept.map((r) => r.number)]));
  checkKeepsNew(p, n);
  const before = new Set([...serving, ...o.kept].map((r) => r.number));
  checkDrainBeforeRemove('steps', p.steps, before);
  checkDrainBeforeRemove('compensation', p.compensation, new Set([...before, n]));

  // forward, step by step
  const start = simOf(o);
  const sim = start.clone();
  const rolling = k.strategy === 'rolling' && live;
  let limits: { maxTotal: number; minServing: number } | null = null;
  if (rolling) {
    // as the rolling planner applies them (both 0 after rounding: surge 1, full capacity)
    const r = k.rolling ?? { maxSurge: 1, maxUnavailable: 0 };
    const surge = resolveCount(r.maxSurge, k.replicas, 'up');
    const unavailable = resolveCount(r.maxUnavailable, k.replicas, 'down');
    const bumped = surge === 0 && unavailable === 0;
    limits = {
      maxTotal: Math.max(live.replicas, k.replicas) + (bumped ? 1 : surge),
      minServing: Math.min(live.replicas, k.replicas - (bumped ? 0 : unavailable)),
    };
  }
  const servedBefore = start.serving();
  p.steps.forEach((s, i) => {
    sim.apply(s);
    const where = () => `after ${label('steps', i, s)}`;
    if (limits) {
      const total = sim.of(live!.number).size + sim.of(n).size;
      const now = sim.serving();
      check(
        total <= limits.maxTotal,
        () => `${where()}: ${total} containers > ${limits!.maxTotal}`,
      );
      check(
        now >= limits.minServing,
        () => `${where()}: ${now} serving < ${limits!.minServing} (${JSON.stringify(sim.weights)})`,
      );
    } else if (servedBefore > 0) {
      check(sim.serving() > 0, () => `${where()}: nothing serves (${JSON.stringify(sim.weights)})`);
    }
  });

  // the end state
  checkNewLive(sim, n, k.replicas);
  if (k.strategy === 'rainbow' && serving.length) {
    const maxLive = Math.max(1, k.maxLive ?? 3);
    const keep = serving.slice(0, maxLive - 1);
    const want = Object.fromEntries([[n, 100], ...keep.map((r) => [r.number, 0])]);
    check(
      JSON.stringify(sim.weights) === JSON.stringify(want),
      () => `ends routing ${JSON.stringify(sim.weights)}, not ${JSON.stringify(want)}`,
    );
    for (const r of serving) {
      const kept = keep.includes(r);
      check(
        sim.status.get(r.number) === (kept ? 'live' : 'retired') &&
          sim.of(r.number).size === (kept ? r.replicas : 0),
        () => `serving r${r.number} ends ${sim.status.get(r.number)} with ${sim.of(r.number).size}`,
      );
    }
    for (const r of o.kept)
      check(sim.of(r.number).size === r.replicas, () => `kept r${r.number} lost containers`);
  } else {
    check(
      JSON.stringify(sim.weights) === JSON.stringify({ [n]: 100 }),
      () => `ends routing ${JSON.stringify(sim.weights)}`,
    );
    if (live) {
      const keeps = k.strategy !== 'rolling' && k.keepPreviousMs > 0;
      check(
        sim.status.get(live.number) === (keeps ? 'previous' : 'retired') &&
          sim.of(live.number).size === (keeps ? live.replicas : 0),
        () =>
          `old live r${live.number} ends ${sim.status.get(live.number)} with ${sim.of(live.number).size}`,
      );
    }
    if (k.strategy !== 'rolling' || !live) {
      for (const r of [...o.kept, ...serving.slice(1)])
        check(
          sim.status.get(r.number) === 'retired' && sim.of(r.number).size === 0,
          () => `r${r.number} ends ${sim.status.get(r.number)} with ${sim.of(r.number).size}`,
        );
    }
  }

  // a failure at a step
  const failAt = failingStep(p, cut);
  if (live && failAt !== null) checkCompensation(p, start, failAt, applied, live, n);
  if (!live) {
    check(
      !p.compensation.some((s) => s.kind === 'set-weights'),
      () => 'a first deploy compensation routes something',
    );
  }
}

/** Half the time the live release runs about as many containers as the new one will (where a rollout's rounding is tightest). */
const deployCase = (strategy: StrategyName): fc.Arbitrary<DeployCase> =>
  fc
    .record({
      o: observed,
      k: knobs(strategy),
      cut: fc.nat(),
      applied: fc.boolean(),
      near: fc.option(fc.integer({ min: -2, max: 2 })),
    })
    .map(({ o, k, cut, applied, near }) => {
      if (near === null || !o.live) return { o, k, cut, applied };
      const live = { ...o.live, replicas: Math.max(0, k.replicas + near) };
      const serving = o.serving && [live, ...o.serving.slice(1)];
      return { o: { ...o, live, ...(serving ? { serving } : {}) }, k, cut, applied };
    });

describe('planner fuzz: deploys', () => {
  for (const strategy of ['blue-green', 'rolling', 'canary', 'rainbow'] as StrategyName[]) {
    it(`${strategy}: weights, capacity, outcome and compensation hold for random states`, () => {
      fc.assert(fc.property(deployCase(strategy), runDeploy), { numRuns: RUNS });
    });
  }
});

// ---- rollback -------------------------------------------------------------------------------------

describe('planner fuzz: rollback', () => {
  it('flips back to the target with its containers healthy; a failure routes back to the live release', () => {
    const rollbackCase = fc.record({
      o: observed,
      target: fc.record({
        kept: fc.boolean(),
        replicas: replicas(1),
        keepPreviousMs: fc.constantFrom(0, 600_000),
        running: fc.boolean(),
      }),
      cut: fc.nat(),
      applied: fc.boolean(),
    });
    fc.assert(
      fc.property(rollbackCase, ({ o, target: t, cut, applied }) => {
        // the target: the newest kept release (still running or not), else an older retired one
        const useKept = t.kept && o.kept.length > 0;
        const target = useKept
          ? o.kept[0]
          : record(nextNumber(o), 'retired', t.replicas, { keepPreviousMs: t.keepPreviousMs });
        const running = useKept && t.running;
        const p = planRollback(o, target, running);
        const n = target.number;
        const live = o.live;
        const serving = o.serving ?? (live ? [live] : []);

        checkWeights(p, true);
        checkReferences(
          p,
          new Set([n, ...serving.map((r) => r.number), ...o.kept.map((r) => r.number)]),
        );
        checkKeepsNew(p, n);
        checkDrainBeforeRemove(
          'steps',
          p.steps,
          new Set([...serving, ...o.kept].map((r) => r.number)),
        );

        // a kept target runs its containers when still running; a retired one has none
        const start = simOf(o);
        if (!running) start.containers.set(n, new Map());
        start.status.set(n, target.status);
        const sim = start.clone();
        const servedBefore = sim.serving();
        p.steps.forEach((s, i) => {
          sim.apply(s);
          if (servedBefore > 0)
            check(sim.serving() > 0, () => `after ${label('steps', i, s)}: nothing serves`);
        });
        checkNewLive(sim, n, target.replicas);
        check(
          JSON.stringify(sim.weights) === JSON.stringify({ [n]: 100 }),
          () => `ends routing ${JSON.stringify(sim.weights)}`,
        );
        if (live) {
          const keeps = target.spec.deploy.keepPreviousMs > 0;
          check(
            sim.status.get(live.number) === (keeps ? 'previous' : 'retired') &&
              sim.of(live.number).size === (keeps ? live.replicas : 0),
            () => `old live r${live.number} ends ${sim.status.get(live.number)}`,
          );
        }
        for (const r of [...o.kept.filter((x) => x !== target), ...serving.slice(1)])
          check(
            sim.status.get(r.number) === 'retired' && sim.of(r.number).size === 0,
            () => `r${r.number} ends ${sim.status.get(r.number)} with ${sim.of(r.number).size}`,
          );

        const failAt = failingStep(p, cut);
        if (live && failAt !== null) {
          // the target goes back to what it was: removed only when it had to be started
          checkCompensation(p, start, failAt, applied, live, n, !running);
          const after = start.clone();
          p.steps.slice(0, failAt + (applied ? 1 : 0)).forEach((s) => after.apply(s));
          p.compensation.forEach((s) => after.apply(s));
          check(
            after.status.get(n) === target.status,
            () => `r${n} ends ${after.status.get(n)}, not ${target.status}`,
          );
        }
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- scale -----------------------------------------------------------------------------------------

describe('planner fuzz: scale', () => {
  it('reaches the desired count at the right indices and never serves fewer than before and after', () => {
    const scaleCase = fc.record({
      running: fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 10 }),
      desired: fc.nat({ max: 14 }),
      weights: fc.constantFrom<'mine' | 'shared' | 'none'>('mine', 'shared', 'none'),
      coldStart: fc.boolean(),
      cut: fc.nat(),
      applied: fc.boolean(),
    });
    fc.assert(
      fc.property(scaleCase, ({ running, desired, weights: w, coldStart, cut, applied }) => {
        const n = 7;
        const release = record(n, 'live', running.length);
        const weights: Weights =
          w === 'mine' ? { [n]: 100 } : w === 'shared' ? { 6: 0, [n]: 100 } : {};
        const p = planScale({ release, running, desired, weights, coldStart });
        checkWeights(p, true);
        const published = Object.keys(weights).length ? weights : { [n]: 100 };
        for (const s of [...p.steps, ...p.compensation])
          if (s.kind === 'set-weights')
            check(
              JSON.stringify(s.weights) === JSON.stringify(published),
              () => `republishes ${JSON.stringify(s.weights)}`,
            );
        checkDrainBeforeRemove('steps', p.steps, new Set([n]));

        const start = new PlanSim();
        start.containers.set(
          n,
          new Map(running.map((i) => [i, { healthy: true, draining: false }])),
        );
        start.weights = { ...published };
        const sim = start.clone();
        const floor = Math.min(running.length, desired);
        p.steps.forEach((s, i) => {
          if (s.kind === 'start')
            check(
              (s.indices ?? []).every((x) => !running.includes(x)),
              () => `${label('steps', i, s)}: starts a running index`,
            );
          sim.apply(s);
          check(
            sim.serving() >= floor,
            () => `after ${label('steps', i, s)}: ${sim.serving()} < ${floor}`,
          );
        });
        const idx = [...sim.of(n).keys()].sort((a, b) => a - b);
        const sorted = [...running].sort((a, b) => a - b);
        const want =
          desired >= running.length
            ? [...sorted, ...range(desired + running.length).filter((i) => !running.includes(i))]
                .slice(0, desired)
                .sort((a, b) => a - b)
            : sorted.slice(0, desired);
        check(idx.join() === want.join(), () => `ends with [${idx}], not [${want}]`);
        check(
          [...sim.of(n).values()].every((b) => b.healthy && !b.draining),
          () => 'a container is not serving at the end',
        );

        // a failed scale-up leaves the containers that ran, all serving, and nothing it started
        const failAt = failingStep(p, cut);
        if (desired > running.length && failAt !== null) {
          const after = start.clone();
          p.steps.slice(0, failAt + (applied ? 1 : 0)).forEach((s) => after.apply(s));
          p.compensation.forEach((s) => after.apply(s));
          const left = [...after.of(n).keys()].sort((a, b) => a - b);
          check(left.join() === sorted.join(), () => `a failed scale-up leaves [${left}]`);
          check(after.serving() === running.length, () => 'a failed scale-up serves less');
        }
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- regressions: the counterexamples fuzzing found, as plain tests ----------------------------

describe('planners: regressions found by fuzzing', () => {
  const k = (over: Partial<Knobs>): Knobs => ({
    strategy: 'rolling',
    replicas: 1,
    keepPreviousMs: 0,
    ...over,
  });
  const withServing = (...rs: ReleaseRecord[]): Observed => ({
    service: 'web',
    live: rs[0],
    kept: [],
    serving: rs,
  });

  it('rolling 200 -> 1: the new container gets 1% (not a rounded 0%) before the old ones drain', () => {
    const o = withServing(record(3, 'live', 200));
    const p = planRolling(o, { release: 61, spec: spec(k({ replicas: 1 })) });
    const routes = p.steps.flatMap((s) => (s.kind === 'set-weights' ? [s.weights] : []));
    expect(routes).toEqual([{ 3: 99, 61: 1 }, { 61: 100 }]);
    // and over the model: something serves at every step
    runDeploy({ o, k: k({ replicas: 1 }), cut: 0, applied: false });
  });

  it('rolling 200 -> 200: the last old container keeps 1% until it goes', () => {
    const o = withServing(record(1, 'live', 200));
    const p = planRolling(o, { release: 61, spec: spec(k({ replicas: 200 })) });
    const routes = p.steps.flatMap((s) => (s.kind === 'set-weights' ? [s.weights] : []));
    expect(routes.at(-2)).toEqual({ 1: 1, 61: 99 });
    expect(routes.at(-1)).toEqual({ 61: 100 });
    expect(routes.every((w) => Object.keys(w).length === 1 || (w[1] > 0 && w[61] > 0))).toBe(true);
    runDeploy({ o, k: k({ replicas: 200 }), cut: 0, applied: false });
  });

  it('rainbow over maxLive 1 with two serving: every record before any container goes', () => {
    const o = withServing(record(4, 'live', 1), record(1, 'live', 0));
    const knobs = k({ strategy: 'rainbow', maxLive: 1 });
    const p = planRainbow(o, { release: 61, spec: spec(knobs) });
    expect(p.steps.map((s) => `${s.kind} ${'release' in s ? `r${s.release}` : ''}`.trim())).toEqual(
      [
        'start r61',
        'wait-healthy r61',
        'set-weights',
        'mark r61',
        'set-weights',
        'mark r4',
        'mark r1',
        'drain r4',
        'remove r4',
        'drain r1',
        'remove r1',
      ],
    );
    // a failure at any step but the best-effort cleanup finds r4's containers to route back to
    const firstBestEffort = p.steps.findIndex((s) => s.bestEffort);
    expect(p.steps.slice(firstBestEffort).every((s) => s.bestEffort)).toBe(true);
    for (let cut = 0; cut < p.steps.length; cut++)
      for (const applied of [false, true]) runDeploy({ o, k: knobs, cut, applied });
  });
});
