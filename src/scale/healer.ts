import type { Logger } from 'pino';
import type { Clock } from '../ports/clock';
import type { ContainerRuntime } from '../ports/runtime';
import type { StateStore } from '../ports/store';
import type { ServiceLocks } from '../engine/locks';
import type { Scaler } from './scaler';

export interface HealerDeps {
  project: string;
  runtime: ContainerRuntime;
  store: StateStore;
  locks: ServiceLocks;
  scaler: Scaler;
  clock: Clock;
  log: Logger;
  /** Wait this long after a death before acting: a stop of shipit's own is followed by a removal. */
  settleMs?: number;
}

/**
 * Replaces containers of a serving release that die on their own (crash,
 * OOM, `docker kill`): the proxy already stopped routing to them; this brings
 * the release back to its recorded replica count, zero-downtime (a scale).
 * Deaths shipit caused (drain and remove, scale down, retirement) are not
 * replaced: those containers are gone, or their release no longer serves.
 */
export class Healer {
  private pending = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(private readonly d: HealerDeps) {}

  /** A container died: look again once things settle, then replace it if it still counts as lost. */
  died(service: string, release: number, id: string): void {
    if (this.stopped || this.pending.has(service)) return;
    const p = this.d.clock
      .sleep(this.d.settleMs ?? 1000)
      .then(() => this.heal(service, release, id))
      .catch((e: Error) =>
        this.d.log.warn({ service, release, err: e.message }, 'replacement failed'),
      )
      .finally(() => this.pending.delete(service));
    this.pending.set(service, p);
  }

  stop(): void {
    this.stopped = true;
  }

  /** Resolves when no replacement is running. */
  async idle(): Promise<void> {
    await Promise.all(this.pending.values());
  }

  private async heal(service: string, release: number, id: string): Promise<void> {
    if (this.stopped) return;
    const live = this.d.store.releasesWithStatus(['live'], service)[0];
    if (!live || live.number !== release) return; // not the serving release (any more)
    const dead = await this.d.runtime.inspect(id);
    if (!dead || dead.running) return; // removed by shipit, or back up
    const running = (
      await this.d.runtime.list({ project: this.d.project, service, release })
    ).filter((c) => c.running).length;
    if (running >= live.replicas) return;
    this.d.log.warn(
      {
        service,
        release,
        container: dead.name,
        exitCode: dead.exitCode,
        running,
        want: live.replicas,
      },
      'replacing a container that died',
    );
    // The dead container keeps its name until removed; the replacement takes its index.
    await this.d.runtime.remove(id);
    await this.d.scaler.scale(service, live.replicas, {
      source: 'replace',
      reason: `${dead.name} died (exit ${dead.exitCode ?? '?'})`,
      lockWaitMs: 30_000,
    });
  }
}
