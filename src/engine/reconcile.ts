import type { Logger } from 'pino';
import type { ContainerInfo, DeployEvent, HealthcheckSpec, ReleaseRecord } from '../domain/types';
import type { Clock } from '../ports/clock';
import type { ContainerRuntime } from '../ports/runtime';
import type { StateStore } from '../ports/store';
import type { Router } from '../ports/router';
import type { Probe, ProbeResult } from '../health/probe';
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
  /** Called as soon as the live releases are routed, before leftovers are removed. */
  routed?: () => void;
}

export interface ReconcileReport {
  adopted: { service: string; release: number; containers: string[] }[];
  /** Deploys that had not flipped: rolled back. */
  interrupted: { service: string; release: number }[];
  /** Deploys that had flipped (recorded live) but not cleaned up: completed. */
  completed: { service: string; release: number }[];
  /** Rollbacks and scales cut short; the records say where they stood. */
  cutShort: { service: string; what: string }[];
  /** Live releases that run a different number of containers than recorded: the caller rescales. */
  mismatched: { service: string; release: number; running: number; want: number }[];
  removed: string[];
}

/** Events that end an operation; a `plan` or `scale` with none of these after it was cut short. */
const ENDS = new Set(['live', 'failed', 'scaled', 'interrupted', 'step-failed']);

/**
 * On daemon start: adopt the running containers of every live release (same
 * ids, no restart), keep previous releases for rollback, and remove what an
 * interrupted operation left behind. The store says what should be; Docker
 * says what is. A deploy killed before its flip is rolled back (its release is
 * recorded failed, its containers go); one killed after it (the release was
 * recorded live in the same transaction that demoted the old one) is
 * completed. Live releases are routed before anything is removed, so traffic
 * is served again as soon as possible.
 */
