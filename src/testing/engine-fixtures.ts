// Fixtures shared by the engine's restart tests (reconcile, resync): a service spec,
// release records, and a fake runtime with a store and routes around it.
import type { ReleaseRecord, ReleaseStatus, ServiceSpec } from '../domain/types';
import { ProxyRouter } from '../proxy/router';
import { Routes } from '../engine/routes';
import { SqliteStore } from '../store/sqlite';
import { FakeRuntime } from './fake-runtime';

export const PROJECT = 'app';

/** A blue/green service of 2 replicas of app:1 at `<name>.test`. */
export function spec(name = 'web'): ServiceSpec {
  return {
    name,
    image: 'app:1',
    port: 3000,
    hosts: [`${name}.test`],
    replicas: 2,
    env: {},
    healthcheck: {
      path: '/',
      intervalMs: 1000,
      timeoutMs: 100,
      healthyThreshold: 1,
      unhealthyThreshold: 1,
    },
    deploy: {
      strategy: 'blue-green',
      deployTimeoutMs: 1000,
      drainTimeoutMs: 10,
      keepPreviousMs: 60_000,
    },
  };
}

/** A release record of `spec(service)`; live and previous ones succeeded. */
export function rec(
  number: number,
  status: ReleaseStatus,
  service = 'web',
  replicas = 2,
): ReleaseRecord {
  return {
    service,
    number,
    image: 'app:1',
    strategy: 'blue-green',
    spec: spec(service),
    status,
    replicas,
    startedAt: number,
    finishedAt: null,
    result: status === 'live' || status === 'previous' ? 'succeeded' : null,
    reason: null,
    demotedAt: null,
  };
}

/** A fake runtime, an in-memory store, a router and its routes; `watched`: the ids last watched. */
export function world() {
  const runtime = new FakeRuntime({ images: ['app:1'] });
  const store = SqliteStore.openMemory();
  const router = new ProxyRouter();
  const watched: string[] = [];
  const routes = new Routes(router, {
    watch: (ts) => watched.splice(0, watched.length, ...ts.map((t) => t.id)),
  });
  const start = (service: string, release: number, index: number) =>
    runtime.start({
      project: PROJECT,
      service,
      release,
      index,
      image: 'app:1',
      port: 3000,
      env: {},
    });
  return { runtime, store, router, routes, watched, start };
}
