import type { Logger } from 'pino';
import type { DeployEvent, Plan, ReleaseRecord, ServiceSpec } from '../domain/types';
import { formatPlan } from '../domain/types';
import { failed, notFound, usageError } from '../domain/errors';
import type { StateStore } from '../ports/store';
import type { ContainerRuntime } from '../ports/runtime';
import type { Clock } from '../ports/clock';
import { planBlueGreen } from '../strategies/blue-green';
import { planCanary } from '../strategies/canary';
import { planRolling } from '../strategies/rolling';
import { planRainbow } from '../strategies/rainbow';
import type { Planner } from '../strategies/types';
import type { RolloutGates } from './gates';
import { Rollout, type EventSink, type Paused } from './rollout';

export type { EventSink, Paused };

const PLANNERS: Record<ServiceSpec['deploy']['strategy'], Planner> = {
  'blue-green': planBlueGreen,
  rolling: planRolling,
  canary: planCanary,
  rainbow: planRainbow,
};
import { planRollback } from '../strategies/rollback';
import type { Observed } from '../strategies/types';
import type { Executor } from './executor';
import type { ServiceLocks } from './locks';
import type { Retirer } from './retirer';

export interface DeployerDeps {
  project: string;
  store: StateStore;
  runtime: ContainerRuntime;
  clock: Clock;
  executor: Executor;
  locks: ServiceLocks;
  retirer: Retirer;
  gates: RolloutGates;
  log: Logger;
  /** Sees every recorded event and each finished deploy or rollback (metrics, live views). */
  observer?: DeployObserver;
}

export interface DeployObserver {
  event(e: DeployEvent): void;
  /** strategy is "rollback" for rollbacks; result "succeeded" or "failed". */
  finished(service: string, strategy: string, result: string, durationMs: number): void;
}

export interface DeployOutcome {
  service: string;
  release: number;
  plan: string;
  dryRun: boolean;
  durationMs: number;
}

/**
 * With autoscale the autoscaler owns the replica count (as with Kubernetes'
 * HPA): a deploy starts as many replicas as serve now, within min..max.
 * Without it, shipit.yml's `replicas` is what a deploy uses; a `shipit scale`
 * lasts until the next deploy.
 */
export function replicasFor(spec: ServiceSpec, live: ReleaseRecord | null): number {
  const a = spec.autoscale;
  if (!a) return spec.replicas;
  const now = live && live.replicas > 0 ? live.replicas : spec.replicas;
  return Math.min(a.max, Math.max(a.min, 1, now));
}

/** observe -> plan (pure) -> execute, under the service's lock, recording every event. */
export class Deployer {
  private active = new Map<string, Rollout<DeployOutcome>>();

  constructor(private readonly d: DeployerDeps) {}

  observe(service: string): Observed {
    const serving = this.d.store.releasesWithStatus(['live'], service);
    const kept = this.d.store.releasesWithStatus(['previous'], service);
    return { service, live: serving[0] ?? null, kept, serving };
  }

  async deploy(
    requested: ServiceSpec,
    opts: { dryRun?: boolean; lockWaitMs?: number },
    sink: EventSink,
  ): Promise<DeployOutcome | Paused> {
    const service = requested.name;
    const planner = PLANNERS[requested.deploy.strategy];
    const unlock = opts.lockWaitMs
      ? await this.d.locks.acquireWithin(service, 'a deploy', opts.lockWaitMs, this.d.clock)
      : this.d.locks.acquire(service, 'a deploy');
    const t0 = this.d.clock.now();
    let rollout: Rollout<DeployOutcome>;
    try {
      await this.d.runtime.ping();
      if (!(await this.d.runtime.imageExists(requested.image))) {
        throw failed(
          `image "${requested.image}" not found on the Docker engine; nothing was changed`,
          'build or pull it first, or check the tag with: docker images',
        );
      }
      const observed = this.observe(service);
      const spec = { ...requested, replicas: replicasFor(requested, observed.live) };
      const number = this.d.store.nextReleaseNumber(service);
      const plan = planner(observed, { release: number, spec });
      if (opts.dryRun) {
        unlock();
        return this.outcome(plan, true, t0);
      }
      const specOf = this.specResolver(service, number, spec);
      this.d.store.insertRelease({
        service,
        number,
        image: spec.image,
        strategy: spec.deploy.strategy,
        spec,
        status: 'deploying',
        replicas: spec.replicas,
        startedAt: t0,
        finishedAt: null,
        result: null,
        reason: null,
        demotedAt: null,
      });
      rollout = new Rollout<DeployOutcome>(number);
      rollout.listen(sink);
      this.active.set(service, rollout);
      this.d.gates.begin(service);
      // The rollout outlives this call when it waits at a manual pause: the lock goes with it.
      rollout.done = this.execute(plan, specOf, rollout.emit, 'deploy')
        .then(() => this.outcome(plan, false, t0))
        .finally(() => {
          this.active.delete(service);
          this.d.gates.end(service);
          unlock();
        });
      rollout.done.catch(() => {}); // followers see the error; nobody may be following
    } catch (e) {
      unlock();
      throw e;
    }
    return rollout.follow(sink);
  }

