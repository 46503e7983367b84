import type { ReleaseRecord, ServiceSpec, Step } from '../domain/types';
import { formatPlan } from '../domain/types';
import { planRollback } from './rollback';

function spec(keepPreviousMs = 600000): ServiceSpec {
  return {
    name: 'web',
    image: 'app:1',
    port: 8080,
    hosts: ['example.test'],
    replicas: 2,
    env: {},
    healthcheck: {
      path: '/',
      intervalMs: 1000,
      timeoutMs: 500,
      healthyThreshold: 3,
      unhealthyThreshold: 3,
    },
    deploy: {
      strategy: 'blue-green',
      deployTimeoutMs: 45000,
      drainTimeoutMs: 4000,
      keepPreviousMs,
    },
  };
}

function release(
  number: number,
  status: ReleaseRecord['status'],
  replicas = 2,
  s = spec(),
): ReleaseRecord {
  return {
    service: 'web',
    number,
    image: `app:${number}`,
    strategy: 'blue-green',
    spec: s,
    status,
    replicas,
    startedAt: number * 1000,
    finishedAt: number * 1000 + 10,
    result: 'succeeded',
    reason: null,
    demotedAt: null,
  };
}

const shape = (s: Step) => {
  const { cause: _cause, ...rest } = s;
  return rest;
};

describe('planRollback', () => {
  it('target still running: a quick health check and a flip back, no start', () => {
    const target = release(2, 'previous');
    const plan = planRollback(
      { service: 'web', live: release(3, 'live'), kept: [target] },
      target,
      true,
    );
    expect(plan).toMatchObject({ service: 'web', release: 2, strategy: 'blue-green' });
    expect(plan.steps.map(shape)).toEqual([
      { kind: 'wait-healthy', release: 2, timeoutMs: 45000, quick: true },
      { kind: 'set-weights', weights: { 2: 100 } },
      { kind: 'mark', release: 2, status: 'live' },
      { kind: 'mark', release: 3, status: 'previous' },
    ]);
    expect(plan.steps.some((s) => s.kind === 'start')).toBe(false);
    expect(plan.steps[0].cause).toBe('r2 is still running: one good probe each is enough');
    expect(plan.steps[1].cause).toBe('flip back: all traffic from r3 to r2');
    expect(plan.compensation.map(shape)).toEqual([
      { kind: 'set-weights', weights: { 3: 100 } },
      { kind: 'mark', release: 3, status: 'live' },
      { kind: 'mark', release: 2, status: 'previous' },
    ]);
    const text = formatPlan(plan);
    expect(text).toContain('one probe each, timeout 45000ms');
    for (const s of [...plan.steps, ...plan.compensation]) expect(text).toContain(s.cause);
  });

  it('target containers gone: start them first (its recorded replicas), full health check', () => {
    const target = release(1, 'retired', 4);
    const plan = planRollback(
      { service: 'web', live: release(3, 'live'), kept: [release(2, 'previous')] },
      target,
      false,
    );
    expect(plan.steps.map(shape)).toEqual([
      { kind: 'start', release: 1, count: 4 },
      { kind: 'wait-healthy', release: 1, timeoutMs: 45000, quick: false },
      { kind: 'set-weights', weights: { 1: 100 } },
      { kind: 'mark', release: 1, status: 'live' },
      { kind: 'mark', release: 3, status: 'previous' },
      { kind: 'mark', release: 2, status: 'retired' },
      { kind: 'drain', release: 2, timeoutMs: 4000, bestEffort: true },
      { kind: 'remove', release: 2, bestEffort: true },
    ]);
    expect(plan.steps[0].cause).toBe("r1's containers are gone: start them again from its spec");
    expect(plan.compensation.map(shape)).toEqual([
      { kind: 'set-weights', weights: { 3: 100 } },
      { kind: 'mark', release: 3, status: 'live' },
      { kind: 'mark', release: 1, status: 'retired' },
      { kind: 'remove', release: 1 },
    ]);
    expect(plan.compensation[3].cause).toBe('r1 could not be brought back');
    const text = formatPlan(plan);
    for (const s of [...plan.steps, ...plan.compensation]) expect(text).toContain(s.cause);
  });

  it('never retires the rollback target itself even though it was kept', () => {
    const target = release(2, 'previous');
    const plan = planRollback(
      { service: 'web', live: release(3, 'live'), kept: [target] },
      target,
      true,
    );
    expect(plan.steps.filter((s) => s.kind === 'remove' || s.kind === 'drain')).toEqual([]);
  });

  it("uses the target's own keepPrevious: 0 retires the release that was live", () => {
    const target = release(2, 'previous', 2, spec(0));
    const plan = planRollback(
      { service: 'web', live: release(3, 'live'), kept: [target] },
      target,
      true,
    );
    expect(plan.steps.map(shape).slice(3)).toEqual([
      { kind: 'mark', release: 3, status: 'retired' },
      { kind: 'drain', release: 3, timeoutMs: 4000, bestEffort: true },
      { kind: 'remove', release: 3, bestEffort: true },
    ]);
  });

  it('with nothing live: the target takes all traffic and the compensation has no flip', () => {
    const target = release(1, 'retired');
    const plan = planRollback({ service: 'web', live: null, kept: [] }, target, false);
    expect(plan.steps.map((s) => s.kind)).toEqual(['start', 'wait-healthy', 'set-weights', 'mark']);
    expect(plan.steps[2].cause).toBe('r1 takes all traffic');
    expect(plan.compensation.map(shape)).toEqual([
      { kind: 'mark', release: 1, status: 'retired' },
      { kind: 'remove', release: 1 },
    ]);
  });
});
