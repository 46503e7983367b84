import type { CanarySpec, ReleaseRecord, ServiceSpec, Step } from '../domain/types';
import { formatPlan } from '../domain/types';
import { planBlueGreen } from './blue-green';
import { planCanary } from './canary';

const ANALYSIS = { intervalMs: 5000, minRequests: 20, maxErrorRate: 0.05, maxP99Ms: 800 };

function spec(
  canary?: Partial<CanarySpec>,
  over: Partial<ServiceSpec['deploy']> = {},
): ServiceSpec {
  return {
    name: 'web',
    image: 'app:5',
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
      strategy: 'canary',
      deployTimeoutMs: 60000,
      drainTimeoutMs: 5000,
      keepPreviousMs: 600000,
      ...(canary ? { canary: { steps: [], sticky: 'cookie', analysis: ANALYSIS, ...canary } } : {}),
      ...over,
    },
  };
}

function release(number: number, status: ReleaseRecord['status']): ReleaseRecord {
  return {
    service: 'web',
    number,
    image: `app:${number}`,
    strategy: 'canary',
    spec: spec(),
    status,
    replicas: 2,
    startedAt: 1000 * number,
    finishedAt: 1000 * number + 500,
    result: 'succeeded',
    reason: null,
    demotedAt: status === 'previous' ? 1000 * number + 900 : null,
  };
}

const shape = (s: Step) => {
  const { cause: _cause, ...rest } = s;
  return rest;
};

const STEPS: CanarySpec['steps'] = [
  { weight: 0, pauseMs: 'manual' },
  { weight: 5, pauseMs: 30000 },
  { weight: 50, pauseMs: 'manual' },
];

describe('planCanary --dry-run text', () => {
  it('steps 0% (manual), 5% (30s), 50% (manual) with analysis, a kept release retired at the end', () => {
    const plan = planCanary(
      { service: 'web', live: release(4, 'live'), kept: [release(3, 'previous')] },
      { release: 5, spec: spec({ steps: STEPS }) },
    );
    expect(formatPlan(plan)).toBe(
      [
        'plan: web r5 (canary)',
        '  1. start 2 container(s) of r5  — canary r5 starts beside stable r4',
        '  2. wait until r5 is healthy (timeout 60000ms)  — must pass its health check before it gets traffic',
        '  3. route r4=100%, r5=0%  — weight 0: only acceptance users (header/cookie "next") reach the canary',
        '  4. route r4=100%, r5=0%  — canary step 1 of 3: 0% of users',
        '  5. pause until `shipit promote`, with analysis  — canary step 1 of 3: hold at 0%',
        '  6. route r4=95%, r5=5%  — canary step 2 of 3: 5% of users',
        '  7. pause 30000ms with analysis  — canary step 2 of 3: hold at 5%',
        '  8. route r4=50%, r5=50%  — canary step 3 of 3: 50% of users',
        '  9. pause until `shipit promote`, with analysis  — canary step 3 of 3: hold at 50%',
        '  10. route r5=100%  — promoted: r5 takes all traffic',
        '  11. record r5 as live  — rollout complete',
        '  12. record r4 as previous  — kept running out of routing for 600000ms: rollback is a flip back',
        '  13. record r3 as retired  — only the latest previous release is kept',
        '  14. drain r3 (up to 5000ms) (best effort)  — in-flight requests of r3 finish',
        '  15. stop and remove the containers of r3 (best effort)  — only the latest previous release is kept',
        '  on failure:',
        '   - route r4=100%  — traffic stays on r4',
        '   - record r4 as live  — r4 stays the live release',
        '   - drain r5 (up to 5000ms)  — requests already on r5 finish first',
        '   - stop and remove the containers of r5  — the failed release r5 leaves no container behind',
        '   - record r5 as failed  — deploy failed',
      ].join('\n'),
    );
  });
});

