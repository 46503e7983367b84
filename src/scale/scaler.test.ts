import type { DeployEvent, ServiceSpec } from '../domain/types';
import { ShipitError } from '../domain/errors';
import { Deployer, type DeployOutcome } from '../engine/deployer';
import { RolloutGates } from '../engine/gates';
import { Retirer } from '../engine/retirer';
import { autoscale, scaleHarness, serviceSpec, type ScaleHarness } from '../testing/scale-harness';

async function rejection(p: Promise<unknown>): Promise<ShipitError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ShipitError);
    return e as ShipitError;
  }
  throw new Error('expected a rejection');
}

let h: ScaleHarness;
let sunk: DeployEvent[];
const sink = (e: DeployEvent) => sunk.push(e);

beforeEach(() => {
  h = scaleHarness();
  sunk = [];
});
afterEach(() => h.store.close());

const types = (events: DeployEvent[]) => events.map((e) => e.type);

describe('Scaler.scale', () => {
  it('up: starts the new containers, routes them once healthy, records the count and the events', async () => {
    await h.seed(1);
    const before = h.routed();
    const t0 = h.clock.now();
    const out = await h.scaler.scale('web', 3, { source: 'cli', reason: 'more load' }, sink);
    expect(out).toEqual({
      service: 'web',
      release: 1,
      from: 1,
      to: 3,
      durationMs: h.clock.now() - t0,
      source: 'cli',
    });
    expect(h.running()).toEqual([1, 2, 3]);
    expect(h.routed()).toEqual(['app-web-r1-1', 'app-web-r1-2', 'app-web-r1-3']);
    expect(h.routed()).toEqual(expect.arrayContaining(before)); // the old one kept serving
    expect(h.router.weights('web')).toEqual({ 1: 100 });
    expect(h.store.getRelease('web', 1)).toMatchObject({ replicas: 3, status: 'live' });
    // the health monitor watches the new containers too
    expect(h.watched.at(-1)).toHaveLength(3);

    const recorded = h.store.listEvents('web');
    expect(recorded[0]).toMatchObject({
      type: 'scale',
      release: 1,
      message: 'scale r1 from 1 to 3 (cli: more load)',
      data: { from: 1, to: 3, source: 'cli' },
    });
    expect(recorded.at(-1)).toMatchObject({
      type: 'scaled',
      release: 1,
      data: { from: 1, to: 3, source: 'cli', release: 1, service: 'web' },
    });
    expect(recorded.at(-1)!.message).toMatch(/^r1 runs 3 container\(s\) \(\d+ms\)$/);
    expect(types(recorded)).toContain('step');
    // the same events, in order, went to the store, the observer and the sink
    expect(types(sunk)).toEqual(types(recorded));
    expect(types(h.observed)).toEqual(types(recorded));
    expect(sunk.every((e) => e.service === 'web')).toBe(true);
    expect(h.locks.holder('web')).toBeUndefined();
  });

  it('up waits for the new containers to pass healthyThreshold probes (not a cold start)', async () => {
    await h.seed(1);
    h.probes.length = 0;
    await h.scaler.scale('web', 2, { source: 'cli' }, sink);
    expect(h.probes).toHaveLength(2); // healthyThreshold 2, one new container
    const wait = sunk.find((e) => e.type === 'step' && e.message.includes('wait until'));
    expect(wait?.message).not.toContain('one probe each');
  });

  it('down: drains and removes the highest indices, keeps the rest routed, records the count', async () => {
    await h.seed(3);
    const out = await h.scaler.scale('web', 1, { source: 'cli' }, sink);
    expect(out).toMatchObject({ from: 3, to: 1 });
    expect(h.running()).toEqual([1]);
    expect(h.runtime.all({ project: 'app', release: 1 }).map((c) => c.index)).toEqual([1]);
    expect(h.routed()).toEqual(['app-web-r1-1']);
    // the removed containers are forgotten by the proxy, not left draining
    expect(h.router.targets('web')).toHaveLength(1);
    expect(h.store.getRelease('web', 1)!.replicas).toBe(1);
    expect(types(sunk)[0]).toBe('scale');
    expect(types(sunk).at(-1)).toBe('scaled');
    expect(sunk.find((e) => e.type === 'step')?.message).toContain('drain container(s) 2, 3 of r1');
  });

  it('down to zero leaves the release routed with no container', async () => {
    await h.seed(2);
    await h.scaler.scale('web', 0, { source: 'autoscaler' }, sink);
    expect(h.running()).toEqual([]);
    expect(h.routed()).toEqual([]);
    expect(h.router.weights('web')).toEqual({ 1: 100 });
    expect(h.store.getRelease('web', 1)!.replicas).toBe(0);
  });

  it('the sink is optional', async () => {
    await h.seed(1);
    await h.scaler.scale('web', 2, { source: 'cli' });
    expect(h.running()).toEqual([1, 2]);
    expect(types(h.observed).at(-1)).toBe('scaled');
  });

  it('no change: records the count without events or container changes', async () => {
    await h.seed(2, { recorded: 5 });
    const calls = h.runtime.calls.length;
    const out = await h.scaler.scale('web', 2, { source: 'cli' }, sink);
    expect(out).toMatchObject({ from: 2, to: 2, durationMs: 0 });
    expect(h.store.getRelease('web', 1)!.replicas).toBe(2);
    expect(sunk).toEqual([]);
    expect(h.observed).toEqual([]);
    expect(h.store.listEvents('web')).toEqual([]);
    expect(h.runtime.calls.slice(calls).map((c) => c.op)).toEqual(['list']);
  });

  it('applies to the newest live release', async () => {
    await h.seed(1, { number: 1 });
    await h.seed(1, { number: 2 });
    await h.scaler.scale('web', 2, { source: 'cli' }, sink);
    expect(h.running(2)).toEqual([1, 2]);
    expect(h.running(1)).toEqual([1]);
    expect(h.store.getRelease('web', 2)!.replicas).toBe(2);
    expect(h.store.getRelease('web', 1)!.replicas).toBe(1);
  });

  it('a failed scale-up removes what it started, keeps the recorded count, releases the lock', async () => {
    await h.seed(1);
    h.probeImpl = async (host) =>
      host === '10.0.0.2' ? { ok: true, detail: 'ok' } : { ok: false, detail: '500' };
    const err = await rejection(h.scaler.scale('web', 3, { source: 'cli' }, sink));
    expect(err.code).toBe('failed');
    expect(err.message).toContain('did not become healthy');
    expect(h.running()).toEqual([1]);
    expect(h.routed()).toEqual(['app-web-r1-1']);
    expect(h.store.getRelease('web', 1)!.replicas).toBe(1);
    expect(types(sunk)).toContain('scale');
    expect(types(sunk)).toContain('compensate');
    expect(types(sunk)).not.toContain('scaled');
    expect(h.locks.holder('web')).toBeUndefined();
  });

  it.each([-1, 1.5, 1001, Number.NaN])('refuses %p replicas as a usage error', async (n) => {
    await h.seed(1);
    const err = await rejection(h.scaler.scale('web', n, { source: 'cli' }, sink));
    expect(err.code).toBe('usage');
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('whole number from 0 to 1000');
    expect(h.running()).toEqual([1]);
    expect(h.locks.holder('web')).toBeUndefined();
  });

  it('without a live release: not-found, and the lock is released', async () => {
    const err = await rejection(h.scaler.scale('web', 2, { source: 'cli' }, sink));
    expect(err.code).toBe('not-found');
    expect(err.message).toContain('web has no live release to scale');
    expect(err.hint).toBe('deploy it first');
    expect(h.locks.holder('web')).toBeUndefined();
  });

  it('holds the service lock while it runs', async () => {
    await h.seed(1);
    let holder: string | undefined;
    h.probeImpl = async () => {
      holder = h.locks.holder('web');
      return { ok: true, detail: 'ok' };
    };
    await h.scaler.scale('web', 2, { source: 'cli' });
    expect(holder).toBe('a scale to 2');
    expect(h.locks.holder('web')).toBeUndefined();
  });

  it('conflict at once when another operation holds the lock and lockWaitMs is 0', async () => {
    await h.seed(1);
    const unlock = h.locks.acquire('web', 'a deploy');
    const t0 = h.clock.now();
    const err = await rejection(h.scaler.scale('web', 3, { source: 'cli', lockWaitMs: 0 }, sink));
    expect(err.code).toBe('conflict');
    expect(err.exitCode).toBe(4);
    expect(err.message).toBe('web: a deploy is in progress');
    expect(h.clock.now()).toBe(t0);
    expect(h.running()).toEqual([1]);
    expect(sunk).toEqual([]);
    expect(h.locks.holder('web')).toBe('a deploy');
    unlock();
  });

  it('waits for the lock when it frees within lockWaitMs, then scales', async () => {
    await h.seed(1);
    const unlock = h.locks.acquire('web', 'a deploy');
    const t0 = h.clock.now();
    h.clock.onSleep = (now) => {
      if (now - t0 >= 200) unlock();
    };
    const out = await h.scaler.scale('web', 2, { source: 'cli', lockWaitMs: 1000 }, sink);
    expect(out).toMatchObject({ from: 1, to: 2 });
    expect(h.running()).toEqual([1, 2]);
    // it waited (about 200ms of the clock) before taking the lock
    expect(h.store.listEvents('web')[0].at - t0).toBeGreaterThanOrEqual(200);
    expect(h.store.listEvents('web')[0].at - t0).toBeLessThan(300);
  });

  it('conflict once lockWaitMs passes with the lock still held', async () => {
    await h.seed(1);
    const unlock = h.locks.acquire('web', 'a deploy');
    const t0 = h.clock.now();
    const err = await rejection(h.scaler.scale('web', 2, { source: 'cli', lockWaitMs: 300 }));
    expect(err.code).toBe('conflict');
    expect(h.clock.now() - t0).toBeGreaterThanOrEqual(300);
    expect(h.clock.now() - t0).toBeLessThan(400);
    expect(h.running()).toEqual([1]);
    unlock();
  });
});

