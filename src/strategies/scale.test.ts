import type { Plan, ReleaseRecord, ServiceSpec, Step } from '../domain/types';
import { formatPlan } from '../domain/types';
import { planScale } from './scale';

function spec(): ServiceSpec {
  return {
    name: 'web',
    image: 'app:3',
    port: 8080,
    hosts: ['example.test'],
    replicas: 2,
    env: {},
    healthcheck: {
      path: '/healthz',
      intervalMs: 1000,
      timeoutMs: 500,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    },
    deploy: {
      strategy: 'rolling',
      deployTimeoutMs: 60000,
      drainTimeoutMs: 5000,
      keepPreviousMs: 600000,
    },
  };
}

function release(number = 3): ReleaseRecord {
  return {
    service: 'web',
    number,
    image: `app:${number}`,
    strategy: 'rolling',
    spec: spec(),
    status: 'live',
    replicas: 2,
    startedAt: 1000,
    finishedAt: 1500,
    result: 'succeeded',
    reason: null,
    demotedAt: null,
  };
}

/** A step without its cause, for compact comparisons. */
const shape = (s: Step) => {
  const { cause: _cause, ...rest } = s;
  return rest;
};

function expectCausesInText(plan: Plan): void {
  const text = formatPlan(plan);
  for (const s of [...plan.steps, ...plan.compensation]) {
    expect(s.cause.length).toBeGreaterThan(0);
    expect(text).toContain(s.cause);
  }
}

describe('planScale', () => {
  it('up: starts the lowest free indices, waits for them to be healthy, then republishes the weights', () => {
    const plan = planScale({
      release: release(3),
      running: [4, 1],
      desired: 4,
      weights: { 3: 100 },
    });
    expect(plan).toMatchObject({ service: 'web', release: 3, strategy: 'rolling' });
    expect(plan.steps.map(shape)).toEqual([
      { kind: 'start', release: 3, count: 4, indices: [2, 3] },
      { kind: 'wait-healthy', release: 3, indices: [2, 3], timeoutMs: 60000 },
      { kind: 'set-weights', weights: { 3: 100 } },
    ]);
    expect(plan.steps[0].cause).toBe('scale r3 from 2 to 4');
    expect(plan.steps[1].cause).toBe('new containers get traffic only once healthy');
    expect(plan.steps[2].cause).toBe("route r3's 4 container(s)");
    // A failed scale-up removes only what it started and routes as before.
    expect(plan.compensation.map(shape)).toEqual([
      { kind: 'remove', release: 3, indices: [2, 3] },
      { kind: 'set-weights', weights: { 3: 100 } },
    ]);
    expectCausesInText(plan);
    expect(formatPlan(plan)).toContain('start container(s) 2, 3 of r3');
  });

  it('up from zero starts index 1, and past the running ones continues after the highest', () => {
    expect(
      planScale({ release: release(), running: [], desired: 1, weights: { 3: 100 } }).steps[0],
    ).toMatchObject({ kind: 'start', indices: [1] });
    expect(
      planScale({ release: release(), running: [1, 2], desired: 4, weights: { 3: 100 } }).steps[0],
    ).toMatchObject({ kind: 'start', count: 4, indices: [3, 4] });
  });

  it('a normal scale-up waits with the healthcheck threshold (no quick, no fast poll)', () => {
    const wait = planScale({ release: release(), running: [1], desired: 2, weights: {} }).steps[1];
    expect(wait).not.toHaveProperty('quick');
    expect(wait).not.toHaveProperty('pollMs');
  });

  it('a cold start waits for one good probe, polling every 10ms', () => {
    const plan = planScale({
      release: release(3),
      running: [],
      desired: 1,
      weights: { 3: 100 },
      coldStart: true,
    });
    expect(plan.steps[1]).toEqual({
      kind: 'wait-healthy',
      release: 3,
      indices: [1],
      timeoutMs: 60000,
      quick: true,
      pollMs: 10,
      cause: 'cold start: requests wait for the first good probe',
    });
    expect(formatPlan(plan)).toContain('one probe each, probing every 10ms');
  });

  it('republishes the weights it was given unchanged (several releases serving)', () => {
    const weights = { 2: 30, 3: 70 };
    const plan = planScale({ release: release(3), running: [1], desired: 2, weights });
    expect(plan.steps.at(-1)).toMatchObject({ kind: 'set-weights', weights: { 2: 30, 3: 70 } });
    expect(plan.compensation.at(-1)).toMatchObject({ kind: 'set-weights', weights });
  });

  it('routes all traffic to the release when no weights are known', () => {
    const plan = planScale({ release: release(5), running: [1], desired: 3, weights: {} });
    expect(plan.steps.at(-1)).toMatchObject({ kind: 'set-weights', weights: { 5: 100 } });
    expect(formatPlan(plan)).toContain('route r5=100%');
  });

  it('down: drains the highest indices first, then removes them, then republishes', () => {
    const plan = planScale({
      release: release(3),
      running: [3, 1, 4, 2],
      desired: 1,
      weights: { 3: 100 },
    });
    expect(plan.steps.map(shape)).toEqual([
      { kind: 'drain', release: 3, indices: [2, 3, 4], timeoutMs: 5000 },
      { kind: 'remove', release: 3, indices: [2, 3, 4] },
      { kind: 'set-weights', weights: { 3: 100 } },
    ]);
    expect(plan.steps[0].cause).toBe('scale r3 from 4 to 1: drain first');
    expect(plan.steps[1].cause).toBe('drained');
    expect(plan.steps[2].cause).toBe("route r3's 1 container(s)");
    expect(plan.compensation.map(shape)).toEqual([{ kind: 'set-weights', weights: { 3: 100 } }]);
    expectCausesInText(plan);
  });

  it('down to zero drains and removes every container', () => {
    const plan = planScale({ release: release(3), running: [1, 2], desired: 0, weights: {} });
    expect(plan.steps.map(shape)).toEqual([
      { kind: 'drain', release: 3, indices: [1, 2], timeoutMs: 5000 },
      { kind: 'remove', release: 3, indices: [1, 2] },
      { kind: 'set-weights', weights: { 3: 100 } },
    ]);
  });

  it('no change: only republishes, with nothing to undo', () => {
    const plan = planScale({
      release: release(3),
      running: [2, 1],
      desired: 2,
      weights: { 3: 100 },
    });
    expect(plan.steps.map(shape)).toEqual([{ kind: 'set-weights', weights: { 3: 100 } }]);
    expect(plan.compensation).toEqual([]);
    expect(formatPlan(plan)).not.toContain('on failure');
  });

  it('does not mutate the running list it was given', () => {
    const running = [3, 1, 2];
    planScale({ release: release(), running, desired: 1, weights: {} });
    expect(running).toEqual([3, 1, 2]);
  });
});
