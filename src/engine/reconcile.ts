import type { Logger } from 'pino';
import type { ContainerInfo, HealthcheckSpec, ReleaseRecord } from '../domain/types';
import type { Clock } from '../ports/clock';
import type { ContainerRuntime } from '../ports/runtime';
import type { StateStore } from '../ports/store';
import type { Router } from '../ports/router';
import type { Probe } from '../health/probe';
import type { Routes } from './routes';
import type { Retirer } from './retirer';

export interface ReconcileDeps {
  project: string;
  runtime: ContainerRuntime;
  store: StateStore;
  router: Router;
  routes: Routes;
  retirer: Retirer;
  probe: Probe;
  clock: Clock;
  log: Logger;
}

export interface ReconcileReport {
  adopted: { service: string; release: number; containers: string[] }[];
  interrupted: { service: string; release: number }[];
  removed: string[];
}

/**
 * On daemon start: adopt the running containers of every live release (same
 * ids, no restart), keep previous releases for rollback, and remove what an
 * interrupted deploy left behind. The store says what should be; Docker says
 * what is.
 */
export async function reconcile(d: ReconcileDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = { adopted: [], interrupted: [], removed: [] };
  const containers = await d.runtime.list({ project: d.project });
  const now = d.clock.now();

  for (const r of d.store.releasesWithStatus(['deploying'])) {
    d.store.updateRelease(r.service, r.number, {
      status: 'failed',
      result: 'interrupted',
      reason: 'the daemon stopped during the deploy; rolled back on restart',
      finishedAt: now,
    });
    d.store.appendEvent({
      service: r.service,
      release: r.number,
      at: now,
      type: 'interrupted',
      message: `r${r.number} was interrupted by a daemon restart and rolled back`,
    });
    report.interrupted.push({ service: r.service, release: r.number });
  }

  const keep = new Set<string>();
  for (const r of d.store.releasesWithStatus(['live', 'previous']))
    keep.add(`${r.service}:${r.number}`);

  const leftovers = containers.filter((c) => !keep.has(`${c.service}:${c.release}`));
  await Promise.all(
    leftovers.map(async (c) => {
      await d.runtime.stop(c.id, 0);
      await d.runtime.remove(c.id);
      report.removed.push(c.name);
    }),
  );

  // Several live releases of one service (rainbow) are routed together: the newest takes new users.
  const byService = new Map<string, ReleaseRecord[]>();
  for (const r of d.store.releasesWithStatus(['live'])) {
    byService.set(r.service, [...(byService.get(r.service) ?? []), r]);
  }
  for (const [service, lives] of byService) {
    const routed = [];
    const unhealthy: string[] = [];
    for (const r of lives) {
      const mine = containers.filter(
        (c) => c.service === service && c.release === r.number && c.running && c.ip,
      );
      // One probe each before routing, so a container that died meanwhile gets no traffic.
      const health = await Promise.all(
        mine.map((c) => firstProbe(c, d, r.spec.port, r.spec.healthcheck)),
      );
      mine.forEach((c, i) => {
        if (!health[i]) unhealthy.push(c.id);
      });
      routed.push({
        number: r.number,
        weight: r === lives[0] ? 100 : 0,
        spec: r.spec,
        containers: mine,
      });
      report.adopted.push({ service, release: r.number, containers: mine.map((c) => c.id) });
      if (mine.length < r.replicas) {
        d.log.warn(
          { service, release: r.number, running: mine.length, want: r.replicas },
          'live release has fewer running containers than recorded',
        );
      }
    }
    d.routes.publish(service, routed);
    for (const id of unhealthy) d.router.setHealth(id, false);
  }
  for (const r of d.store.releasesWithStatus(['previous'])) d.retirer.schedule(r);
  return report;
}

async function firstProbe(
  c: ContainerInfo,
  d: ReconcileDeps,
  port: number,
  hc: HealthcheckSpec,
): Promise<boolean> {
  const r = await d.probe(c.ip as string, port, hc);
  if (!r.ok)
    d.log.warn(
      { container: c.name, detail: r.detail },
      'adopted container failed its first health check',
    );
  return r.ok;
}