  /** Continues a paused rollout (or skips a timed pause) and follows it to the end or the next manual pause. */
  async promote(service: string, sink: EventSink): Promise<DeployOutcome | Paused> {
    const rollout = this.active.get(service);
    if (!rollout) throw usageError(`${service} has no rollout in progress to promote`);
    if (!this.d.gates.promote(service)) {
      throw usageError(
        `${service} r${rollout.release} is not paused`,
        'it continues by itself; see shipit status',
      );
    }
    return rollout.follow(sink);
  }

  /** Stops the rollout in progress; its compensation returns all traffic to the stable release. */
  async abort(
    service: string,
    sink: EventSink,
  ): Promise<{ service: string; release: number; aborted: true }> {
    const rollout = this.active.get(service);
    if (!rollout) throw usageError(`${service} has no rollout in progress to abort`);
    rollout.listen(sink);
    try {
      this.d.gates.abort(service);
      await rollout.done.catch(() => undefined);
    } finally {
      rollout.unlisten(sink);
    }
    return { service, release: rollout.release, aborted: true };
  }

  /** The rollout in progress, for status: its release and where it waits. */
  rolloutOf(service: string): { release: number; paused: string | null } | null {
    const r = this.active.get(service);
    return r ? { release: r.release, paused: r.lastPause?.message ?? null } : null;
  }

  async rollback(
    service: string,
    to: number | undefined,
    opts: { dryRun?: boolean },
    sink: EventSink,
  ): Promise<DeployOutcome> {
    const unlock = this.d.locks.acquire(service, 'a rollback');
    const t0 = this.d.clock.now();
    try {
      const observed = this.observe(service);
      const target = this.rollbackTarget(service, observed, to);
      await this.d.runtime.ping();
      const containers = await this.d.runtime.list({
        project: this.d.project,
        service,
        release: target.number,
      });
      const running = containers.length >= 1 && containers.every((c) => c.running);
      if (!running && containers.length) {
        // Half-alive release: start it afresh rather than mix states.
        await Promise.all(containers.map((c) => this.d.runtime.remove(c.id)));
      }
      const plan = planRollback(observed, target, running);
      if (opts.dryRun) return this.outcome(plan, true, t0);
      const specOf = this.specResolver(service, target.number, target.spec);
      await this.execute(plan, specOf, sink, 'rollback');
      return this.outcome(plan, false, t0);
    } finally {
      unlock();
    }
  }

  private rollbackTarget(
    service: string,
    observed: Observed,
    to: number | undefined,
  ): ReleaseRecord {
    if (to === undefined) {
      const prev = observed.kept[0] ?? this.d.store.releasesWithStatus(['retired'], service)[0];
      if (!prev)
        throw notFound(`${service} has no previous release to roll back to`, 'see shipit history');
      return prev;
    }
    const r = this.d.store.getRelease(service, to);
    if (!r)
      throw notFound(
        `${service} has no release ${to}`,
        'see shipit history for the release numbers',
      );
    if (r.status === 'live') throw usageError(`${service} r${to} is already live`);
    if (r.result !== 'succeeded')
      throw usageError(
        `${service} r${to} never went live (${r.result ?? r.status}): refusing to roll back to it`,
      );
    return r;
  }

  private specResolver(service: string, number: number, spec: ServiceSpec) {
    return (n: number): ServiceSpec => {
      if (n === number) return spec;
      const r = this.d.store.getRelease(service, n);
      if (!r) throw failed(`${service} r${n} is not recorded`);
      return r.spec;
    };
  }

  private async execute(
    plan: Plan,
    specOf: (n: number) => ServiceSpec,
    sink: EventSink,
    what: string,
  ): Promise<void> {
    const { store, clock, log, executor, observer } = this.d;
    const t0 = clock.now();
    const finished = (result: string) =>
      observer?.finished(
        plan.service,
        what === 'deploy' ? plan.strategy : what,
        result,
        clock.now() - t0,
      );
    const emit = (e: Omit<DeployEvent, 'at' | 'service'> & { at?: number }) => {
      const ev: DeployEvent = { service: plan.service, at: e.at ?? clock.now(), ...e };
      store.appendEvent(ev);
      log.info({ service: plan.service, release: ev.release, event: ev.type }, ev.message);
      observer?.event(ev);
      sink(ev);
    };
    emit({ release: plan.release, type: 'plan', message: formatPlan(plan), data: { what } });
    try {
      await executor.run(plan, specOf, emit);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const hint = (err as { hint?: string }).hint;
      if (what === 'deploy')
        store.updateRelease(plan.service, plan.release, {
          result: 'failed',
          reason,
          finishedAt: clock.now(),
        });
      emit({
        release: plan.release,
        type: 'failed',
        message: reason,
        data: hint ? { hint } : undefined,
      });
      finished('failed');
      throw err;
    }
    if (what === 'deploy') store.updateRelease(plan.service, plan.release, { result: 'succeeded' });
    emit({
      release: plan.release,
      type: 'live',
      message: `${plan.service} r${plan.release} is live`,
    });
    finished('succeeded');
    for (const kept of store.releasesWithStatus(['previous'], plan.service))
      this.d.retirer.schedule(kept);
  }

  private outcome(plan: Plan, dryRun: boolean, t0: number): DeployOutcome {
    return {
      service: plan.service,
      release: plan.release,
      plan: formatPlan(plan),
      dryRun,
      durationMs: this.d.clock.now() - t0,
    };
  }
}