describe('Scaler.wake', () => {
  it('concurrent wakes share one cold start of one container, probed fast', async () => {
    await h.seed(0, { autoscale: autoscale({ min: 0 }) });
    const a = h.scaler.wake('web');
    const b = h.scaler.wake('web');
    expect(b).toBe(a);
    await Promise.all([a, b, h.scaler.wake('web')]);
    expect(h.running()).toEqual([1]);
    expect(h.routed()).toEqual(['app-web-r1-1']);
    expect(h.runtime.callsOf('start')).toHaveLength(1);
    expect(h.store.getRelease('web', 1)!.replicas).toBe(1);
    const events = h.store.listEvents('web');
    expect(events.filter((e) => e.type === 'scale')).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'scale',
      data: { from: 0, to: 1, source: 'cold-start' },
    });
    expect(events.find((e) => e.message.includes('wait until'))?.message).toContain(
      'one probe each, probing every 10ms',
    );
    // the first good probe counts
    expect(h.probes).toHaveLength(1);
    expect(types(h.observed)).toEqual(types(events));
  });

  it('a later wake, once a container serves, resolves without scaling', async () => {
    await h.seed(0, { autoscale: autoscale({ min: 0 }) });
    await h.scaler.wake('web');
    const starts = h.runtime.callsOf('start').length;
    const events = h.store.listEvents('web').length;
    await h.scaler.wake('web');
    expect(h.runtime.callsOf('start')).toHaveLength(starts);
    expect(h.store.listEvents('web')).toHaveLength(events);
  });

  it('resolves at once when the live release already has a routed container', async () => {
    await h.seed(1, { autoscale: autoscale({ min: 0 }) });
    const unlock = h.locks.acquire('web', 'a deploy'); // would make a scale wait
    await h.scaler.wake('web');
    expect(h.runtime.callsOf('start')).toHaveLength(1); // the seed's
    expect(h.store.listEvents('web')).toEqual([]);
    unlock();
  });

  it.each([
    ['without autoscale', undefined],
    ['with autoscale min 1', autoscale({ min: 1 })],
  ])('rejects for a service %s', async (_what, spec) => {
    await h.seed(0, { autoscale: spec });
    const err = await rejection(h.scaler.wake('web'));
    expect(err.code).toBe('failed');
    expect(err.message).toBe('web has no container running and does not scale from zero');
    expect(h.running()).toEqual([]);
  });

  it('rejects not-found without a live release', async () => {
    expect((await rejection(h.scaler.wake('web'))).code).toBe('not-found');
  });

  it('waits for an operation in progress (up to deployTimeout) instead of failing', async () => {
    await h.seed(0, { autoscale: autoscale({ min: 0 }) });
    const unlock = h.locks.acquire('web', 'a scale to 0');
    const t0 = h.clock.now();
    h.clock.onSleep = (now) => {
      if (now - t0 >= 1000) unlock();
    };
    await h.scaler.wake('web');
    expect(h.running()).toEqual([1]);
  });

  it('after a failed cold start, the next wake tries again', async () => {
    await h.seed(0, { autoscale: autoscale({ min: 0 }) });
    h.runtime.failStartFor('app:1');
    const err = await rejection(h.scaler.wake('web'));
    expect(err.message).toContain('simulated failure');
    expect(h.running()).toEqual([]);
    h.runtime.clearStartFailures();
    await h.scaler.wake('web');
    expect(h.running()).toEqual([1]);
  });
});

