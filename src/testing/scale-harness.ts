// The engine with fakes at its ports, for the scaler and autoscaler unit
// tests: FakeRuntime, an in-memory SqliteStore, the real ProxyRouter, Routes
// and Executor, and a clock that tests move by hand.

import pino from 'pino';
import type { AutoscaleSpec, DeployEvent, ServiceSpec } from '../domain/types';
import { Executor } from '../engine/executor';
import { RolloutGates } from '../engine/gates';
import { ServiceLocks } from '../engine/locks';
import { Routes } from '../engine/routes';
import type { Probe, ProbeResult } from '../health/probe';
import type { Clock } from '../ports/clock';
import { ProxyRouter } from '../proxy/router';
import { Scaler } from '../scale/scaler';
import { SqliteStore } from '../store/sqlite';
import { FakeRuntime } from './fake-runtime';

export const PROJECT = 'app';

export interface TestClock extends Clock {
  set(ms: number): void;
  advance(ms: number): void;
  /** Called after each sleep moved the time (lets a test act "meanwhile"). */
  onSleep?: (now: number) => void;
}

/** A clock that only moves when told to, or instantly when slept on. */
export function testClock(start = 5_000_000): TestClock {
  let t = start;
  const c: TestClock = {
    now: () => t,
    sleep: async (ms) => {
      t += ms;
      c.onSleep?.(t);
    },
    set: (ms) => void (t = ms),
    advance: (ms) => void (t += ms),
  };
  return c;
}

export function autoscale(over: Partial<AutoscaleSpec> = {}): AutoscaleSpec {
  return {
    min: 1,
    max: 5,
    target: { inflightPerReplica: 10 },
    scaleDownDelayMs: 10_000,
    idleTimeoutMs: 60_000,
    schedule: [],
    ...over,
  };
}

export function serviceSpec(over: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name: 'web',
    image: 'app:1',
    port: 8080,
    hosts: ['web.test'],
    replicas: 1,
    env: {},
    healthcheck: {
      path: '/healthz',
      intervalMs: 50,
      timeoutMs: 50,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
    },
    deploy: {
      strategy: 'blue-green',
      deployTimeoutMs: 2000,
      drainTimeoutMs: 40,
      keepPreviousMs: 60_000,
    },
    ...over,
  };
}

export function scaleHarness() {
  const clock = testClock();
  const runtime = new FakeRuntime({ images: ['app:1', 'app:2'] });
  const store = SqliteStore.openMemory(clock);
  const router = new ProxyRouter(clock);
  const watched: string[][] = [];
  const routes = new Routes(router, { watch: (ts) => watched.push(ts.map((t) => t.id)) });
  const locks = new ServiceLocks();
  const log = pino({ level: 'silent' });
  const observed: DeployEvent[] = [];
  const probes: string[] = [];
  const h = {
    clock,
    runtime,
    store,
    router,
    routes,
    locks,
    log,
    watched,
    observed,
    /** Hosts probed, in order. */
    probes,
    /** Replace to script probe results. */
    probeImpl: (async () => ({ ok: true, detail: 'GET /healthz -> 200' })) as (
      host: string,
    ) => Promise<ProbeResult>,
    executor: null as unknown as Executor,
    scaler: null as unknown as Scaler,

    /** Records release `number` of web as live and starts and routes `replicas` containers of it. */
    async seed(
      replicas: number,
      opts: { autoscale?: AutoscaleSpec; number?: number; recorded?: number } = {},
    ): Promise<void> {
      const number = opts.number ?? 1;
      const spec = serviceSpec({ replicas, autoscale: opts.autoscale });
      for (const r of store.releasesWithStatus(['live'], 'web'))
        store.updateRelease('web', r.number, { status: 'previous' });
      store.insertRelease({
        service: 'web',
        number,
        image: spec.image,
        strategy: spec.deploy.strategy,
        spec,
        status: 'live',
        replicas: opts.recorded ?? replicas,
        startedAt: clock.now(),
        finishedAt: clock.now(),
        result: 'succeeded',
        reason: null,
        demotedAt: null,
      });
      const steps: Parameters<Executor['run']>[0]['steps'] = [
        { kind: 'set-weights', weights: { [number]: 100 }, cause: 'seed' },
      ];
      if (replicas > 0)
        steps.unshift({ kind: 'start', release: number, count: replicas, cause: 'seed' });
      await h.executor.run(
        { service: 'web', release: number, strategy: 'blue-green', steps, compensation: [] },
        () => spec,
        () => {},
      );
    },

    /** Indices of the running containers of a release of web. */
    running(release = 1): number[] {
      return runtime.running({ project: PROJECT, service: 'web', release }).map((c) => c.index);
    },

    /** Names of the containers of a release the proxy routes to (not draining). */
    routed(release = 1): string[] {
      return router
        .targets('web')
        .filter((t) => t.release === release && !t.draining)
        .map((t) => t.name)
        .sort();
    },

    /** Sets the in-flight count of every routed container of a release (simulated load). */
    load(perContainer: number, release = 1): void {
      for (const t of router.targets('web'))
        if (t.release === release && !t.draining) router.target(t.id)!.inflight = perContainer;
    },
  };
  const probe: Probe = (host) => {
    probes.push(host);
    return h.probeImpl(host);
  };
  h.executor = new Executor({
    project: PROJECT,
    runtime,
    router,
    routes,
    store,
    probe,
    clock,
    log,
    gates: new RolloutGates(),
  });
  h.scaler = new Scaler({
    project: PROJECT,
    store,
    runtime,
    router,
    executor: h.executor,
    locks,
    clock,
    log,
    observer: { event: (e) => observed.push(e) },
  });
  return h;
}

export type ScaleHarness = ReturnType<typeof scaleHarness>;
