import type { CountOrPercent, ReleaseRecord, ServiceSpec, Step } from '../domain/types';
import { formatPlan } from '../domain/types';
import { planBlueGreen } from './blue-green';
import { planRolling, resolveCount } from './rolling';

function spec(
  replicas: number,
  rolling?: { maxSurge: CountOrPercent; maxUnavailable: CountOrPercent },
  over: Partial<ServiceSpec['deploy']> = {},
): ServiceSpec {
  return {
    name: 'web',
    image: 'app:5',
    port: 8080,
    hosts: ['example.test'],
    replicas,
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
      ...(rolling ? { rolling } : {}),
      ...over,
    },
  };
}

function release(number: number, status: ReleaseRecord['status'], replicas: number): ReleaseRecord {
  return {
    service: 'web',
    number,
    image: `app:${number}`,
    strategy: 'rolling',
    spec: spec(replicas),
    status,
    replicas,
    startedAt: 1000 * number,
    finishedAt: 1000 * number + 500,
    result: 'succeeded',
    reason: null,
    demotedAt: status === 'previous' ? 1000 * number + 900 : null,
  };
}

const live4 = (replicas: number) => ({
  service: 'web',
  live: release(4, 'live', replicas),
  kept: [],
});

/** A step without its cause, for compact comparisons. */
const shape = (s: Step) => {
  const { cause: _cause, ...rest } = s;
  return rest;
};

describe('planRolling --dry-run text', () => {
  it('3 replicas, maxSurge 1: one new container at a time, each replacing one old', () => {
    const plan = planRolling(live4(3), {
      release: 5,
      spec: spec(3, { maxSurge: 1, maxUnavailable: 0 }),
    });
    expect(formatPlan(plan)).toBe(
      [
        'plan: web r5 (rolling)',
        '  1. start container(s) 1 of r5  — batch 1 of 3: at most 4 containers at once',
        '  2. wait until r5 is healthy (timeout 60000ms)  — batch 1 must be healthy before old containers go',
        '  3. route r4=75%, r5=25%  — batch 1 of 3: new containers take their share before old ones go',
        '  4. drain container(s) 1 of r4 (up to 5000ms)  — batch 1 of 3: replaced by the new containers',
        '  5. stop and remove container(s) 1 of r4  — batch 1 of 3: replaced by the new containers',
        '  6. route r4=67%, r5=33%  — batch 1 of 3: traffic in proportion to the containers',
        '  7. start container(s) 2 of r5  — batch 2 of 3: at most 4 containers at once',
        '  8. wait until r5 is healthy (timeout 60000ms)  — batch 2 must be healthy before old containers go',
        '  9. route r4=50%, r5=50%  — batch 2 of 3: new containers take their share before old ones go',
        '  10. drain container(s) 2 of r4 (up to 5000ms)  — batch 2 of 3: replaced by the new containers',
        '  11. stop and remove container(s) 2 of r4  — batch 2 of 3: replaced by the new containers',
        '  12. route r4=33%, r5=67%  — batch 2 of 3: traffic in proportion to the containers',
        '  13. start container(s) 3 of r5  — batch 3 of 3: at most 4 containers at once',
        '  14. wait until r5 is healthy (timeout 60000ms)  — batch 3 must be healthy before old containers go',
        '  15. route r4=25%, r5=75%  — batch 3 of 3: new containers take their share before old ones go',
        '  16. drain container(s) 3 of r4 (up to 5000ms)  — batch 3 of 3: replaced by the new containers',
        '  17. stop and remove container(s) 3 of r4  — batch 3 of 3: replaced by the new containers',
        '  18. route r5=100%  — batch 3 of 3: traffic in proportion to the containers',
        '  19. record r5 as live  — rollout complete',
        '  20. record r4 as retired  — all its containers were replaced',
        '  on failure:',
        '   - make sure r4 runs its 3 container(s)  — bring back every container of r4',
        '   - wait until r4 is healthy (timeout 60000ms)  — r4 must be healthy again',
        '   - route r4=100%  — traffic stays on r4',
        '   - record r4 as live  — r4 stays the live release',
        '   - drain r5 (up to 5000ms)  — requests already on r5 finish first',
        '   - stop and remove the containers of r5  — the failed release r5 leaves no container behind',
        '   - record r5 as failed  — deploy failed',
      ].join('\n'),
    );
  });

  it("3 replicas, maxSurge '50%' (rounds up to 2), maxUnavailable 1: one old container goes first, then one batch of 3", () => {
    const plan = planRolling(live4(3), {
      release: 5,
      spec: spec(3, { maxSurge: '50%', maxUnavailable: 1 }),
    });
    expect(formatPlan(plan)).toBe(
      [
        'plan: web r5 (rolling)',
        '  1. drain container(s) 1 of r4 (up to 5000ms)  — batch 1 of 1: maxUnavailable 1 lets old containers go first',
        '  2. stop and remove container(s) 1 of r4  — batch 1 of 1: maxUnavailable 1 lets old containers go first',
        '  3. start container(s) 1, 2, 3 of r5  — batch 1 of 1: at most 5 containers at once',
        '  4. wait until r5 is healthy (timeout 60000ms)  — batch 1 must be healthy before old containers go',
        '  5. route r4=40%, r5=60%  — batch 1 of 1: new containers take their share before old ones go',
        '  6. drain container(s) 2, 3 of r4 (up to 5000ms)  — batch 1 of 1: replaced by the new containers',
        '  7. stop and remove container(s) 2, 3 of r4  — batch 1 of 1: replaced by the new containers',
        '  8. route r5=100%  — batch 1 of 1: traffic in proportion to the containers',
        '  9. record r5 as live  — rollout complete',
        '  10. record r4 as retired  — all its containers were replaced',
        '  on failure:',
        '   - make sure r4 runs its 3 container(s)  — bring back every container of r4',
        '   - wait until r4 is healthy (timeout 60000ms)  — r4 must be healthy again',
        '   - route r4=100%  — traffic stays on r4',
        '   - record r4 as live  — r4 stays the live release',
        '   - drain r5 (up to 5000ms)  — requests already on r5 finish first',
        '   - stop and remove the containers of r5  — the failed release r5 leaves no container behind',
        '   - record r5 as failed  — deploy failed',
      ].join('\n'),
    );
  });
});

