import type { Logger } from 'pino';
import type { ReleaseRecord } from '../domain/types';
import type { ContainerRuntime } from '../ports/runtime';
import type { Router } from '../ports/router';
import type { StateStore } from '../ports/store';
import type { ServiceLocks } from './locks';
import type { Routes } from './routes';

export interface ResyncDeps {
  project: string;
  runtime: ContainerRuntime;
  store: StateStore;
  router: Router;
  routes: Routes;
  locks: ServiceLocks;
  log: Logger;
}

export interface Shortfall {
  service: string;
  release: number;
  running: number;
  want: number;
}

/**
 * After the Docker engine came back (restarted under a running daemon):
 * containers may have stopped, and running ones may have new addresses. For
 * every service no operation holds, dead containers are removed and the live
 * releases are routed to what runs now, at the weights they had. Returns the
 * live releases that run fewer (or more) containers than recorded, for the
 * caller to scale back.
 */
export async function resync(d: ResyncDeps): Promise<Shortfall[]> {
  const short: Shortfall[] = [];
  const byService = new Map<string, ReleaseRecord[]>();
  for (const r of d.store.releasesWithStatus(['live']))
    byService.set(r.service, [...(byService.get(r.service) ?? []), r]);
  for (const [service, lives] of byService) {
    if (d.locks.holder(service)) continue; // the operation in progress owns the service
    const containers = await d.runtime.list({ project: d.project, service });
    const dead = containers.filter((c) => !c.running);
    await Promise.all(dead.map((c) => d.runtime.remove(c.id).catch(() => undefined)));
    const weights = d.router.weights(service);
    const routed = lives.map((r, i) => ({
      number: r.number,
      weight: weights[r.number] ?? (i === 0 ? 100 : 0),
      spec: r.spec,
      containers: containers.filter((c) => c.release === r.number && c.running && c.ip),
    }));
    d.routes.publish(service, routed);
    for (const r of routed) {
      const want = lives.find((x) => x.number === r.number)?.replicas ?? 0;
      if (r.containers.length !== want)
        short.push({ service, release: r.number, running: r.containers.length, want });
    }
    d.log.info(
      { service, removed: dead.length, routed: routed.map((r) => r.containers.length) },
      'resynced with the Docker engine',
    );
  }
  return short;
}
