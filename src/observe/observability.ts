import type { Logger } from 'pino';
import type { DeployEvent } from '../domain/types';
import type { ContainerRuntime } from '../ports/runtime';
import type { StateStore } from '../ports/store';
import type { ProxyRouter } from '../proxy/router';
import type { DeployObserver } from '../engine/deployer';
import { AlertEngine, type AlertRule, type AlertStatus, type AlertTransition } from './alerts';
import { ShipitMetrics } from './metrics';
import { UsageSampler, type ContainerSample } from './usage-sampler';
import { WebhookNotifier } from './webhook';
import { StatsWindow } from './window';

export interface ObservabilityDeps {
  project: string;
  router: ProxyRouter;
  runtime: ContainerRuntime;
  store: StateStore;
  log: Logger;
  rules: AlertRule[];
  /** resources.cpus of a release, for the CPU ratio. */
  cpuLimit?: (service: string, release: number) => number | undefined;
  /** How often counters are read and alerts evaluated. */
  tickMs?: number;
  /** How often Docker stats are read. */
  usageIntervalMs?: number;
  now?: () => number;
  webhook?: WebhookNotifier;
}

/** The window of the live rates on the dashboard. */
export const LIVE_WINDOW_MS = 5000;

export interface ReleaseLive {
  number: number;
  weight: number;
  rps: number;
  errorRate: number;
  p99Ms: number;
  inflight: number;
  healthy: number;
  total: number;
}

export interface StatsEvent {
  at: number;
  services: { name: string; releases: ReleaseLive[] }[];
}

export type LiveEvent =
  | { type: 'stats'; data: StatsEvent }
  | { type: 'deploy'; data: DeployEvent }
  | { type: 'alert'; data: AlertStatus };

/**
 * Metrics, alerts and the live feed: reads the proxy's counters once per
 * tick, evaluates alert rules on sliding windows, samples Docker stats, and
 * tells subscribers (the dashboard's event stream) what changed.
 */
