import type { Plan, Step } from '../domain/types';
import { backToLive, discard, planBlueGreen, retire } from './blue-green';
import type { Desired, Observed } from './types';

const DEFAULT_STEPS = [
  { weight: 5, pauseMs: 30_000 as number | 'manual' },
  { weight: 50, pauseMs: 'manual' as number | 'manual' },
];

/**
 * Canary: the new release starts in full beside the stable one, first at
 * weight 0 (only acceptance users reach it), then takes each step's share of
 * users by sticky hash, holding each step for its pause (or until `shipit
 * promote`) while its own counters are checked against the analysis limits.
 */
export function planCanary(observed: Observed, desired: Desired): Plan {
  const { live } = observed;
  const { spec, release: n } = desired;
  if (!live) return { ...planBlueGreen(observed, desired), strategy: 'canary' };
  const c = spec.deploy.canary;
  const canarySteps = c?.steps ?? DEFAULT_STEPS;
  const steps: Step[] = [
    {
      kind: 'start',
      release: n,
      count: spec.replicas,
      cause: `canary r${n} starts beside stable r${live.number}`,
    },
    {
      kind: 'wait-healthy',
      release: n,
      timeoutMs: spec.deploy.deployTimeoutMs,
      cause: 'must pass its health check before it gets traffic',
    },
    {
      kind: 'set-weights',
      weights: { [live.number]: 100, [n]: 0 },
      cause: 'weight 0: only acceptance users (header/cookie "next") reach the canary',
    },
  ];
  canarySteps.forEach((s, i) => {
    const of = `canary step ${i + 1} of ${canarySteps.length}`;
    steps.push({
      kind: 'set-weights',
      weights: { [live.number]: 100 - s.weight, [n]: s.weight },
      cause: `${of}: ${s.weight}% of users`,
    });
    if (s.pauseMs === 'manual' || s.pauseMs > 0) {
      steps.push({
        kind: 'pause',
        release: n,
        pauseMs: s.pauseMs,
        analysis: c?.analysis,
        cause: `${of}: hold at ${s.weight}%`,
      });
    }
  });
  steps.push(
    { kind: 'set-weights', weights: { [n]: 100 }, cause: `promoted: r${n} takes all traffic` },
    { kind: 'mark', release: n, status: 'live', cause: 'rollout complete' },
    ...retire(observed, desired),
  );
  const compensation = [...backToLive(live), ...discard(n, spec.deploy.drainTimeoutMs)];
  return { service: observed.service, release: n, strategy: 'canary', steps, compensation };
}