describe('planCanary', () => {
  const live = { service: 'web', live: release(4, 'live'), kept: [] };

  it('each pause holds the canary release and carries the analysis limits', () => {
    const plan = planCanary(live, { release: 5, spec: spec({ steps: STEPS }) });
    const pauses = plan.steps.filter((s) => s.kind === 'pause');
    expect(pauses.map(shape)).toEqual([
      { kind: 'pause', release: 5, pauseMs: 'manual', analysis: ANALYSIS },
      { kind: 'pause', release: 5, pauseMs: 30000, analysis: ANALYSIS },
      { kind: 'pause', release: 5, pauseMs: 'manual', analysis: ANALYSIS },
    ]);
  });

  it('a step with pauseMs 0 moves the weight and goes on without a pause', () => {
    const plan = planCanary(live, {
      release: 5,
      spec: spec({
        steps: [
          { weight: 10, pauseMs: 0 },
          { weight: 60, pauseMs: 'manual' },
        ],
      }),
    });
    expect(plan.steps.map((s) => s.kind)).toEqual([
      'start',
      'wait-healthy',
      'set-weights',
      'set-weights',
      'set-weights',
      'pause',
      'set-weights',
      'mark',
      'mark',
    ]);
    expect(plan.steps[3]).toMatchObject({ weights: { 4: 90, 5: 10 } });
    expect(plan.steps[4]).toMatchObject({ weights: { 4: 40, 5: 60 } });
  });

  it('without deploy.canary: 5% for 30s then 50% until promote, no analysis', () => {
    const plan = planCanary(live, { release: 5, spec: spec() });
    expect(plan.steps.slice(2, 8).map(shape)).toEqual([
      { kind: 'set-weights', weights: { 4: 100, 5: 0 } },
      { kind: 'set-weights', weights: { 4: 95, 5: 5 } },
      { kind: 'pause', release: 5, pauseMs: 30000, analysis: undefined },
      { kind: 'set-weights', weights: { 4: 50, 5: 50 } },
      { kind: 'pause', release: 5, pauseMs: 'manual', analysis: undefined },
      { kind: 'set-weights', weights: { 5: 100 } },
    ]);
    expect(formatPlan(plan)).toContain('  5. pause 30000ms  — canary step 1 of 2: hold at 5%');
    expect(formatPlan(plan)).toContain(
      '  7. pause until `shipit promote`  — canary step 2 of 2: hold at 50%',
    );
  });

  it('with keepPrevious 0 the stable release is drained and removed after the promotion', () => {
    const plan = planCanary(live, {
      release: 5,
      spec: spec({ steps: [{ weight: 20, pauseMs: 'manual' }] }, { keepPreviousMs: 0 }),
    });
    expect(plan.steps.slice(-5).map(shape)).toEqual([
      { kind: 'set-weights', weights: { 5: 100 } },
      { kind: 'mark', release: 5, status: 'live' },
      { kind: 'mark', release: 4, status: 'retired' },
      { kind: 'drain', release: 4, timeoutMs: 5000, bestEffort: true },
      { kind: 'remove', release: 4, bestEffort: true },
    ]);
  });

  it('the compensation routes everything back to the stable release before the canary goes', () => {
    const plan = planCanary(live, { release: 5, spec: spec({ steps: STEPS }) });
    expect(plan.compensation.map(shape)).toEqual([
      { kind: 'set-weights', weights: { 4: 100 } },
      { kind: 'mark', release: 4, status: 'live' },
      { kind: 'drain', release: 5, timeoutMs: 5000 },
      { kind: 'remove', release: 5 },
      { kind: 'mark', release: 5, status: 'failed' },
    ]);
  });

  describe('first deploy (no live release)', () => {
    it('is the blue-green plan, with the strategy name kept: no step, no pause', () => {
      const observed = { service: 'web', live: null, kept: [] };
      const desired = { release: 1, spec: spec({ steps: STEPS }) };
      const plan = planCanary(observed, desired);
      expect(plan).toEqual({ ...planBlueGreen(observed, desired), strategy: 'canary' });
      expect(plan.steps.some((s) => s.kind === 'pause')).toBe(false);
      expect(formatPlan(plan)).toBe(
        [
          'plan: web r1 (canary)',
          '  1. start 2 container(s) of r1  — first release of web',
          '  2. wait until r1 is healthy (timeout 60000ms)  — must pass its health check before it gets traffic',
          '  3. route r1=100%  — r1 takes all traffic',
          '  4. record r1 as live  — rollout complete',
          '  on failure:',
          '   - drain r1 (up to 5000ms)  — requests already on r1 finish first',
          '   - stop and remove the containers of r1  — the failed release r1 leaves no container behind',
          '   - record r1 as failed  — deploy failed',
        ].join('\n'),
      );
    });
  });
});
