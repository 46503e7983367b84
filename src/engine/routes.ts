import type { ContainerInfo, ServiceSpec } from '../domain/types';
import type { Router } from '../ports/router';
import type { MonitoredTarget } from '../health/monitor';

export interface RoutedRelease {
  number: number;
  weight: number;
  spec: ServiceSpec;
  containers: ContainerInfo[];
}

export interface TargetWatcher {
  watch(targets: MonitoredTarget[]): void;
}

/**
 * The engine's view of what is routed: publishes a service's releases to the
 * proxy router in one swap and keeps the health monitor watching exactly the
 * routed containers.
 */
export class Routes {
  private services = new Map<string, RoutedRelease[]>();

  constructor(
    private readonly router: Router,
    private readonly watcher: TargetWatcher,
  ) {}

  publish(service: string, releases: RoutedRelease[]): void {
    const routed = releases;
    const newest = [...routed].sort((a, b) => b.weight - a.weight || b.number - a.number)[0];
    const hosts = newest?.spec.hosts ?? ['*'];
    // Stickiness and acceptance follow the newest release's settings (the one rolling out).
    const latest = [...routed].sort((a, b) => b.number - a.number)[0]?.spec;
    this.router.setService(
      service,
      hosts,
      routed.map((r) => ({
        number: r.number,
        weight: r.weight,
        targets: r.containers
          .filter((c) => c.running && c.ip)
          .map((c) => ({ id: c.id, name: c.name, host: c.ip as string, port: r.spec.port })),
      })),
      {
        sticky: latest?.deploy.canary?.sticky,
        acceptance: latest?.acceptance,
        pin: latest?.deploy.strategy === 'rainbow',
      },
    );
    this.services.set(service, routed);
    this.rewatch();
  }

  /** Takes a service out of routing and health watching altogether. */
  remove(service: string): void {
    this.router.removeService(service);
    this.services.delete(service);
    this.rewatch();
  }

  get(service: string): RoutedRelease[] {
    return this.services.get(service) ?? [];
  }

  release(service: string, number: number): RoutedRelease | undefined {
    return this.get(service).find((r) => r.number === number);
  }

  private rewatch(): void {
    const targets: MonitoredTarget[] = [];
    for (const releases of this.services.values()) {
      for (const r of releases) {
        for (const c of r.containers) {
          if (c.running && c.ip)
            targets.push({
              id: c.id,
              name: c.name,
              host: c.ip,
              port: r.spec.port,
              healthcheck: r.spec.healthcheck,
            });
        }
      }
    }
    this.watcher.watch(targets);
  }
}