export class Observability implements DeployObserver {
  readonly metrics: ShipitMetrics;
  readonly window: StatsWindow;
  readonly usage: UsageSampler;
  readonly alerts: AlertEngine;
  private readonly webhook: WebhookNotifier;
  private readonly subscribers = new Set<(e: LiveEvent) => void>();
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly d: ObservabilityDeps) {
    this.now = d.now ?? Date.now;
    const longest = Math.max(60_000, ...d.rules.map((r) => r.windowMs));
    this.window = new StatsWindow(longest + (d.tickMs ?? 1000));
    this.usage = new UsageSampler({
      project: d.project,
      runtime: d.runtime,
      log: d.log,
      intervalMs: d.usageIntervalMs ?? 5000,
      cpuLimit: d.cpuLimit,
      now: this.now,
    });
    this.alerts = new AlertEngine(d.rules, this.now());
    this.webhook = d.webhook ?? new WebhookNotifier({ log: d.log.child({ part: 'webhook' }) });
    this.metrics = new ShipitMetrics({
      counters: () => d.router.counters(),
      services: () => d.router.services(),
      weights: (s) => d.router.weights(s),
      containers: () => this.usage.current(),
      alerts: () => this.alerts.statuses(),
    });
  }

  start(): void {
    if (this.timer) return;
    this.usage.start();
    this.tick();
    this.timer = setInterval(() => this.tick(), this.d.tickMs ?? 1000);
    this.timer.unref();
  }

  /** Stops the rounds; resolves once a container-stats round in flight has ended. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.webhook.stop();
    this.subscribers.clear();
    await this.usage.stop();
  }

  /** One round: read counters, evaluate alerts, feed subscribers. Public for tests. */
  tick(): void {
    // On the tick grid: a timer that fires a few ms late must not make `for: 2s`
    // wait a third tick (evaluations 1999 ms apart instead of 2000).
    const step = this.d.tickMs ?? 1000;
    const now = Math.round(this.now() / step) * step;
    this.window.sample(
      now,
      this.d.router.counters().map((e) => ({
        service: e.service,
        release: e.release,
        snapshot: e.stats.snapshot(),
      })),
    );
    for (const t of this.alerts.evaluate(now, (rule) => this.valueOf(rule)))
      this.onTransition(t, now);
    if (this.subscribers.size) this.publish({ type: 'stats', data: this.live(now) });
  }

  /** The value an alert rule compares with its threshold, or null when nothing was measured. */
  valueOf(rule: AlertRule): number | null {
    if (rule.metric === 'cpu' || rule.metric === 'memory') {
      const mine = this.usage.current().filter((c) => c.service === rule.service);
      return rule.metric === 'cpu' ? meanCpu(mine) : maxMemory(mine);
    }
    const r = this.window.rates(rule.service, 'all', rule.windowMs);
    if (rule.metric === 'rps') return r.rps;
    return rule.metric === 'p99' ? r.p99Ms : r.errorRate;
  }

  /** Live rates per release of every routed service. */
  live(now = this.now()): StatsEvent {
    const services = this.d.router.services().map((name) => {
      const weights = this.d.router.weights(name);
      const targets = this.d.router.targets(name);
      const numbers = new Set<number>([
        ...Object.keys(weights).map(Number),
        ...targets.map((t) => t.release),
      ]);
      const releases = [...numbers]
        .sort((a, b) => a - b)
        .map((number) => {
          const mine = targets.filter((t) => t.release === number);
          const routed = mine.filter((t) => !t.draining);
          const r = this.window.rates(name, number, LIVE_WINDOW_MS);
          return {
            number,
            weight: weights[number] ?? 0,
            rps: round(r.rps, 2),
            errorRate: round(r.errorRate, 4),
            p99Ms: Number.isFinite(r.p99Ms) ? r.p99Ms : -1,
            inflight: mine.reduce((s, t) => s + t.inflight, 0),
            healthy: routed.filter((t) => t.healthy).length,
            total: routed.length,
          };
        });
      return { name, releases };
    });
    return { at: now, services };
  }

  /** Receives every live event until the returned function is called. */
  subscribe(fn: (e: LiveEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => void this.subscribers.delete(fn);
  }

  event(e: DeployEvent): void {
    this.publish({ type: 'deploy', data: e });
  }

  finished(service: string, strategy: string, result: string, durationMs: number): void {
    this.metrics.deployFinished(service, strategy, result, durationMs / 1000);
  }

  containers(): ContainerSample[] {
    return this.usage.current();
  }

  /** Mean CPU ratio of a release's containers; null before two readings. */
  cpuOf(service: string, release: number): number | null {
    return meanCpu(
      this.usage.current().filter((c) => c.service === service && c.release === release),
    );
  }

  private publish(e: LiveEvent): void {
    for (const fn of this.subscribers) {
      try {
        fn(e);
      } catch (err) {
        this.d.log.warn({ err: (err as Error).message }, 'live subscriber failed');
      }
    }
  }

  private onTransition(t: AlertTransition, now: number): void {
    const { rule } = t;
    const value = t.value === null ? 'n/a' : round(t.value, 4);
    const message = `alert ${rule.name} ${t.status}: ${rule.service} ${rule.metric} ${value} (${rule.op} ${rule.threshold})`;
    const fields = { alert: rule.name, service: rule.service, metric: rule.metric, value: t.value };
    if (t.status === 'firing') this.d.log.warn(fields, 'alert firing');
    else this.d.log.info(fields, 'alert resolved');
    const payload = {
      project: this.d.project,
      alert: rule.name,
      service: rule.service,
      status: t.status,
      metric: rule.metric,
      op: rule.op,
      threshold: rule.threshold,
      value: t.value,
      forMs: rule.forMs,
      windowMs: rule.windowMs,
      startsAt: new Date(t.startsAt).toISOString(),
      endsAt: t.endsAt === null ? null : new Date(t.endsAt).toISOString(),
      message,
    };
    try {
      this.d.store.appendEvent({
        service: rule.service,
        release: null,
        at: now,
        type: `alert-${t.status}`,
        message,
        data: payload,
      });
    } catch (e) {
      this.d.log.warn({ err: (e as Error).message }, 'alert event not recorded');
    }
    this.webhook.send(rule.webhook, payload);
    const status = this.alerts.statuses().find((s) => s.name === rule.name);
    if (status) this.publish({ type: 'alert', data: status });
  }
}

function meanCpu(samples: ContainerSample[]): number | null {
  const known = samples.filter((c) => c.cpuRatio !== null);
  if (!known.length) return null;
  return known.reduce((s, c) => s + (c.cpuRatio as number), 0) / known.length;
}

function maxMemory(samples: ContainerSample[]): number | null {
  return samples.length ? Math.max(...samples.map((c) => c.memoryBytes)) : null;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