describe('planRolling', () => {
  it('defaults to maxSurge 1, maxUnavailable 0 when deploy.rolling is not set', () => {
    const explicit = planRolling(live4(3), {
      release: 5,
      spec: spec(3, { maxSurge: 1, maxUnavailable: 0 }),
    });
    const implicit = planRolling(live4(3), { release: 5, spec: spec(3) });
    expect(implicit).toEqual(explicit);
  });

  it('when both limits round down to 0, surges by one container at a time', () => {
    // maxUnavailable 25% of 3 = 0.75 -> 0; maxSurge 0 -> the planner surges by 1
    const plan = planRolling(live4(3), {
      release: 5,
      spec: spec(3, { maxSurge: 0, maxUnavailable: '25%' }),
    });
    const starts = plan.steps.filter((s) => s.kind === 'start');
    expect(starts.map(shape)).toEqual([
      { kind: 'start', release: 5, count: 1, indices: [1] },
      { kind: 'start', release: 5, count: 1, indices: [2] },
      { kind: 'start', release: 5, count: 1, indices: [3] },
    ]);
    expect(starts[0].cause).toBe('batch 1 of 3: at most 4 containers at once');
    // nothing old goes before a new container is healthy
    expect(plan.steps[0].kind).toBe('start');
  });

  it('splits traffic in proportion to the containers of each release', () => {
    const plan = planRolling(live4(4), {
      release: 5,
      spec: spec(4, { maxSurge: 1, maxUnavailable: 0 }),
    });
    const weights = plan.steps.flatMap((s) => (s.kind === 'set-weights' ? [s.weights] : []));
    expect(weights).toEqual([
      { 4: 80, 5: 20 }, // 4 old + 1 new
      { 4: 75, 5: 25 }, // 3 + 1
      { 4: 60, 5: 40 }, // 3 + 2
      { 4: 50, 5: 50 }, // 2 + 2
      { 4: 40, 5: 60 }, // 2 + 3
      { 4: 25, 5: 75 }, // 1 + 3
      { 4: 20, 5: 80 }, // 1 + 4
      { 5: 100 },
    ]);
  });

  it('scaling down: the old containers beyond the new count go with the first batch', () => {
    const plan = planRolling(live4(4), {
      release: 5,
      spec: spec(1, { maxSurge: 1, maxUnavailable: 0 }),
    });
    expect(plan.steps.map(shape)).toEqual([
      { kind: 'start', release: 5, count: 1, indices: [1] },
      { kind: 'wait-healthy', release: 5, timeoutMs: 60000, indices: [1] },
      { kind: 'set-weights', weights: { 4: 80, 5: 20 } },
      { kind: 'drain', release: 4, timeoutMs: 5000, indices: [1, 2, 3, 4] },
      { kind: 'remove', release: 4, indices: [1, 2, 3, 4] },
      { kind: 'set-weights', weights: { 5: 100 } },
      { kind: 'mark', release: 5, status: 'live' },
      { kind: 'mark', release: 4, status: 'retired' },
    ]);
    expect(plan.compensation[0]).toMatchObject({
      kind: 'start',
      release: 4,
      count: 4,
      ensure: true,
    });
  });

  it('leaves kept (previous) releases to the retirer', () => {
    const plan = planRolling(
      { ...live4(2), kept: [release(3, 'previous', 2)] },
      { release: 5, spec: spec(2) },
    );
    expect(
      [...plan.steps, ...plan.compensation].some((s) => 'release' in s && s.release === 3),
    ).toBe(false);
  });

  describe('first deploy (no live release)', () => {
    it('is the blue-green plan, with the strategy name kept', () => {
      const observed = { service: 'web', live: null, kept: [] };
      const desired = { release: 1, spec: spec(3, { maxSurge: '25%', maxUnavailable: 1 }) };
      const plan = planRolling(observed, desired);
      expect(plan).toEqual({ ...planBlueGreen(observed, desired), strategy: 'rolling' });
      expect(plan.steps.map(shape)).toEqual([
        { kind: 'start', release: 1, count: 3 },
        { kind: 'wait-healthy', release: 1, timeoutMs: 60000 },
        { kind: 'set-weights', weights: { 1: 100 } },
        { kind: 'mark', release: 1, status: 'live' },
      ]);
      expect(formatPlan(plan).split('\n')[0]).toBe('plan: web r1 (rolling)');
      expect(formatPlan(plan)).toContain('first release of web');
    });

    it('still retires releases kept from before', () => {
      const observed = { service: 'web', live: null, kept: [release(3, 'previous', 2)] };
      const plan = planRolling(observed, { release: 4, spec: spec(2) });
      expect(plan.strategy).toBe('rolling');
      expect(plan.steps.slice(-3).map(shape)).toEqual([
        { kind: 'mark', release: 3, status: 'retired' },
        { kind: 'drain', release: 3, timeoutMs: 5000, bestEffort: true },
        { kind: 'remove', release: 3, bestEffort: true },
      ]);
    });
  });
});

