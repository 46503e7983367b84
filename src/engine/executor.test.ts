import { RolloutGates } from './gates';
import pino from 'pino';
import type { Plan, ServiceSpec } from '../domain/types';
import type { Probe } from '../health/probe';
import type { Clock } from '../ports/clock';
import { ProxyRouter } from '../proxy/router';
import { SqliteStore } from '../store/sqlite';
import { FakeRuntime } from '../testing/fake-runtime';
import { Executor, type Emit } from './executor';
import { Routes } from './routes';

const PROJECT = 'app';

function spec(image = 'app:1'): ServiceSpec {
  return {
    name: 'web',
    image,
    port: 3000,
    hosts: ['web.test'],
    replicas: 1,
    env: { A: '1' },
    command: ['node', 'server.js'],
    resources: { memoryBytes: 64 * 1024 * 1024, cpus: 0.5 },
    healthcheck: {
      path: '/',
      intervalMs: 10,
      timeoutMs: 10,
      healthyThreshold: 1,
      unhealthyThreshold: 1,
    },
    deploy: {
      strategy: 'blue-green',
      deployTimeoutMs: 1000,
      drainTimeoutMs: 40,
      keepPreviousMs: 1000,
    },
  };
}

/** A clock that advances instantly when slept on. */
function fakeClock(): Clock {
  let t = 5_000_000;
  return { now: () => t, sleep: async (ms) => void (t += ms) };
}

function setup(probe: Probe = async () => ({ ok: true, detail: 'ok' })) {
  const runtime = new FakeRuntime({ images: ['app:1'] });
  const store = SqliteStore.openMemory();
  const router = new ProxyRouter(fakeClock());
  const watched: string[][] = [];
  const routes = new Routes(router, { watch: (ts) => watched.push(ts.map((t) => t.id)) });
  const executor = new Executor({
    project: PROJECT,
    runtime,
    router,
    routes,
    store,
    probe,
    clock: fakeClock(),
    log: pino({ level: 'silent' }),
    gates: new RolloutGates(),
  });
  const events: Parameters<Emit>[0][] = [];
  const emit: Emit = (e) => events.push(e);
  return { runtime, store, router, routes, watched, executor, events, emit };
}

function record(store: SqliteStore, number: number, status: 'deploying' | 'live' = 'deploying') {
  store.insertRelease({
    service: 'web',
    number,
    image: 'app:1',
    strategy: 'blue-green',
    spec: spec(),
    status,
    replicas: 1,
    startedAt: 1,
    finishedAt: null,
    result: null,
    reason: null,
    demotedAt: null,
  });
}

const plan = (steps: Plan['steps'], compensation: Plan['compensation'] = []): Plan => ({
  service: 'web',
  release: 1,
  strategy: 'blue-green',
  steps,
  compensation,
});

