import type { ReleaseRecord, ServiceSpec } from '../domain/types';
import { formatPlan } from '../domain/types';
import { planRainbow } from './rainbow';

function spec(maxLive = 3): ServiceSpec {
  return {
    name: 'web',
    image: 'app:9',
    port: 8080,
    hosts: ['*'],
    replicas: 2,
    env: {},
    healthcheck: {
      path: '/healthz',
      intervalMs: 1000,
      timeoutMs: 500,
      healthyThreshold: 1,
      unhealthyThreshold: 3,
    },
    deploy: {
      strategy: 'rainbow',
      deployTimeoutMs: 60000,
      drainTimeoutMs: 5000,
      keepPreviousMs: 0,
      rainbow: { maxLive },
    },
  };
}

function live(number: number): ReleaseRecord {
  return {
    service: 'web',
    number,
    image: `app:${number}`,
    strategy: 'rainbow',
    spec: spec(),
    status: 'live',
    replicas: 2,
    startedAt: number * 1000,
    finishedAt: number * 1000 + 500,
    result: 'succeeded',
    reason: null,
    demotedAt: null,
  };
}

describe('planRainbow', () => {
  it('adds the new release for new users and keeps the serving ones at weight 0 (--dry-run text)', () => {
    const serving = [live(3), live(2)];
    const plan = planRainbow(
      { service: 'web', live: serving[0], kept: [], serving },
      { release: 4, spec: spec(3) },
    );
    expect(formatPlan(plan)).toBe(
      [
        'plan: web r4 (rainbow)',
        '  1. start 2 container(s) of r4  — r4 joins r3, r2',
        '  2. wait until r4 is healthy (timeout 60000ms)  — must pass its health check before it gets users',
        '  3. route r2=0%, r3=0%, r4=100%  — new users go to r4; users pinned to older releases stay there',
        '  4. record r4 as live  — rollout complete',
        '  on failure:',
        '   - route r2=0%, r3=100%  — the releases already serving keep serving',
        '   - record r3 as live  — r3 stays live',
        '   - drain r4 (up to 5000ms)  — requests already on r4 finish first',
        '   - stop and remove the containers of r4  — the failed release r4 leaves no container behind',
        '   - record r4 as failed  — deploy failed',
      ].join('\n'),
    );
  });

  it('beyond maxLive the oldest is recorded retired, then drained and removed', () => {
    const serving = [live(3), live(2)];
    const plan = planRainbow(
      { service: 'web', live: serving[0], kept: [], serving },
      { release: 4, spec: spec(2) },
    );
    const tail = plan.steps.slice(4).map((s) => `${s.kind} r${'release' in s ? s.release : '-'}`);
    expect(tail).toEqual(['set-weights r-', 'mark r2', 'drain r2', 'remove r2']);
    expect(plan.steps[4]).toMatchObject({ kind: 'set-weights', weights: { 4: 100, 3: 0 } });
  });

  it('a first deploy is a plain rollout named rainbow', () => {
    const plan = planRainbow(
      { service: 'web', live: null, kept: [] },
      { release: 1, spec: spec() },
    );
    expect(plan.strategy).toBe('rainbow');
    expect(plan.steps.map((s) => s.kind)).toEqual(['start', 'wait-healthy', 'set-weights', 'mark']);
  });
});