export async function reconcile(d: ReconcileDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    adopted: [],
    interrupted: [],
    completed: [],
    cutShort: [],
    mismatched: [],
    removed: [],
  };
  const containers = await d.runtime.list({ project: d.project });
  const now = d.clock.now();
  const note = (service: string, release: DeployEvent['release'], type: string, message: string) =>
    d.store.appendEvent({ service, release, at: now, type, message });

  const deploying = d.store.releasesWithStatus(['deploying']);
  const running = (service: string, release: number) =>
    containers.filter((c) => c.service === service && c.release === release && c.running && c.ip)
      .length;
  for (const r of deploying) {
    const lives = d.store.releasesWithStatus(['live'], r.service);
    if (lives.every((l) => running(l.service, l.number) === 0) && running(r.service, r.number)) {
      // Its predecessor has no container left (a rolling deploy that replaced them all): it
      // served all traffic already, so it is completed; rolling back would mean a cold start.
      d.store.atomically(() => {
        d.store.updateRelease(r.service, r.number, {
          status: 'live',
          result: 'succeeded',
          finishedAt: now,
        });
        for (const l of lives) d.store.updateRelease(l.service, l.number, { status: 'retired' });
      });
      note(
        r.service,
        r.number,
        'completed',
        `r${r.number} served all traffic when the daemon stopped (no container of the release before it was left): completed on restart`,
      );
      report.completed.push({ service: r.service, release: r.number });
      continue;
    }
    d.store.updateRelease(r.service, r.number, {
      status: 'failed',
      result: 'interrupted',
      reason: 'the daemon stopped during the deploy, before the flip; rolled back on restart',
      finishedAt: now,
    });
    note(
      r.service,
      r.number,
      'interrupted',
      `r${r.number} was interrupted by a daemon restart before it took all traffic: rolled back`,
    );
    report.interrupted.push({ service: r.service, release: r.number });
  }
  for (const r of d.store.releasesWithStatus(['live'])) {
    if (r.result !== null) continue;
    d.store.updateRelease(r.service, r.number, { result: 'succeeded' });
    note(
      r.service,
      r.number,
      'completed',
      `r${r.number} had taken all traffic when the daemon stopped: its rollout was completed on restart`,
    );
    report.completed.push({ service: r.service, release: r.number });
  }
  const services = new Set([...containers.map((c) => c.service)]);
  for (const r of d.store.releasesWithStatus(['live', 'previous'])) services.add(r.service);
  for (const service of services) {
    if (deploying.some((r) => r.service === service)) continue; // recorded above
    const cut = cutShort(d.store.listEvents(service, undefined, 200));
    if (!cut) continue;
    note(
      service,
      cut.release,
      'interrupted',
      `a ${cut.what} was interrupted by a daemon restart; the releases stay as recorded`,
    );
    report.cutShort.push({ service, what: cut.what });
  }

  const keep = new Set<string>();
  for (const r of d.store.releasesWithStatus(['live', 'previous']))
    keep.add(`${r.service}:${r.number}`);

  // Several live releases of one service (rainbow) are routed together: the newest takes new users.
  const byService = new Map<string, ReleaseRecord[]>();
  for (const r of d.store.releasesWithStatus(['live'])) {
    byService.set(r.service, [...(byService.get(r.service) ?? []), r]);
  }
  for (const [service, lives] of byService) {
    const routed = [];
    const unhealthy: string[] = [];
    let answered = false; // some container answered its probe (well or badly), or refused it
    const ofRelease = lives.map((r) =>
      containers.filter(
        (c) => c.service === service && c.release === r.number && c.running && c.ip,
      ),
    );
    // One probe each before routing, so a container that died meanwhile gets no traffic;
    // every release's at once (rainbow: several live releases).
    const probed = await Promise.all(
      lives.map((r, k) =>
        Promise.all(ofRelease[k].map((c) => firstProbe(c, d, r.spec.port, r.spec.healthcheck))),
      ),
    );
    for (const [k, r] of lives.entries()) {
      const mine = ofRelease[k];
      const health = probed[k];
      mine.forEach((c, i) => {
        if (!health[i].ok) unhealthy.push(c.id);
        if (!health[i].timedOut) answered = true;
      });
      routed.push({
        number: r.number,
        weight: r === lives[0] ? 100 : 0,
        spec: r.spec,
        containers: mine,
      });
      report.adopted.push({ service, release: r.number, containers: mine.map((c) => c.id) });
      if (mine.length !== r.replicas) {
        d.log.warn(
          { service, release: r.number, running: mine.length, want: r.replicas },
          'live release runs a different number of containers than recorded',
        );
        report.mismatched.push({
          service,
          release: r.number,
          running: mine.length,
          want: r.replicas,
        });
      }
    }
    d.routes.publish(service, routed);
    // When every container's one probe timed out, the probe is the likelier fault (an app
    // whose accept queue overflowed under load, during a daemon upgrade): they stay
    // routed, and the health monitor decides by its thresholds, as for any routed
    // container. Taking them all out would answer 503 to every request meanwhile. A bad
    // answer or a refused connection is no such doubt: those are taken out.
    const total = routed.reduce((n, r) => n + r.containers.length, 0);
    if (unhealthy.length > 0 && unhealthy.length === total && !answered) {
      d.log.warn(
        { service, containers: total },
        'every adopted container timed out on its first health check: all stay routed until the health monitor decides',
      );
    } else {
      for (const id of unhealthy) d.router.setHealth(id, false);
    }
  }
  d.routed?.();

  // Containers of releases no longer kept, and dead ones of kept releases (a rollback starts afresh).
  const leftovers = containers.filter((c) => !keep.has(`${c.service}:${c.release}`) || !c.running);
  await Promise.all(
    leftovers.map(async (c) => {
      await d.runtime.stop(c.id, 0);
      await d.runtime.remove(c.id);
      report.removed.push(c.name);
    }),
  );
  for (const r of d.store.releasesWithStatus(['previous'])) d.retirer.schedule(r);
  return report;
}

/** The last rollback or scale in a service's events, if nothing ended it. */
function cutShort(events: DeployEvent[]): { what: string; release: DeployEvent['release'] } | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (ENDS.has(e.type)) return null;
    if (e.type === 'scale') return { what: 'scale', release: e.release };
    if (e.type === 'plan') {
      const what = (e.data as { what?: string } | undefined)?.what ?? 'deploy';
      return { what, release: e.release };
    }
  }
  return null;
}

async function firstProbe(
  c: ContainerInfo,
  d: ReconcileDeps,
  port: number,
  hc: HealthcheckSpec,
): Promise<ProbeResult> {
  const r = await d.probe(c.ip as string, port, hc);
  if (!r.ok)
    d.log.warn(
      { container: c.name, detail: r.detail },
      'adopted container failed its first health check',
    );
  return r;
}