describe('Executor', () => {
  it('runs a hand-built plan in order, emitting step and step-done events', async () => {
    const s = setup();
    record(s.store, 1);
    await s.executor.run(
      plan([
        { kind: 'start', release: 1, count: 2, cause: 'c-start' },
        { kind: 'wait-healthy', release: 1, timeoutMs: 1000, cause: 'c-wait' },
        { kind: 'set-weights', weights: { 1: 100 }, cause: 'c-route' },
        { kind: 'mark', release: 1, status: 'live', cause: 'c-mark' },
      ]),
      () => spec(),
      s.emit,
    );
    const running = s.runtime.running({ release: 1 });
    expect(running.map((c) => c.index)).toEqual([1, 2]);
    expect(s.runtime.specOf(running[0].id)).toMatchObject({
      command: ['node', 'server.js'],
      memoryBytes: 64 * 1024 * 1024,
      cpus: 0.5,
      env: { A: '1' },
    });
    expect(s.runtime.networks.has(PROJECT)).toBe(true);
    expect(s.router.weights('web')).toEqual({ 1: 100 });
    expect(s.watched.at(-1)?.sort()).toEqual(running.map((c) => c.id).sort());
    expect(s.store.getRelease('web', 1)).toMatchObject({ status: 'live' });
    expect(s.store.getRelease('web', 1)!.finishedAt).toBe(5_000_000);
    const steps = s.events.filter((e) => e.type === 'step');
    expect(steps.map((e) => e.message)).toEqual([
      '[1/4] start 2 container(s) of r1',
      '[2/4] wait until r1 is healthy (timeout 1000ms)',
      '[3/4] route r1=100%',
      '[4/4] record r1 as live',
    ]);
    expect(steps.map((e) => e.data?.cause)).toEqual(['c-start', 'c-wait', 'c-route', 'c-mark']);
    expect(s.events.filter((e) => e.type === 'step-done')).toHaveLength(4);
  });

  it('routes what the wait-healthy step just verified, without asking the engine again (the flip)', async () => {
    const s = setup();
    record(s.store, 1);
    const lists: number[] = [];
    const list = s.runtime.list.bind(s.runtime);
    s.runtime.list = async (f) => {
      lists.push(f.release ?? 0);
      return list(f);
    };
    await s.executor.run(
      plan([
        { kind: 'start', release: 1, count: 2, cause: 'c-start' },
        { kind: 'wait-healthy', release: 1, timeoutMs: 1000, cause: 'c-wait' },
        { kind: 'set-weights', weights: { 1: 100 }, cause: 'flip' },
        { kind: 'pause', release: 1, pauseMs: 10, cause: 'c-pause' },
        { kind: 'set-weights', weights: { 1: 100 }, cause: 'again' },
      ]),
      () => spec(),
      s.emit,
    );
    // wait-healthy lists once; the flip after it none; the set-weights after a pause lists again
    expect(lists).toEqual([1, 1]);
    expect(
      s.router
        .targets('web')
        .map((t) => t.id)
        .sort(),
    ).toEqual(
      s.runtime
        .running({ release: 1 })
        .map((c) => c.id)
        .sort(),
    );
  });

  it('applies marks in a row in one transaction: a failure in the second undoes the first', async () => {
    const s = setup();
    record(s.store, 1, 'live');
    record(s.store, 2);
    const update = s.store.updateRelease.bind(s.store);
    const seen: string[] = [];
    s.store.updateRelease = (service, number, patch) => {
      update(service, number, patch);
      seen.push(`r${number}=${patch.status}`);
      // the daemon "dies" right after the first record was written
      if (number === 1) throw new Error('killed');
    };
    const err = await s.executor
      .run(
        plan([
          { kind: 'mark', release: 2, status: 'live', cause: 'flip' },
          { kind: 'mark', release: 1, status: 'previous', cause: 'kept' },
        ]),
        () => spec(),
        s.emit,
      )
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(seen).toEqual(['r2=live', 'r1=previous']);
    // neither write landed: still one live release, the old one
    expect(s.store.getRelease('web', 2)).toMatchObject({ status: 'deploying' });
    expect(s.store.getRelease('web', 1)).toMatchObject({ status: 'live' });
    expect(s.events.find((e) => e.type === 'step-failed')?.data).toEqual({ step: 2 });
  });

  it('on a failed step runs every compensation step, even after one fails, then rethrows', async () => {
    const s = setup();
    record(s.store, 1);
    const err = await s.executor
      .run(
        plan(
          [
            { kind: 'start', release: 1, count: 1, cause: 'ok' },
            { kind: 'start', release: 2, count: 1, cause: 'bad image' },
            { kind: 'mark', release: 1, status: 'live', cause: 'never reached' },
          ],
          [
            { kind: 'mark', release: 99, status: 'failed', cause: 'unknown release: throws' },
            { kind: 'remove', release: 1, cause: 'cleanup' },
            { kind: 'mark', release: 1, status: 'failed', cause: 'record' },
          ],
        ),
        (n) => (n === 2 ? spec('missing:1') : spec()),
        s.emit,
      )
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('missing:1');
    expect(s.runtime.all({ project: PROJECT })).toEqual([]);
    expect(s.store.getRelease('web', 1)).toMatchObject({ status: 'failed' });
    const types = s.events.map((e) => e.type);
    expect(types).toEqual([
      'step',
      'info',
      'step-done',
      'step',
      'step-failed',
      'compensate',
      'compensate-failed',
      'compensate',
      'compensate',
    ]);
    expect(s.events.find((e) => e.type === 'step-failed')?.data).toEqual({ step: 2 });
  });

  it('mark previous records demotedAt', async () => {
    const s = setup();
    record(s.store, 1, 'live');
    await s.executor.run(
      plan([{ kind: 'mark', release: 1, status: 'previous', cause: 'x' }]),
      () => spec(),
      s.emit,
    );
    expect(s.store.getRelease('web', 1)).toMatchObject({
      status: 'previous',
      demotedAt: 5_000_000,
      finishedAt: null,
    });
  });

  it('wait-healthy fails when the release has no running container', async () => {
    const s = setup();
    await expect(
      s.executor.run(
        plan([{ kind: 'wait-healthy', release: 1, timeoutMs: 100, cause: 'x' }]),
        () => spec(),
        s.emit,
      ),
    ).rejects.toMatchObject({ code: 'failed', message: 'r1 has no running container' });
  });

  it('wait-healthy fails fast when a container exits, with its logs as the hint', async () => {
    const s = setup(async () => ({ ok: false, detail: 'connection refused' }));
    const c = await s.runtime.start({
      project: PROJECT,
      service: 'web',
      release: 1,
      index: 1,
      image: 'app:1',
      port: 3000,
      env: {},
    });
    s.runtime.writeLog(c.id, 'Error: cannot find module');
    const run = s.executor.run(
      plan([{ kind: 'wait-healthy', release: 1, timeoutMs: 60_000, cause: 'x' }]),
      () => spec(),
      s.emit,
    );
    s.runtime.kill(c.id, 1);
    // the container list was taken before the kill, so the exit is noticed on a periodic check
    const e = (await run.then(
      () => null,
      (x: unknown) => x,
    )) as { code: string; message: string; hint?: string } | null;
    expect(e).toMatchObject({ code: 'failed' });
    expect(e!.message).toBe(
      'app-web-r1-1 exited (code 1) before becoming healthy; last check: connection refused',
    );
    expect(e!.hint).toContain('Error: cannot find module');
  });

  it('drain reports requests still in flight after drainTimeout', async () => {
    const s = setup();
    const c = await s.runtime.start({
      project: PROJECT,
      service: 'web',
      release: 1,
      index: 1,
      image: 'app:1',
      port: 3000,
      env: {},
    });
    s.routes.publish('web', [{ number: 1, weight: 100, spec: spec(), containers: [c] }]);
    s.router.target(c.id)!.inflight = 2;
    await s.executor.run(
      plan([{ kind: 'drain', release: 1, timeoutMs: 40, cause: 'x' }]),
      () => spec(),
      s.emit,
    );
    expect(s.router.target(c.id)!.draining).toBe(true);
    expect(s.events.find((e) => e.type === 'info')?.message).toBe(
      'drainTimeout passed with 2 request(s) still in flight on r1',
    );
  });

  it('remove stops with a grace capped at 10s, removes, and makes the proxy forget the containers', async () => {
    const s = setup();
    const c = await s.runtime.start({
      project: PROJECT,
      service: 'web',
      release: 1,
      index: 1,
      image: 'app:1',
      port: 3000,
      env: {},
    });
    s.routes.publish('web', [{ number: 1, weight: 100, spec: spec(), containers: [c] }]);
    const long = { ...spec(), deploy: { ...spec().deploy, drainTimeoutMs: 60_000 } };
    await s.executor.run(plan([{ kind: 'remove', release: 1, cause: 'x' }]), () => long, s.emit);
    expect(s.runtime.callsOf('stop')).toEqual([[c.id, 10_000]]);
    expect(s.runtime.callsOf('remove')).toEqual([[c.id]]);
    expect(s.router.target(c.id)).toBeUndefined();
    expect(s.router.weights('web')).toEqual({ 1: 100 });
    expect(s.router.table.lookup('web.test')?.releases.get(1)?.targets).toEqual([]);
  });
});
