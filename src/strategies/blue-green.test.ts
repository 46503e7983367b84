import type { Plan, ReleaseRecord, ServiceSpec, Step } from '../domain/types';
import { formatPlan } from '../domain/types';
import { planBlueGreen } from './blue-green';

function spec(over: Partial<ServiceSpec['deploy']> = {}): ServiceSpec {
  return {
    name: 'web',
    image: 'app:2',
    port: 8080,
    hosts: ['example.test'],
    replicas: 3,
    env: {},
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
      keepPreviousMs: 600000,
      ...over,
    },
  };
}

function release(number: number, status: ReleaseRecord['status']): ReleaseRecord {
  return {
    service: 'web',
    number,
    image: `app:${number}`,
    strategy: 'blue-green',
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

describe('planBlueGreen', () => {
  it('first deploy: start, wait, take all traffic, mark live; compensation only cleans up', () => {
    const plan = planBlueGreen(
      { service: 'web', live: null, kept: [] },
      { release: 1, spec: spec() },
    );
    expect(plan).toMatchObject({ service: 'web', release: 1, strategy: 'blue-green' });
    expect(plan.steps.map(shape)).toEqual([
      { kind: 'start', release: 1, count: 3 },
      { kind: 'wait-healthy', release: 1, timeoutMs: 60000 },
      { kind: 'set-weights', weights: { 1: 100 } },
      { kind: 'mark', release: 1, status: 'live' },
    ]);
    expect(plan.steps[0].cause).toBe('first release of web');
    expect(plan.steps[2].cause).toBe('r1 takes all traffic');
    expect(plan.compensation.map(shape)).toEqual([
      { kind: 'drain', release: 1, timeoutMs: 5000 },
      { kind: 'remove', release: 1 },
      { kind: 'mark', release: 1, status: 'failed' },
    ]);
    expectCausesInText(plan);
  });

  it('with a live release and none kept: flip, keep the old one as previous, nothing removed', () => {
    const plan = planBlueGreen(
      { service: 'web', live: release(3, 'live'), kept: [] },
      { release: 4, spec: spec() },
    );
    expect(plan.steps.map(shape)).toEqual([
      { kind: 'start', release: 4, count: 3 },
      { kind: 'wait-healthy', release: 4, timeoutMs: 60000 },
      { kind: 'set-weights', weights: { 4: 100 } },
      { kind: 'mark', release: 4, status: 'live' },
      { kind: 'mark', release: 3, status: 'previous' },
    ]);
    expect(plan.steps[0].cause).toBe('new release r4 starts beside live r3');
    expect(plan.steps[2].cause).toBe('flip: all traffic from r3 to r4 in one swap');
    expect(plan.steps[4].cause).toContain('600000ms');
    expect(plan.compensation.map(shape)).toEqual([
      { kind: 'set-weights', weights: { 3: 100 } },
      { kind: 'mark', release: 3, status: 'live' },
      { kind: 'drain', release: 4, timeoutMs: 5000 },
      { kind: 'remove', release: 4 },
      { kind: 'mark', release: 4, status: 'failed' },
    ]);
    expect(plan.compensation[0].cause).toBe('traffic stays on r3');
    expectCausesInText(plan);
  });

  it('with a live release and one kept: the old kept one is drained, removed and retired after the flip', () => {
    const plan = planBlueGreen(
      { service: 'web', live: release(3, 'live'), kept: [release(2, 'previous')] },
      { release: 4, spec: spec({ drainTimeoutMs: 7000 }) },
    );
    expect(plan.steps.map(shape)).toEqual([
      { kind: 'start', release: 4, count: 3 },
      { kind: 'wait-healthy', release: 4, timeoutMs: 60000 },
      { kind: 'set-weights', weights: { 4: 100 } },
      { kind: 'mark', release: 4, status: 'live' },
      { kind: 'mark', release: 3, status: 'previous' },
      { kind: 'mark', release: 2, status: 'retired' },
      { kind: 'drain', release: 2, timeoutMs: 7000, bestEffort: true },
      { kind: 'remove', release: 2, bestEffort: true },
    ]);
    // removal happens only after the drain, and the drain only after the flip
    const kinds = plan.steps.map((s) => `${s.kind}:${'release' in s ? s.release : ''}`);
    expect(kinds.indexOf('drain:2')).toBeGreaterThan(kinds.indexOf('set-weights:'));
    expect(kinds.indexOf('remove:2')).toBe(kinds.indexOf('drain:2') + 1);
    expect(plan.steps[7].cause).toBe('only the latest previous release is kept');
    expect(plan.compensation.map(shape)).toEqual([
      { kind: 'set-weights', weights: { 3: 100 } },
      { kind: 'mark', release: 3, status: 'live' },
      { kind: 'drain', release: 4, timeoutMs: 7000 },
      { kind: 'remove', release: 4 },
      { kind: 'mark', release: 4, status: 'failed' },
    ]);
    expectCausesInText(plan);
  });

  it('retires every older kept release, not only the first', () => {
    const plan = planBlueGreen(
      {
        service: 'web',
        live: release(5, 'live'),
        kept: [release(4, 'previous'), release(2, 'previous')],
      },
      { release: 6, spec: spec() },
    );
    const of = (pred: (s: Step) => boolean) =>
      plan.steps.filter(pred).map((s) => ('release' in s ? s.release : null));
    expect(of((s) => s.kind === 'mark' && s.status === 'retired')).toEqual([4, 2]);
    expect(of((s) => s.kind === 'remove')).toEqual([4, 2]);
    expect(of((s) => s.kind === 'drain')).toEqual([4, 2]);
  });

  it('keepPrevious 0: the live release is drained, removed and retired, never kept', () => {
    const plan = planBlueGreen(
      { service: 'web', live: release(3, 'live'), kept: [] },
      { release: 4, spec: spec({ keepPreviousMs: 0, drainTimeoutMs: 2500 }) },
    );
    expect(plan.steps.map(shape)).toEqual([
      { kind: 'start', release: 4, count: 3 },
      { kind: 'wait-healthy', release: 4, timeoutMs: 60000 },
      { kind: 'set-weights', weights: { 4: 100 } },
      { kind: 'mark', release: 4, status: 'live' },
      { kind: 'mark', release: 3, status: 'retired' },
      { kind: 'drain', release: 3, timeoutMs: 2500, bestEffort: true },
      { kind: 'remove', release: 3, bestEffort: true },
    ]);
    expect(plan.steps.some((s) => s.kind === 'mark' && s.status === 'previous')).toBe(false);
    expect(plan.steps[6].cause).toBe('keepPrevious is 0');
    expect(plan.steps[4].cause).toBe('keepPrevious is 0');
    expect(plan.steps[5].cause).toBe('in-flight requests of r3 finish');
    expectCausesInText(plan);
  });

  it('formatPlan lists numbered steps with their causes and the compensation', () => {
    const plan = planBlueGreen(
      { service: 'web', live: release(1, 'live'), kept: [] },
      { release: 2, spec: spec() },
    );
    const text = formatPlan(plan);
    const lines = text.split('\n');
    expect(lines[0]).toBe('plan: web r2 (blue-green)');
    expect(lines[1]).toBe(
      '  1. start 3 container(s) of r2  — new release r2 starts beside live r1',
    );
    expect(lines[2]).toBe(
      '  2. wait until r2 is healthy (timeout 60000ms)  — must pass its health check before it gets traffic',
    );
    expect(lines[3]).toBe('  3. route r2=100%  — flip: all traffic from r1 to r2 in one swap');
    expect(lines[4]).toBe('  4. record r2 as live  — rollout complete');
    expect(lines[5]).toMatch(
      /^ {2}5\. record r1 as previous {2}— kept running out of routing for 600000ms/,
    );
    expect(lines[6]).toBe('  on failure:');
    expect(lines[7]).toBe('   - route r1=100%  — traffic stays on r1');
    expect(lines[8]).toBe('   - record r1 as live  — r1 stays the live release');
    expect(lines[9]).toBe('   - drain r2 (up to 5000ms)  — requests already on r2 finish first');
    expect(lines[10]).toBe(
      '   - stop and remove the containers of r2  — the failed release r2 leaves no container behind',
    );
    expect(lines[11]).toBe('   - record r2 as failed  — deploy failed');
    expect(lines).toHaveLength(12);
  });
});
