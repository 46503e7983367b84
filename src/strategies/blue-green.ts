import type { Plan, ReleaseRecord, Step } from '../domain/types';
import type { Desired, Observed } from './types';

/**
 * Blue/green: the whole new release starts beside the live one, becomes
 * healthy out of routing, and takes 100% of traffic in one swap. The old
 * release is kept running (out of routing) for keepPrevious so rollback is a
 * flip back; releases older than that are drained and removed.
 */
export function planBlueGreen(observed: Observed, desired: Desired): Plan {
  const { spec, release: n } = desired;
  const { live } = observed;
  const d = spec.deploy;
  const steps: Step[] = [
    {
      kind: 'start',
      release: n,
      count: spec.replicas,
      cause: live
        ? `new release r${n} starts beside live r${live.number}`
        : `first release of ${spec.name}`,
    },
    {
      kind: 'wait-healthy',
      release: n,
      timeoutMs: d.deployTimeoutMs,
      cause: 'must pass its health check before it gets traffic',
    },
    {
      kind: 'set-weights',
      weights: { [n]: 100 },
      cause: live
        ? `flip: all traffic from r${live.number} to r${n} in one swap`
        : `r${n} takes all traffic`,
    },
    { kind: 'mark', release: n, status: 'live', cause: 'rollout complete' },
  ];
  steps.push(...retire(observed, desired));
  const compensation = [...backToLive(live), ...discard(n, spec.deploy.drainTimeoutMs)];
  return { service: observed.service, release: n, strategy: 'blue-green', steps, compensation };
}

/** Compensation shared by every plan: traffic and the record both return to the live release. */
export function backToLive(live: ReleaseRecord | null): Step[] {
  if (!live) return [];
  return [
    {
      kind: 'set-weights',
      weights: { [live.number]: 100 },
      cause: `traffic stays on r${live.number}`,
    },
    {
      kind: 'mark',
      release: live.number,
      status: 'live',
      cause: `r${live.number} stays the live release`,
    },
  ];
}

/** Compensation shared by every plan: what already reached the new release finishes, then it goes. */
export function discard(n: number, drainTimeoutMs: number): Step[] {
  return [
    {
      kind: 'drain',
      release: n,
      timeoutMs: drainTimeoutMs,
      cause: `requests already on r${n} finish first`,
    },
    { kind: 'remove', release: n, cause: `the failed release r${n} leaves no container behind` },
    { kind: 'mark', release: n, status: 'failed', cause: 'deploy failed' },
  ];
}

/** After a flip: keep the release that just stopped serving (if keepPrevious), retire the rest. */
export function retire(observed: Observed, desired: Desired): Step[] {
  const steps: Step[] = [];
  const { live, kept } = observed;
  const d = desired.spec.deploy;
  const keepOld = live && d.keepPreviousMs > 0;
  if (live && keepOld) {
    steps.push({
      kind: 'mark',
      release: live.number,
      status: 'previous',
      cause: `kept running out of routing for ${d.keepPreviousMs}ms: rollback is a flip back`,
    });
  }
  const toRemove = [
    ...(live && !keepOld ? [live] : []),
    // Older releases still serving after a rainbow deploy: one live release from now on.
    ...(observed.serving ?? []).filter((r) => r !== live && r.number !== desired.release),
    ...kept.filter((k) => k.number !== desired.release),
  ];
  const why = (old: ReleaseRecord) =>
    old === live ? 'keepPrevious is 0' : 'only the latest previous release is kept';
  // Every record is written before any container goes: if a write fails, the
  // compensation still finds containers to route back to. Cleanup after the
  // flip must not undo a good deploy: a container that will not go away is left
  // to the next reconcile (it is no longer live or previous).
  for (const old of toRemove) {
    steps.push({ kind: 'mark', release: old.number, status: 'retired', cause: why(old) });
  }
  for (const old of toRemove) {
    steps.push(
      {
        kind: 'drain',
        release: old.number,
        timeoutMs: d.drainTimeoutMs,
        cause: `in-flight requests of r${old.number} finish`,
        bestEffort: true,
      },
      { kind: 'remove', release: old.number, cause: why(old), bestEffort: true },
    );
  }
  return steps;
}
