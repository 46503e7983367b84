import { RolloutGates } from './gates';
import pino from 'pino';
import type { ReleaseRecord, ServiceSpec } from '../domain/types';
import { systemClock } from '../ports/clock';
import { ProxyRouter } from '../proxy/router';
import { SqliteStore } from '../store/sqlite';
import { FakeRuntime } from '../testing/fake-runtime';
import { Executor } from './executor';
import { ServiceLocks } from './locks';
import { Retirer } from './retirer';
import { Routes } from './routes';

const PROJECT = 'app';

function spec(keepPreviousMs: number): ServiceSpec {
  return {
    name: 'web',
    image: 'app:1',
    port: 3000,
    hosts: ['web.test'],
    replicas: 1,
    env: {},
    healthcheck: { intervalMs: 10, timeoutMs: 10, healthyThreshold: 1, unhealthyThreshold: 1 },
    deploy: { strategy: 'blue-green', deployTimeoutMs: 1000, drainTimeoutMs: 20, keepPreviousMs },
  };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function setup() {
  const runtime = new FakeRuntime({ images: ['app:1'] });
  const store = SqliteStore.openMemory();
  const router = new ProxyRouter();
  const routes = new Routes(router, { watch: () => {} });
  const locks = new ServiceLocks();
  const log = pino({ level: 'silent' });
  const executor = new Executor({
    project: PROJECT,
    runtime,
    router,
    routes,
    store,
    probe: async () => ({ ok: true, detail: 'ok' }),
    clock: systemClock,
    log,
    gates: new RolloutGates(),
  });
  const retirer = new Retirer({ store, clock: systemClock, executor, locks, log });
  const previous = async (number: number, keepPreviousMs: number, demotedAt: number | null) => {
    const r: ReleaseRecord = {
      service: 'web',
      number,
      image: 'app:1',
      strategy: 'blue-green',
      spec: spec(keepPreviousMs),
      status: 'previous',
      replicas: 1,
      startedAt: 1,
      finishedAt: 2,
      result: 'succeeded',
      reason: null,
      demotedAt,
    };
    store.insertRelease(r);
    const c = await runtime.start({
      project: PROJECT,
      service: 'web',
      release: number,
      index: 1,
      image: 'app:1',
      port: 3000,
      env: {},
    });
    return { r, c };
  };
  return { runtime, store, router, locks, retirer, previous };
}

describe('Retirer', () => {
  let s: ReturnType<typeof setup>;
  beforeEach(() => {
    s = setup();
  });
  afterEach(() => {
    s.retirer.stop();
    jest.useRealTimers();
    s.store.close();
  });

  it('retires a previous release once keepPrevious has passed since it was demoted', async () => {
    const { r, c } = await s.previous(1, 80, Date.now());
    const t0 = Date.now();
    s.retirer.schedule(r);
    s.retirer.schedule(r); // a second schedule is a no-op
    await new Promise((res) => setTimeout(res, 30));
    expect(s.store.getRelease('web', 1)?.status).toBe('previous');
    await until(() => s.store.getRelease('web', 1)?.status === 'retired');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(70);
    expect(s.runtime.all({ project: PROJECT })).toEqual([]);
    expect(s.runtime.callsOf('remove')).toEqual([[c.id]]);
    expect(s.store.listEvents('web', 1).some((e) => e.type === 'step')).toBe(true);
    expect(s.locks.holder('web')).toBeUndefined();
  });

  it('retires at once when keepPrevious already passed (counted from demotedAt)', async () => {
    const { r } = await s.previous(1, 1000, Date.now() - 5000);
    s.retirer.schedule(r);
    await until(() => s.store.getRelease('web', 1)?.status === 'retired', 500);
  });

  it('keeps a release for longer than a timer can wait (keepPrevious 30d), re-arming', async () => {
    const DAY = 24 * 3600 * 1000;
    jest.useFakeTimers({ now: 1_000_000, doNotFake: ['nextTick', 'setImmediate'] });
    const { r } = await s.previous(1, 30 * DAY, Date.now());
    s.retirer.schedule(r);
    jest.advanceTimersByTime(25 * DAY); // past 2^31-1 ms: the first timer fires and re-arms
    await Promise.resolve();
    expect(s.store.getRelease('web', 1)?.status).toBe('previous');
    jest.advanceTimersByTime(5 * DAY);
    jest.useRealTimers();
    await until(() => s.store.getRelease('web', 1)?.status === 'retired', 1000);
  });

  it('does nothing for a release that is no longer previous', async () => {
    const { c } = await s.previous(1, 0, null);
    s.store.updateRelease('web', 1, { status: 'live' });
    await s.retirer.retire('web', 1);
    await s.retirer.retire('web', 42);
    expect(s.runtime.running().map((x) => x.id)).toEqual([c.id]);
    expect(s.store.getRelease('web', 1)?.status).toBe('live');
  });

  it('stop() cancels pending timers', async () => {
    const { r } = await s.previous(1, 40, Date.now());
    s.retirer.schedule(r);
    s.retirer.stop();
    await new Promise((res) => setTimeout(res, 100));
    expect(s.store.getRelease('web', 1)?.status).toBe('previous');
  });

  it('backs off while the service is locked and tries again 5s later', async () => {
    const { c } = await s.previous(1, 0, null);
    jest.useFakeTimers();
    const unlock = s.locks.acquire('web', 'a deploy');
    await s.retirer.retire('web', 1);
    expect(s.store.getRelease('web', 1)?.status).toBe('previous');
    expect(s.runtime.running().map((x) => x.id)).toEqual([c.id]);
    expect(s.locks.holder('web')).toBe('a deploy');
    unlock();
    await jest.advanceTimersByTimeAsync(4900);
    expect(s.store.getRelease('web', 1)?.status).toBe('previous');
    await jest.advanceTimersByTimeAsync(200);
    expect(s.store.getRelease('web', 1)?.status).toBe('retired');
    expect(s.runtime.all()).toEqual([]);
  });
});
