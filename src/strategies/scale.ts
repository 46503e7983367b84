import type { Plan, ReleaseRecord, Step, Weights } from '../domain/types';

export interface ScaleInput {
  /** The release that serves (the newest live one). */
  release: ReleaseRecord;
  /** Container indices of that release running now. */
  running: number[];
  desired: number;
  /** The service's weights now, republished unchanged so the new set of containers is routed. */
  weights: Weights;
  /** From zero: probe fast, the first good probe counts (requests are waiting). */
  coldStart?: boolean;
}

/**
 * Changes the replica count of the serving release without a failed request:
 * new containers get traffic only once healthy; removed ones are drained first.
 * Removal takes the highest indices; additions fill the lowest free ones.
 */
export function planScale(input: ScaleInput): Plan {
  const { release, running, desired } = input;
  const n = release.number;
  const spec = release.spec;
  const weights = Object.keys(input.weights).length ? input.weights : { [n]: 100 };
  const publish: Step = {
    kind: 'set-weights',
    weights,
    cause: `route r${n}'s ${desired} container(s)`,
  };
  const sorted = [...running].sort((a, b) => a - b);
  const plan = (steps: Step[], compensation: Step[]): Plan => ({
    service: release.service,
    release: n,
    strategy: release.strategy,
    steps,
    compensation,
  });
  if (desired > sorted.length) {
    const add: number[] = [];
    for (let i = 1; add.length < desired - sorted.length; i++) if (!sorted.includes(i)) add.push(i);
    return plan(
      [
        {
          kind: 'start',
          release: n,
          count: desired,
          indices: add,
          cause: `scale r${n} from ${sorted.length} to ${desired}`,
        },
        {
          kind: 'wait-healthy',
          release: n,
          indices: add,
          timeoutMs: spec.deploy.deployTimeoutMs,
          ...(input.coldStart ? { quick: true, pollMs: 10 } : {}),
          cause: input.coldStart
            ? 'cold start: requests wait for the first good probe'
            : 'new containers get traffic only once healthy',
        },
        publish,
      ],
      [{ kind: 'remove', release: n, indices: add, cause: 'the scale-up failed' }, publish],
    );
  }
  const drop = sorted.slice(desired);
  if (!drop.length) return plan([publish], []);
  return plan(
    [
      {
        kind: 'drain',
        release: n,
        indices: drop,
        timeoutMs: spec.deploy.drainTimeoutMs,
        cause: `scale r${n} from ${sorted.length} to ${desired}: drain first`,
      },
      { kind: 'remove', release: n, indices: drop, cause: 'drained' },
      publish,
    ],
    [publish],
  );
}
