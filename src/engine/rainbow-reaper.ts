import type { Logger } from 'pino';
import type { Plan, ReleaseRecord } from '../domain/types';
import type { Clock } from '../ports/clock';
import type { Router } from '../ports/router';
import type { StateStore } from '../ports/store';
import type { Executor } from './executor';
import type { ServiceLocks } from './locks';
import { runCleanup } from './retirer';

interface ReaperDeps {
  store: StateStore;
  router: Router;
  executor: Executor;
  locks: ServiceLocks;
  clock: Clock;
  log: Logger;
}

/**
 * Rainbow releases that no longer take new users are removed once nothing is
 * in flight on them (requests, WebSockets), or when maxAge has passed since a
 * newer release took over.
 */
export class RainbowReaper {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly d: ReaperDeps) {}

  start(intervalMs = 500): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Releases due for removal now (pure, for status and tests). */
  due(): ReleaseRecord[] {
    const out: ReleaseRecord[] = [];
    const byService = new Map<string, ReleaseRecord[]>();
    for (const r of this.d.store.releasesWithStatus(['live'])) {
      byService.set(r.service, [...(byService.get(r.service) ?? []), r]);
    }
    const now = this.d.clock.now();
    for (const [service, lives] of byService) {
      const targets = this.d.router.targets(service);
      // lives is newest first: lives[0] takes the new users.
      for (let i = 1; i < lives.length; i++) {
        const r = lives[i];
        const inflight = targets
          .filter((t) => t.release === r.number)
          .reduce((s, t) => s + t.inflight, 0);
        const since = lives[i - 1].finishedAt ?? now;
        const maxAge = lives[0].spec.deploy.rainbow?.maxAgeMs;
        if (inflight === 0 || (maxAge !== undefined && now - since > maxAge)) out.push(r);
      }
    }
    return out;
  }

  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const r of this.due()) await this.retire(r);
    } finally {
      this.busy = false;
    }
  }

  private async retire(r: ReleaseRecord): Promise<void> {
    const rest = this.d.store
      .releasesWithStatus(['live'], r.service)
      .filter((x) => x.number !== r.number);
    const why = 'a rainbow release with nothing in flight (or past maxAge) goes';
    const plan: Plan = {
      service: r.service,
      release: r.number,
      strategy: 'rainbow',
      steps: [
        {
          kind: 'set-weights',
          weights: Object.fromEntries(rest.map((x, i) => [x.number, i === 0 ? 100 : 0])),
          cause: why,
        },
        {
          kind: 'drain',
          release: r.number,
          timeoutMs: r.spec.deploy.drainTimeoutMs,
          cause: why,
          bestEffort: true,
        },
        { kind: 'remove', release: r.number, cause: why, bestEffort: true },
        { kind: 'mark', release: r.number, status: 'retired', cause: why },
      ],
      compensation: [],
    };
    const specOf = (n: number) => this.d.store.getRelease(r.service, n)?.spec ?? r.spec;
    // Busy (a deploy holds the lock): the next tick tries again.
    await runCleanup(this.d, plan, specOf, 'rainbow release retired');
  }
}
