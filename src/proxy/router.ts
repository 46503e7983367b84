import type { Weights } from '../domain/types';
import type { RouteReleaseInput, Router, RoutingOptions, TargetState } from '../ports/router';
import type { Clock } from '../ports/clock';
import { systemClock } from '../ports/clock';
import {
  buildServiceRoute,
  RoutingTable,
  type ReleaseRoute,
  type ServiceRoute,
  type StickySpec,
} from './routing-table';
import { Target } from './target';
import { ReleaseStats, type StatsSnapshot } from './stats';

/** Pseudo release number of the counters for answers given before a release was picked. */
const UNROUTED = 0;

export interface ReleaseCountersEntry {
  service: string;
  /** null: answered by the proxy before a release was picked. */
  release: number | null;
  stats: ReleaseStats;
  inflight: number;
}

function stickyOf(s: string | undefined): StickySpec {
  if (s === 'ip') return { mode: 'ip' };
  if (s?.startsWith('header:')) return { mode: 'header', header: s.slice('header:'.length) };
  return { mode: 'cookie' };
}

interface ServiceInput {
  hosts: string[];
  releases: RouteReleaseInput[];
  options: RoutingOptions;
}

/**
 * Owns the live routing table. Every change builds a complete new table aside
 * and swaps it in with one assignment, so a request sees either the old or the
 * new routes, never a half-updated mix.
 */
export class ProxyRouter implements Router {
  private inputs = new Map<string, ServiceInput>();
  /** Every target the proxy knows, routed or draining, by container id. */
  private registry = new Map<string, Target>();
  /** Request counters per `service/release`, kept while the release exists. */
  private stats = new Map<string, ReleaseStats>();
  table = new RoutingTable(new Map());

  constructor(private readonly clock: Clock = systemClock) {}

  setService(
    service: string,
    hosts: string[],
    releases: RouteReleaseInput[],
    options: RoutingOptions = {},
  ): void {
    this.inputs.set(service, {
      options,
      hosts: [...hosts],
      releases: releases.map((r) => ({ ...r, targets: [...r.targets] })),
    });
    this.rebuild();
  }

  removeService(service: string): void {
    this.inputs.delete(service);
    this.rebuild();
  }

  weights(service: string): Weights {
    const w: Weights = {};
    for (const r of this.inputs.get(service)?.releases ?? []) w[r.number] = r.weight;
    return w;
  }

  private rebuild(): void {
    const services = new Map<string, ServiceRoute>();
    const routed = new Set<string>();
    for (const [name, input] of this.inputs) {
      const releases: ReleaseRoute[] = input.releases.map((r) => ({
        number: r.number,
        weight: r.weight,
        targets: r.targets.map((t) => {
          let target = this.registry.get(t.id);
          if (!target) {
            target = new Target(
              t.id,
              t.name,
              name,
              r.number,
              t.host,
              t.port,
              this.statsOf(name, r.number),
            );
            this.registry.set(t.id, target);
          }
          target.draining = false;
          routed.add(t.id);
          return target;
        }),
      }));
      services.set(
        name,
        buildServiceRoute(
          name,
          input.hosts,
          releases,
          stickyOf(input.options.sticky),
          input.options.acceptance ?? null,
          input.options.pin ?? false,
        ),
      );
    }
    // Targets no longer routed get no new requests; in-flight ones finish.
    for (const [id, t] of this.registry) if (!routed.has(id)) t.draining = true;
    this.table = new RoutingTable(services);
  }

  async drain(ids: string[], timeoutMs: number): Promise<number> {
    const targets = ids.map((id) => this.registry.get(id)).filter((t): t is Target => !!t);
    if (targets.some((t) => !t.draining)) {
      // Still routed: take them out of every service first.
      const drop = new Set(ids);
      for (const input of this.inputs.values()) {
        for (const r of input.releases) r.targets = r.targets.filter((t) => !drop.has(t.id));
      }
      this.rebuild();
    }
    const deadline = this.clock.now() + timeoutMs;
    const pending = () => targets.reduce((s, t) => s + t.inflight, 0);
    while (pending() > 0 && this.clock.now() < deadline) {
      await this.clock.sleep(Math.min(50, Math.max(1, deadline - this.clock.now())));
    }
    return pending();
  }

  private statsOf(service: string, release: number): ReleaseStats {
    const key = `${service}/${release}`;
    let s = this.stats.get(key);
    if (!s) {
      s = new ReleaseStats();
      this.stats.set(key, s);
    }
    return s;
  }

  releaseStats(service: string, release: number): StatsSnapshot {
    return this.statsOf(service, release).snapshot();
  }

  /** Answers the proxy gave a service by itself, before any release was picked (503, 413). */
  unrouted(service: string): ReleaseStats {
    return this.statsOf(service, UNROUTED);
  }

  /** Every counter set with its in-flight requests: what the metrics export reads at scrape time. */
  counters(): ReleaseCountersEntry[] {
    const inflight = new Map<string, number>();
    for (const t of this.registry.values()) {
      const key = `${t.service}/${t.release}`;
      inflight.set(key, (inflight.get(key) ?? 0) + t.inflight);
    }
    const out: ReleaseCountersEntry[] = [];
    for (const [key, stats] of this.stats) {
      const at = key.lastIndexOf('/');
      const release = Number(key.slice(at + 1));
      out.push({
        service: key.slice(0, at),
        release: release === UNROUTED ? null : release,
        stats,
        inflight: inflight.get(key) ?? 0,
      });
    }
    return out;
  }

  /** Requests answered for a service so far, every release and the proxy's own answers (monotonic). */
  requests(service: string): number {
    let n = 0;
    for (const [key, s] of this.stats) if (key.startsWith(`${service}/`)) n += s.requests;
    return n;
  }

  /** Names of the services in the routing table. */
  services(): string[] {
    return [...this.inputs.keys()];
  }

  forget(ids: string[]): void {
    for (const id of ids) {
      const t = this.registry.get(id);
      if (t && t.draining) this.registry.delete(id);
    }
  }

  setHealth(id: string, healthy: boolean): void {
    const t = this.registry.get(id);
    if (t) t.healthy = healthy;
  }

  targets(service?: string): TargetState[] {
    const out: TargetState[] = [];
    for (const t of this.registry.values()) {
      if (service && t.service !== service) continue;
      out.push({
        id: t.id,
        name: t.name,
        release: t.release,
        address: `${t.host}:${t.port}`,
        healthy: t.healthy,
        draining: t.draining,
        inflight: t.inflight,
      });
    }
    return out;
  }

  /** The registry entry for a container id (the health monitor probes through it). */
  target(id: string): Target | undefined {
    return this.registry.get(id);
  }
}
