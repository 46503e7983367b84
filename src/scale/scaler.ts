import type { Logger } from 'pino';
import type { DeployEvent, ReleaseRecord } from '../domain/types';
import { failed, notFound, usageError } from '../domain/errors';
import type { Clock } from '../ports/clock';
import type { ContainerRuntime } from '../ports/runtime';
import type { Router } from '../ports/router';
import type { StateStore } from '../ports/store';
import type { Executor } from '../engine/executor';
import type { ServiceLocks } from '../engine/locks';
import { planScale } from '../strategies/scale';

export interface ScalerDeps {
  project: string;
  store: StateStore;
  runtime: ContainerRuntime;
  router: Router;
  executor: Executor;
  locks: ServiceLocks;
  clock: Clock;
  log: Logger;
  /** Sees each recorded event (the live feed). */
  observer?: { event(e: DeployEvent): void };
}

export interface ScaleOptions {
  /** Who asked: cli, autoscaler, cold-start, schedule. Recorded with the events. */
  source: string;
  coldStart?: boolean;
  /** Wait this long for another operation on the service to finish instead of failing at once. */
  lockWaitMs?: number;
  reason?: string;
}

export interface ScaleOutcome {
  service: string;
  release: number;
  from: number;
  to: number;
  durationMs: number;
  source: string;
}

/**
 * Sets the replica count of a service's serving release, zero-downtime (see
 * planScale), under the service's lock, and records the new count so a
 * restart of the daemon keeps it.
 */
export class Scaler {
  private wakes = new Map<string, Promise<void>>();

  constructor(private readonly d: ScalerDeps) {}

  async scale(
    service: string,
    replicas: number,
    opts: ScaleOptions,
    sink: (e: DeployEvent) => void = () => {},
  ): Promise<ScaleOutcome> {
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > 1000)
      throw usageError(`replicas must be a whole number from 0 to 1000, got ${replicas}`);
    const unlock = await this.d.locks.acquireWithin(
      service,
      `a scale to ${replicas}`,
      opts.lockWaitMs ?? 0,
      this.d.clock,
    );
    const t0 = this.d.clock.now();
    try {
      const live = this.serving(service);
      const running = (
        await this.d.runtime.list({ project: this.d.project, service, release: live.number })
      ).filter((c) => c.running);
      const from = running.length;
      const emit = (e: Omit<DeployEvent, 'at' | 'service'> & { at?: number }) => {
        const ev: DeployEvent = { service, at: e.at ?? this.d.clock.now(), ...e };
        this.d.store.appendEvent(ev);
        this.d.observer?.event(ev);
        sink(ev);
      };
      if (from !== replicas) {
        const plan = planScale({
          release: live,
          running: running.map((c) => c.index),
          desired: replicas,
          weights: this.d.router.weights(service),
          coldStart: opts.coldStart,
        });
        emit({
          release: live.number,
          type: 'scale',
          message: `scale r${live.number} from ${from} to ${replicas} (${opts.source}${opts.reason ? `: ${opts.reason}` : ''})`,
          data: { from, to: replicas, source: opts.source },
        });
        await this.d.executor.run(plan, () => live.spec, emit);
      }
      this.d.store.updateRelease(service, live.number, { replicas });
      const out = {
        service,
        release: live.number,
        from,
        to: replicas,
        durationMs: this.d.clock.now() - t0,
        source: opts.source,
      };
      if (from !== replicas) {
        emit({
          release: live.number,
          type: 'scaled',
          message: `r${live.number} runs ${replicas} container(s) (${out.durationMs}ms)`,
          data: { ...out },
        });
        this.d.log.info(
          {
            service,
            release: live.number,
            from,
            to: replicas,
            source: opts.source,
            ms: out.durationMs,
          },
          'scaled',
        );
      }
      return out;
    } finally {
      unlock();
    }
  }

  /**
   * Brings a scaled-to-zero service back to one replica; concurrent callers
   * share one cold start. Resolves at once when the service is not at zero.
   */
  wake(service: string): Promise<void> {
    let p = this.wakes.get(service);
    if (!p) {
      p = this.coldStart(service).finally(() => this.wakes.delete(service));
      this.wakes.set(service, p);
    }
    return p;
  }

  private async coldStart(service: string): Promise<void> {
    const live = this.serving(service);
    if (live.spec.autoscale?.min !== 0)
      throw failed(`${service} has no container running and does not scale from zero`);
    if (this.d.router.targets(service).some((t) => !t.draining && t.release === live.number))
      return;
    await this.scale(
      service,
      1,
      { source: 'cold-start', coldStart: true, lockWaitMs: live.spec.deploy.deployTimeoutMs },
      () => {},
    );
  }

  /** The newest live release: the one a scale applies to. */
  private serving(service: string): ReleaseRecord {
    const live = this.d.store.releasesWithStatus(['live'], service)[0];
    if (!live) throw notFound(`${service} has no live release to scale`, 'deploy it first');
    return live;
  }
}
