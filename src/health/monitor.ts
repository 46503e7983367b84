import type { Logger } from 'pino';
import type { HealthcheckSpec } from '../domain/types';
import type { Probe } from './probe';

export interface MonitoredTarget {
  id: string;
  name: string;
  host: string;
  port: number;
  healthcheck: HealthcheckSpec;
}

interface Entry {
  target: MonitoredTarget;
  timer: NodeJS.Timeout | null;
  successes: number;
  failures: number;
  healthy: boolean;
  lastDetail: string;
}

/**
 * Probes every routed container on its own interval; health flips after healthyThreshold successes / unhealthyThreshold failures in a row.
 */
export class HealthMonitor {
  private entries = new Map<string, Entry>();

  constructor(
    private readonly probe: Probe,
    private readonly onChange: (id: string, healthy: boolean, detail: string) => void,
    private readonly log: Logger,
  ) {}

  /** Replaces the set of watched targets; targets already watched keep their state. */
  watch(targets: MonitoredTarget[]): void {
    const keep = new Set(targets.map((t) => t.id));
    for (const [id, e] of this.entries) {
      if (!keep.has(id)) {
        if (e.timer) clearTimeout(e.timer);
        this.entries.delete(id);
      }
    }
    for (const t of targets) {
      if (this.entries.has(t.id)) continue;
      const e: Entry = {
        target: t,
        timer: null,
        successes: 0,
        failures: 0,
        healthy: true,
        lastDetail: '',
      };
      this.entries.set(t.id, e);
      this.schedule(e);
    }
  }

  status(id: string): { healthy: boolean; detail: string } | null {
    const e = this.entries.get(id);
    return e ? { healthy: e.healthy, detail: e.lastDetail } : null;
  }

  stop(): void {
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
    this.entries.clear();
  }

  private schedule(e: Entry): void {
    e.timer = setTimeout(() => void this.check(e), e.target.healthcheck.intervalMs);
    e.timer.unref();
  }

  private async check(e: Entry): Promise<void> {
    const { target } = e;
    const r = await this.probe(target.host, target.port, target.healthcheck);
    if (this.entries.get(target.id) !== e) return; // unwatched meanwhile
    e.lastDetail = r.detail;
    if (r.ok) {
      e.successes++;
      e.failures = 0;
      if (!e.healthy && e.successes >= target.healthcheck.healthyThreshold) this.flip(e, true);
    } else {
      e.failures++;
      e.successes = 0;
      if (e.healthy && e.failures >= target.healthcheck.unhealthyThreshold) this.flip(e, false);
    }
    // Reported on every check, so a passive mark-down by the proxy is undone by the next good probe.
    this.onChange(target.id, e.healthy, r.detail);
    this.schedule(e);
  }

  private flip(e: Entry, healthy: boolean): void {
    e.healthy = healthy;
    this.log.warn({ container: e.target.name, healthy, detail: e.lastDetail }, 'health changed');
  }
}
