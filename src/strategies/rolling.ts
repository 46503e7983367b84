import type { CountOrPercent, Plan, Step } from '../domain/types';
import { backToLive, discard, planBlueGreen } from './blue-green';
import type { Desired, Observed } from './types';

/** maxSurge rounds up and maxUnavailable rounds down, as in Kubernetes and Argo. */
export function resolveCount(
  v: CountOrPercent | undefined,
  replicas: number,
  round: 'up' | 'down',
): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  // Multiply first: integer arithmetic, no float error across the rounding boundary.
  const scaled = Number(v.replace('%', '')) * replicas;
  return round === 'up' ? Math.ceil(scaled / 100) : Math.floor(scaled / 100);
}

/**
 * Rolling: batches of new containers replace old ones. Never more than
 * replicas + maxSurge containers exist and never fewer than replicas -
 * maxUnavailable serve. Each batch is healthy before old containers are
 * drained and removed; traffic is split in proportion to the containers of
 * each release. A failure anywhere restores every old container.
 */
export function planRolling(observed: Observed, desired: Desired): Plan {
  const { live } = observed;
  const { spec, release: n } = desired;
  if (!live) return { ...planBlueGreen(observed, desired), strategy: 'rolling' };
  const d = spec.deploy;
  const want = spec.replicas;
  const oldCount = live.replicas;
  let surge = resolveCount(d.rolling?.maxSurge ?? 1, want, 'up');
  const unavailable = resolveCount(d.rolling?.maxUnavailable ?? 0, want, 'down');
  if (surge === 0 && unavailable === 0) surge = 1;
  const batch = Math.max(1, surge + unavailable);

  const oldLeft = Array.from({ length: oldCount }, (_, i) => i + 1);
  let started = 0;
  const steps: Step[] = [];
  const removeOld = (k: number, why: string) => {
    const idx = oldLeft.splice(0, Math.min(k, oldLeft.length));
    if (!idx.length) return;
    steps.push(
      {
        kind: 'drain',
        release: live.number,
        timeoutMs: d.drainTimeoutMs,
        indices: idx,
        cause: why,
      },
      { kind: 'remove', release: live.number, indices: idx, cause: why },
    );
  };
  const weights = (): Record<number, number> => {
    const total = started + oldLeft.length;
    // While both releases have containers each keeps 1..99%: a share rounded to 0 (1 new
    // container beside 200 old ones, or 1 old beside 200 new) leaves healthy containers
    // unrouted, and with 1 new beside 200 old draining, nothing serves.
    const w = Math.min(99, Math.max(1, Math.round((started / total) * 100)));
    return oldLeft.length ? { [live.number]: 100 - w, [n]: w } : { [n]: 100 };
  };

  let b = 0;
  const batches = Math.ceil(want / batch);
  while (started < want) {
    b++;
    const k = Math.min(batch, want - started);
    // Old containers may go before new ones are healthy only while enough still serve.
    const serving = oldLeft.length + started;
    const first = Math.max(
      0,
      Math.min(unavailable, k, oldLeft.length, serving - (want - unavailable)),
    );
    removeOld(
      first,
      `batch ${b} of ${batches}: maxUnavailable ${unavailable} lets old containers go first`,
    );
    const idx = Array.from({ length: k }, (_, i) => started + i + 1);
    steps.push(
      {
        kind: 'start',
        release: n,
        count: k,
        indices: idx,
        cause: `batch ${b} of ${batches}: at most ${want + surge} containers at once`,
      },
      {
        kind: 'wait-healthy',
        release: n,
        timeoutMs: d.deployTimeoutMs,
        indices: idx,
        cause: `batch ${b} must be healthy before old containers go`,
      },
    );
    started += k;
    steps.push({
      kind: 'set-weights',
      weights: weights(),
      cause: `batch ${b} of ${batches}: new containers take their share before old ones go`,
    });
    // Old containers beyond what the replica count still needs are retired now.
    const surplus = Math.max(0, oldLeft.length - Math.max(0, want - started));
    if (surplus > 0) {
      removeOld(surplus, `batch ${b} of ${batches}: replaced by the new containers`);
      steps.push({
        kind: 'set-weights',
        weights: weights(),
        cause: `batch ${b} of ${batches}: traffic in proportion to the containers`,
      });
    }
  }
  if (oldLeft.length) {
    removeOld(oldLeft.length, `the rest of r${live.number} is replaced`);
    steps.push({ kind: 'set-weights', weights: { [n]: 100 }, cause: `r${n} takes all traffic` });
  }
  steps.push(
    { kind: 'mark', release: n, status: 'live', cause: 'rollout complete' },
    {
      kind: 'mark',
      release: live.number,
      status: 'retired',
      cause: 'all its containers were replaced',
    },
  );

  const compensation: Step[] = [
    {
      kind: 'start',
      release: live.number,
      count: oldCount,
      ensure: true,
      cause: `bring back every container of r${live.number}`,
    },
    {
      kind: 'wait-healthy',
      release: live.number,
      timeoutMs: d.deployTimeoutMs,
      cause: `r${live.number} must be healthy again`,
    },
    ...backToLive(live),
    ...discard(n, spec.deploy.drainTimeoutMs),
  ];
  return { service: observed.service, release: n, strategy: 'rolling', steps, compensation };
}
