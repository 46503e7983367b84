import type { Logger } from 'pino';
import type { ContainerRuntime, ContainerUsage } from '../ports/runtime';

export interface ContainerSample {
  id: string;
  name: string;
  service: string;
  release: number;
  /** CPU used between the last two readings, in cores divided by the container's CPU limit (1 core when none). */
  cpuRatio: number | null;
  memoryBytes: number;
  at: number;
}

export interface UsageSamplerDeps {
  project: string;
  runtime: ContainerRuntime;
  log: Logger;
  intervalMs: number;
  /** The CPU limit of a release (resources.cpus), when it has one. */
  cpuLimit?: (service: string, release: number) => number | undefined;
  now?: () => number;
}

/** Readings at most this many at once, so a host with many containers does not flood the engine. */
const CONCURRENCY = 8;

/**
 * Reads Docker stats of every running managed container on a timer, off the
 * request path: the metrics export, alerts and the autoscaler read the last
 * samples instead of calling the engine.
 */
export class UsageSampler {
  private samples = new Map<string, ContainerSample>();
  private previous = new Map<string, ContainerUsage>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** Set by stop(): a round in flight ends at its next step (the store may be closing). */
  private stopped = false;

  constructor(private readonly d: UsageSamplerDeps) {}

  start(): void {
    if (this.timer) return;
    this.stopped = false;
    void this.sampleNow();
    this.timer = setInterval(() => void this.sampleNow(), this.d.intervalMs);
    this.timer.unref();
  }

  /** Stops sampling; resolves once a round in flight has ended (it reads no more after this). */
  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopped = true;
    return this.running ?? Promise.resolve();
  }

  /** The latest sample of each running container. */
  current(): ContainerSample[] {
    return [...this.samples.values()];
  }

  /** Takes one round of readings now (a round already running is joined, not doubled). */
  sampleNow(): Promise<void> {
    this.running ??= this.round().finally(() => (this.running = null));
    return this.running;
  }

  private async round(): Promise<void> {
    const now = this.d.now ?? Date.now;
    let containers;
    try {
      containers = (await this.d.runtime.list({ project: this.d.project })).filter(
        (c) => c.running,
      );
    } catch (e) {
      this.d.log.warn({ err: (e as Error).message }, 'container stats: listing failed');
      return;
    }
    const seen = new Set<string>();
    let next = 0;
    const worker = async () => {
      while (next < containers.length && !this.stopped) {
        const c = containers[next++];
        let u: ContainerUsage | null;
        try {
          u = await this.d.runtime.usage(c.id);
        } catch (e) {
          this.d.log.debug({ container: c.name, err: (e as Error).message }, 'stats failed');
          continue;
        }
        if (!u || this.stopped) continue;
        seen.add(c.id);
        const prev = this.previous.get(c.id);
        this.previous.set(c.id, u);
        const limit = this.d.cpuLimit?.(c.service, c.release) || 1;
        this.samples.set(c.id, {
          id: c.id,
          name: c.name,
          service: c.service,
          release: c.release,
          cpuRatio: prev ? cpuCores(prev, u) / limit : null,
          memoryBytes: u.memoryBytes,
          at: now(),
        });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    for (const id of [...this.samples.keys()]) {
      if (!seen.has(id)) {
        this.samples.delete(id);
        this.previous.delete(id);
      }
    }
  }
}

/** Cores used between two readings (what `docker stats` shows as a percentage / 100). */
export function cpuCores(before: ContainerUsage, after: ContainerUsage): number {
  const cpu = after.cpuNs - before.cpuNs;
  const system = after.systemNs - before.systemNs;
  if (cpu <= 0 || system <= 0) return 0;
  return (cpu / system) * after.onlineCpus;
}
