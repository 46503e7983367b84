import type { Plan, Step } from '../domain/types';
import { discard, planBlueGreen } from './blue-green';
import type { Desired, Observed } from './types';

/**
 * Rainbow: the new release takes every new user; the releases already
 * serving stay live for the users pinned to them and the connections they
 * hold (the rainbow reaper removes each once nothing is in flight on it, or at
 * maxAge). At most maxLive releases serve at once: the oldest beyond that is
 * drained and removed here.
 */
export function planRainbow(observed: Observed, desired: Desired): Plan {
  const { spec, release: n } = desired;
  const serving = observed.serving ?? (observed.live ? [observed.live] : []);
  if (!serving.length) return { ...planBlueGreen(observed, desired), strategy: 'rainbow' };
  const maxLive = Math.max(1, spec.deploy.rainbow?.maxLive ?? 3);
  const keep = serving.slice(0, maxLive - 1); // newest first
  const drop = serving.slice(maxLive - 1);
  const weights = (rs: typeof serving) =>
    Object.fromEntries([[n, 100], ...rs.map((r) => [r.number, 0])]);
  const steps: Step[] = [
    {
      kind: 'start',
      release: n,
      count: spec.replicas,
      cause: `r${n} joins ${serving.map((r) => `r${r.number}`).join(', ')}`,
    },
    {
      kind: 'wait-healthy',
      release: n,
      timeoutMs: spec.deploy.deployTimeoutMs,
      cause: 'must pass its health check before it gets users',
    },
    {
      kind: 'set-weights',
      weights: weights(drop.length ? serving : keep),
      cause: `new users go to r${n}; users pinned to older releases stay there`,
    },
    { kind: 'mark', release: n, status: 'live', cause: 'rollout complete' },
  ];
  const why = `at most maxLive ${maxLive} releases serve at once: the oldest goes`;
  if (drop.length) {
    const names = drop.map((r) => `r${r.number}`).join(', ');
    steps.push({
      kind: 'set-weights',
      weights: weights(keep),
      cause: `${names} ${drop.length === 1 ? 'gets' : 'get'} no new request`,
    });
  }
  // Every record is written before any container goes (as in retire()): a failed write then
  // still finds the containers of the release it routes back to, even when that one is dropped.
  for (const old of drop)
    steps.push({ kind: 'mark', release: old.number, status: 'retired', cause: why });
  for (const old of drop) {
    steps.push(
      {
        kind: 'drain',
        release: old.number,
        timeoutMs: spec.deploy.drainTimeoutMs,
        cause: why,
        bestEffort: true,
      },
      { kind: 'remove', release: old.number, cause: why, bestEffort: true },
    );
  }
  const compensation: Step[] = [
    {
      kind: 'set-weights',
      weights: Object.fromEntries(serving.map((r, i) => [r.number, i === 0 ? 100 : 0])),
      cause: 'the releases already serving keep serving',
    },
    {
      kind: 'mark',
      release: serving[0].number,
      status: 'live',
      cause: `r${serving[0].number} stays live`,
    },
    ...discard(n, spec.deploy.drainTimeoutMs),
  ];
  return { service: observed.service, release: n, strategy: 'rainbow', steps, compensation };
}
