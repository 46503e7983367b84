import type { Plan, ReleaseRecord, Step } from '../domain/types';
import { backToLive, retire } from './blue-green';
import type { Observed } from './types';

/**
 * Rollback to `target`: when its containers are still running (kept by
 * keepPrevious) it is a quick health check and a flip; otherwise its
 * containers are started again from the recorded spec first.
 */
export function planRollback(observed: Observed, target: ReleaseRecord, running: boolean): Plan {
  const n = target.number;
  const spec = target.spec;
  const { live } = observed;
  const steps: Step[] = [];
  if (!running) {
    steps.push({
      kind: 'start',
      release: n,
      count: target.replicas,
      cause: `r${n}'s containers are gone: start them again from its spec`,
    });
  }
  steps.push(
    {
      kind: 'wait-healthy',
      release: n,
      timeoutMs: spec.deploy.deployTimeoutMs,
      quick: running,
      cause: running
        ? `r${n} is still running: one good probe each is enough`
        : 'must pass its health check before it gets traffic',
    },
    {
      kind: 'set-weights',
      weights: { [n]: 100 },
      cause: live
        ? `flip back: all traffic from r${live.number} to r${n}`
        : `r${n} takes all traffic`,
    },
    { kind: 'mark', release: n, status: 'live', cause: 'rollback complete' },
  );
  steps.push(
    ...retire(
      { ...observed, kept: observed.kept.filter((k) => k.number !== n) },
      { release: n, spec },
    ),
  );
  const compensation: Step[] = backToLive(live);
  compensation.push({
    kind: 'mark',
    release: n,
    status: target.status,
    cause: `r${n} stays ${target.status}`,
  });
  if (!running)
    compensation.push({ kind: 'remove', release: n, cause: `r${n} could not be brought back` });
  return { service: observed.service, release: n, strategy: 'blue-green', steps, compensation };
}
