// The control API's view of the daemon: each route's call, in one place.
import type { DeployEvent, ReleaseRecord } from './domain/types';
import type { ControlPlane } from './api/server';
import { rotateTokenFile } from './api/auth';
import type { Daemon } from './daemon';

export function brief(r: ReleaseRecord) {
  return {
    number: r.number,
    image: r.image,
    strategy: r.strategy,
    status: r.status,
    result: r.result,
    reason: r.reason,
    replicas: r.replicas,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
  };
}

export function controlPlane(get: () => Daemon): ControlPlane {
  return {
    status: (service) => get().status(service),
    releases: (service, limit) => ({
      releases: get().store.listReleases(service, limit).map(brief),
    }),
    events: (service, release, limit) => ({
      events: get().store.listEvents(service, release, limit ?? 500),
    }),
    deploy: async (body, _service, sink: (e: DeployEvent) => void) => {
      if (!body.dryRun) await get().discovery.ensure([body.spec]);
      return get().deployer.deploy(
        body.spec,
        { dryRun: body.dryRun, lockWaitMs: body.lockWaitMs },
        sink,
      );
    },
    endpoints: (service) => get().discovery.endpoints(service),
    previewUp: async (body, sink) => {
      await get().discovery.ensure([body.spec]);
      return get().previews.up(body, sink);
    },
    previewDown: (name) => get().previews.down(name),
    previews: () => ({ previews: get().previews.list() }),
    promote: (service, sink) => get().deployer.promote(service, sink),
    abort: (service, sink) => get().deployer.abort(service, sink),
    rollback: (service, body, sink) =>
      get().deployer.rollback(service, body.to, { dryRun: body.dryRun }, sink),
    shutdown: (remove) => get().shutdown(remove),
    handOver: (cmd) => get().handOver(cmd),
    audit: (record) => get().store.audit(record),
    auditLog: (limit) => ({ entries: get().store.listAudit(limit) }),
    rotateToken: () => {
      const file = get().files.token;
      return { token: rotateTokenFile(file), file };
    },
    logs: (q, signal) => get().logLines(q, signal),
    metrics: async () => {
      const m = get().observe.metrics;
      return { contentType: m.contentType, text: await m.text() };
    },
    subscribe: (fn) => get().observe.subscribe(fn),
    scale: (service, body, sink) =>
      get().scaler.scale(service, body.replicas, { source: 'api' }, sink),
    live: () => get().observe.live(),
  };
}