describe('a deploy after a scale', () => {
  function deployer() {
    const retirer = new Retirer({
      store: h.store,
      clock: h.clock,
      executor: h.executor,
      locks: h.locks,
      log: h.log,
    });
    const d = new Deployer({
      project: 'app',
      store: h.store,
      runtime: h.runtime,
      clock: h.clock,
      executor: h.executor,
      locks: h.locks,
      retirer,
      gates: new RolloutGates(),
      log: h.log,
    });
    const deploy = async (s: ServiceSpec) => {
      try {
        return (await d.deploy(s, {}, () => {})) as DeployOutcome;
      } finally {
        retirer.stop();
      }
    };
    return deploy;
  }

  it('with autoscale keeps the scaled count', async () => {
    const deploy = deployer();
    const a = autoscale({ min: 1, max: 5 });
    await deploy(serviceSpec({ replicas: 2, autoscale: a }));
    await h.scaler.scale('web', 4, { source: 'cli' });
    await deploy(serviceSpec({ image: 'app:2', replicas: 2, autoscale: a }));
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'live', replicas: 4 });
    expect(h.running(2)).toEqual([1, 2, 3, 4]);
  });

  it("without autoscale goes back to shipit.yml's replicas", async () => {
    const deploy = deployer();
    await deploy(serviceSpec({ replicas: 2 }));
    await h.scaler.scale('web', 4, { source: 'cli' });
    await deploy(serviceSpec({ image: 'app:2', replicas: 2 }));
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'live', replicas: 2 });
    expect(h.running(2)).toEqual([1, 2]);
  });
});
