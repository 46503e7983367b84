import type { Logger } from 'pino';
import type { Plan, ReleaseRecord, ServiceSpec } from '../domain/types';
import { isShipitError } from '../domain/errors';
import type { Clock } from '../ports/clock';
import type { StateStore } from '../ports/store';
import type { Executor } from './executor';
import type { ServiceLocks } from './locks';

const MAX_TIMER_MS = 2 ** 31 - 1;

export interface CleanupDeps {
  store: StateStore;
  clock: Clock;
  executor: Executor;
  locks: ServiceLocks;
  log: Logger;
}

/**
 * Runs a cleanup plan (no compensation) under the service's lock, recording
 * its events. False when another operation holds the lock; a failure is logged.
 */
export async function runCleanup(
  d: CleanupDeps,
  plan: Plan,
  specOf: (n: number) => ServiceSpec,
  done: string,
): Promise<boolean> {
  const { service, release } = plan;
  let unlock: () => void;
  try {
    unlock = d.locks.acquire(service, `retiring r${release}`);
  } catch (e) {
    if (!isShipitError(e)) throw e;
    return false;
  }
  try {
    await d.executor.run(plan, specOf, (e) =>
      d.store.appendEvent({ service, at: d.clock.now(), ...e }),
    );
    d.log.info({ service, release }, done);
  } catch (e) {
    d.log.error({ service, release, err: (e as Error).message }, `${done}: failed`);
  } finally {
    unlock();
  }
  return true;
}

/**
 * Removes a previous release once keepPrevious has passed since it stopped
 * serving. Timers are rebuilt from the store on daemon start.
 */
export class Retirer {
  private timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly d: {
      store: StateStore;
      clock: Clock;
      executor: Executor;
      locks: ServiceLocks;
      log: Logger;
    },
  ) {}

  schedule(r: ReleaseRecord): void {
    const key = `${r.service}:${r.number}`;
    if (this.timers.has(key)) return;
    const due = (r.demotedAt ?? this.d.clock.now()) + r.spec.deploy.keepPreviousMs;
    const wait = Math.max(0, due - this.d.clock.now());
    // A timer longer than 2^31-1 ms (~24.8 days, e.g. keepPrevious: 30d) fires at once: re-arm instead.
    const t = setTimeout(
      () => {
        this.timers.delete(key);
        if (wait > MAX_TIMER_MS) this.schedule(r);
        else void this.retire(r.service, r.number);
      },
      Math.min(wait, MAX_TIMER_MS),
    );
    t.unref();
    this.timers.set(key, t);
  }

  async retire(service: string, number: number): Promise<void> {
    const r = this.d.store.getRelease(service, number);
    if (!r || r.status !== 'previous') return;
    const why = 'keepPrevious has passed';
    const plan: Plan = {
      service,
      release: number,
      strategy: r.strategy,
      steps: [
        { kind: 'drain', release: number, timeoutMs: r.spec.deploy.drainTimeoutMs, cause: why },
        { kind: 'remove', release: number, cause: why },
        { kind: 'mark', release: number, status: 'retired', cause: why },
      ],
      compensation: [],
    };
    const ran = await runCleanup(this.d, plan, () => r.spec, 'previous release retired');
    if (!ran) {
      // Busy with a deploy: try again shortly; the deploy itself may retire it first.
      const t = setTimeout(() => void this.retire(service, number), 5000);
      t.unref();
    }
  }

  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
