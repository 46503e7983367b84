import type { Logger } from 'pino';
import type { ServiceSpec } from '../domain/types';
import { usageError } from '../domain/errors';
import type { ContainerRuntime } from '../ports/runtime';
import type { Router } from '../ports/router';
import type { StateStore } from '../ports/store';

export interface DiscoveryDeps {
  project: string;
  runtime: ContainerRuntime;
  store: StateStore;
  router: Router;
  /** The proxy's extra listeners where a Host header names a service. */
  proxy: { listenInternal(host: string, port: number): Promise<boolean> };
  /** shipit.yml's services (ports of services not deployed yet). */
  services: Record<string, ServiceSpec>;
  log: Logger;
}

/**
 * Service discovery: containers reach linked services at the host side of
 * the project network (their /etc/hosts maps each link to it, see
 * DockerRuntime), where the proxy listens on port 80 and on each linked
 * service's own port.
 */
export class Discovery {
  /** Listeners bound so far (gateway:port). */
  private readonly bound = new Set<string>();

  constructor(private readonly d: DiscoveryDeps) {}

  /** Binds what the links of these services need; a port that cannot be bound is logged, not fatal. */
  async ensure(specs: ServiceSpec[]): Promise<void> {
    const linked = new Set(specs.flatMap((s) => s.links ?? []));
    if (!linked.size) return;
    const gateway = await this.d.runtime.networkGateway(this.d.project);
    const ports = new Set([80]);
    for (const name of linked) {
      const port =
        this.d.store.releasesWithStatus(['live'], name)[0]?.spec.port ??
        this.d.services[name]?.port;
      if (port) ports.add(port);
    }
    for (const port of ports) {
      const key = `${gateway}:${port}`;
      if (this.bound.has(key)) continue;
      this.bound.add(key);
      try {
        const own = await this.d.proxy.listenInternal(gateway, port);
        this.d.log.info({ address: key, own }, 'discovery listener ready');
      } catch (e) {
        this.bound.delete(key);
        this.d.log.warn(
          { address: key, err: (e as Error).message },
          'discovery listener failed: linked services are not reachable on this port',
        );
      }
    }
  }

  /** A service's addresses: public hosts, the name its links use, and the live targets. */
  endpoints(service: string): unknown {
    const live = this.d.store.releasesWithStatus(['live'], service);
    const spec = live[0]?.spec ?? this.d.services[service];
    if (!spec) throw usageError(`no service "${service}"`, 'see shipit status');
    const weights = this.d.router.weights(service);
    return {
      service,
      hosts: spec.hosts,
      discovery: {
        urls: [`http://${service}/`, `http://${service}:${spec.port}/`],
        listeners: [...this.bound],
      },
      targets: this.d.router
        .targets(service)
        .filter((t) => !t.draining)
        .map((t) => ({ ...t, weight: weights[t.release] ?? 0 })),
    };
  }
}