describe('resolveCount', () => {
  it('is 0 when not set, and a plain count as given', () => {
    expect(resolveCount(undefined, 4, 'up')).toBe(0);
    expect(resolveCount(undefined, 4, 'down')).toBe(0);
    expect(resolveCount(0, 4, 'up')).toBe(0);
    expect(resolveCount(2, 4, 'down')).toBe(2);
    expect(resolveCount(7, 4, 'up')).toBe(7); // not capped at replicas
  });

  it('rounds a percentage up for maxSurge', () => {
    expect(resolveCount('25%', 1, 'up')).toBe(1);
    expect(resolveCount('25%', 3, 'up')).toBe(1);
    expect(resolveCount('25%', 5, 'up')).toBe(2);
    expect(resolveCount('50%', 3, 'up')).toBe(2);
    expect(resolveCount('1%', 1, 'up')).toBe(1);
    expect(resolveCount('33%', 3, 'up')).toBe(1);
  });

  it('rounds a percentage down for maxUnavailable', () => {
    expect(resolveCount('25%', 1, 'down')).toBe(0);
    expect(resolveCount('25%', 3, 'down')).toBe(0);
    expect(resolveCount('25%', 5, 'down')).toBe(1);
    expect(resolveCount('50%', 3, 'down')).toBe(1);
    expect(resolveCount('99%', 1, 'down')).toBe(0);
  });

  it('is exact when the percentage divides evenly, either way', () => {
    for (const round of ['up', 'down'] as const) {
      expect(resolveCount('0%', 4, round)).toBe(0);
      expect(resolveCount('25%', 4, round)).toBe(1);
      expect(resolveCount('50%', 4, round)).toBe(2);
      expect(resolveCount('75%', 4, round)).toBe(3);
      expect(resolveCount('100%', 4, round)).toBe(4);
      expect(resolveCount('100%', 1, round)).toBe(1);
    }
  });

  it('rounds percentages exactly (no float error across the boundary)', () => {
    expect(resolveCount('7%', 100, 'up')).toBe(7);
    expect(resolveCount('28%', 25, 'up')).toBe(7);
    expect(resolveCount('29%', 100, 'down')).toBe(29);
  });
});
