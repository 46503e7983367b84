import { RolloutGates } from './gates';
import pino from 'pino';
import type { AnalysisSpec, CanaryStepSpec, DeployEvent, ServiceSpec } from '../domain/types';
import { ShipitError } from '../domain/errors';
import type { Probe, ProbeResult } from '../health/probe';
import { systemClock } from '../ports/clock';
import { ProxyRouter } from '../proxy/router';
import { SqliteStore } from '../store/sqlite';
import { FakeRuntime } from '../testing/fake-runtime';
import { Deployer, type DeployOutcome, type Paused } from './deployer';
import { Executor } from './executor';
import { ServiceLocks } from './locks';
import { Retirer } from './retirer';
import { RainbowReaper } from './rainbow-reaper';
import { Routes } from './routes';

const PROJECT = 'app';

function spec(image = 'app:1', over: Partial<ServiceSpec['deploy']> = {}): ServiceSpec {
  return {
    name: 'web',
    image,
    port: 8080,
    hosts: ['example.test'],
    replicas: 2,
    env: { GREETING: 'hi' },
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
      drainTimeoutMs: 100,
      keepPreviousMs: 3_600_000,
      ...over,
    },
  };
}

function harness() {
  const runtime = new FakeRuntime({ images: ['app:1', 'app:2', 'app:3', 'app:4'] });
  const store = SqliteStore.openMemory();
  const router = new ProxyRouter();
  const routes = new Routes(router, { watch: () => {} });
  const locks = new ServiceLocks();
  const log = pino({ level: 'silent' });
  const gates = new RolloutGates();
  const h = {
    runtime,
    store,
    router,
    routes,
    locks,
    /** Replace to script probe results; receives the container ip. */
    probeImpl: (async () => ({ ok: true, detail: 'GET /healthz -> 200' })) as (
      host: string,
    ) => Promise<ProbeResult>,
    events: [] as DeployEvent[],
    executor: null as unknown as Executor,
    retirer: null as unknown as Retirer,
    deployer: null as unknown as Deployer,
  };
  const probe: Probe = (host) => h.probeImpl(host);
  h.executor = new Executor({
    project: PROJECT,
    runtime,
    router,
    routes,
    store,
    probe,
    clock: systemClock,
    log,
    gates,
  });
  h.retirer = new Retirer({ store, clock: systemClock, executor: h.executor, locks, log });
  h.deployer = new Deployer({
    project: PROJECT,
    store,
    runtime,
    clock: systemClock,
    executor: h.executor,
    locks,
    retirer: h.retirer,
    gates,
    log,
  });
  return h;
}

type H = ReturnType<typeof harness>;

const sink = (h: H) => (e: DeployEvent) => h.events.push(e);
const deploy = (h: H, s: ServiceSpec, dryRun = false) =>
  h.deployer.deploy(s, { dryRun }, sink(h)) as Promise<DeployOutcome>;
const ids = (h: H, release: number) =>
  h.runtime.running({ project: PROJECT, service: 'web', release }).map((c) => c.id);
const routedIds = (h: H, release: number) =>
  h.router.table
    .lookup('example.test')
    ?.releases.get(release)
    ?.targets.map((t) => t.id) ?? [];

async function rejection(p: Promise<unknown>): Promise<ShipitError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ShipitError);
    return e as ShipitError;
  }
  throw new Error('expected a rejection');
}

let h: H;
beforeEach(() => {
  h = harness();
});
afterEach(() => {
  h.retirer.stop();
  h.store.close();
});

describe('Deployer.deploy', () => {
  it('first deploy: records the release live and routes 100% to its containers', async () => {
    const out = await deploy(h, spec('app:1'));
    expect(out).toMatchObject({ service: 'web', release: 1, dryRun: false });
    expect(out.plan).toContain('first release of web');
    const r = h.store.getRelease('web', 1)!;
    expect(r).toMatchObject({
      status: 'live',
      result: 'succeeded',
      image: 'app:1',
      replicas: 2,
      reason: null,
    });
    expect(r.finishedAt).not.toBeNull();
    const running = ids(h, 1);
    expect(running).toHaveLength(2);
    expect(h.router.weights('web')).toEqual({ 1: 100 });
    expect(routedIds(h, 1).sort()).toEqual([...running].sort());
    // the containers were started from the spec
    const started = h.runtime.specOf(running[0])!;
    expect(started).toMatchObject({
      project: PROJECT,
      service: 'web',
      release: 1,
      image: 'app:1',
      port: 8080,
      env: { GREETING: 'hi' },
    });
    // every event went to the sink and the store, ending with "live"
    expect(h.events[0].type).toBe('plan');
    expect(h.events.at(-1)).toMatchObject({ type: 'live', release: 1, message: 'web r1 is live' });
    expect(h.store.listEvents('web').map((e) => e.type)).toEqual(h.events.map((e) => e.type));
  });

  it('second deploy: keeps the first as previous (still running, out of routing) and routes to the new one', async () => {
    await deploy(h, spec('app:1'));
    const first = ids(h, 1);
    await deploy(h, spec('app:2'));
    expect(h.store.getRelease('web', 1)).toMatchObject({ status: 'previous' });
    expect(h.store.getRelease('web', 1)!.demotedAt).not.toBeNull();
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'live', result: 'succeeded' });
    expect(ids(h, 1)).toEqual(first);
    expect(h.router.weights('web')).toEqual({ 2: 100 });
    expect(routedIds(h, 2).sort()).toEqual(ids(h, 2).sort());
    expect(routedIds(h, 1)).toEqual([]);
    for (const id of first) expect(h.router.target(id)?.draining).toBe(true);
  });

  it('third deploy: retires the oldest release and removes its containers', async () => {
    await deploy(h, spec('app:1'));
    const first = ids(h, 1);
    await deploy(h, spec('app:2'));
    const second = ids(h, 2);
    await deploy(h, spec('app:3'));
    expect(h.store.getRelease('web', 1)).toMatchObject({ status: 'retired' });
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'previous' });
    expect(h.store.getRelease('web', 3)).toMatchObject({ status: 'live' });
    expect(h.runtime.all({ project: PROJECT, release: 1 })).toEqual([]);
    for (const id of first) {
      expect(h.runtime.callsOf('stop').map((a) => a[0])).toContain(id);
      expect(h.router.target(id)).toBeUndefined(); // forgotten by the proxy
    }
    expect(ids(h, 2)).toEqual(second);
    expect(h.router.weights('web')).toEqual({ 3: 100 });
  });

  it('a deploy whose probe always fails rejects "failed", leaves no container, routing unchanged', async () => {
    await deploy(h, spec('app:1'));
    const before = { weights: h.router.weights('web'), routed: routedIds(h, 1).sort() };
    h.probeImpl = async () => ({ ok: false, detail: 'GET /healthz -> 500 "boom"' });
    const t0 = Date.now();
    const err = await rejection(deploy(h, spec('app:2', { deployTimeoutMs: 300 })));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(err.code).toBe('failed');
    expect(err.message).toContain('did not become healthy within 300ms');
    expect(err.message).toContain('GET /healthz -> 500 "boom"');
    expect(h.runtime.all({ project: PROJECT, release: 2 })).toEqual([]);
    expect(h.router.weights('web')).toEqual(before.weights);
    expect(routedIds(h, 1).sort()).toEqual(before.routed);
    expect(h.router.targets('web').filter((t) => t.release === 2)).toEqual([]);
    const r2 = h.store.getRelease('web', 2)!;
    expect(r2).toMatchObject({ status: 'failed', result: 'failed' });
    expect(r2.reason).toContain('did not become healthy');
    expect(h.store.getRelease('web', 1)).toMatchObject({ status: 'live' });
    const types = h.events.map((e) => e.type);
    expect(types).toContain('step-failed');
    expect(types).toContain('compensate');
    expect(types.at(-1)).toBe('failed');
  });

  it('a first deploy that fails leaves nothing routed', async () => {
    h.probeImpl = async () => ({ ok: false, detail: 'refused' });
    const err = await rejection(deploy(h, spec('app:1', { deployTimeoutMs: 300 })));
    expect(err.code).toBe('failed');
    expect(h.runtime.all({ project: PROJECT })).toEqual([]);
    expect(h.router.weights('web')).toEqual({});
    expect(h.store.getRelease('web', 1)).toMatchObject({ status: 'failed', result: 'failed' });
  });

  it('unknown image: rejects "failed", records no release, starts no container', async () => {
    const err = await rejection(deploy(h, spec('nope:9')));
    expect(err.code).toBe('failed');
    expect(err.message).toContain('nope:9');
    expect(h.store.listReleases('web')).toEqual([]);
    expect(h.runtime.all({ project: PROJECT })).toEqual([]);
    expect(h.runtime.callsOf('start')).toEqual([]);
    expect(h.locks.holder('web')).toBeUndefined();
  });

  it('a second concurrent deploy of the same service is refused with "conflict"', async () => {
    const first = deploy(h, spec('app:1'));
    const err = await rejection(deploy(h, spec('app:2')));
    expect(err.code).toBe('conflict');
    expect(err.message).toContain('a deploy is in progress');
    await expect(first).resolves.toMatchObject({ release: 1 });
    expect(h.store.listReleases('web').map((r) => r.number)).toEqual([1]);
    // the lock is released afterwards
    await expect(deploy(h, spec('app:2'))).resolves.toMatchObject({ release: 2 });
  });

  it('dryRun changes nothing and returns the plan text', async () => {
    await deploy(h, spec('app:1'));
    const startsBefore = h.runtime.callsOf('start').length;
    const eventsBefore = h.store.listEvents('web').length;
    const out = await deploy(h, spec('app:2'), true);
    expect(out.dryRun).toBe(true);
    expect(out.release).toBe(2);
    expect(out.plan).toContain('plan: web r2 (blue-green)');
    expect(out.plan).toContain('new release r2 starts beside live r1');
    expect(out.plan).toContain('flip: all traffic from r1 to r2 in one swap');
    expect(h.runtime.callsOf('start')).toHaveLength(startsBefore);
    expect(h.store.listReleases('web').map((r) => [r.number, r.status])).toEqual([[1, 'live']]);
    expect(h.store.listEvents('web')).toHaveLength(eventsBefore);
    expect(h.router.weights('web')).toEqual({ 1: 100 });
    expect(h.store.nextReleaseNumber('web')).toBe(2);
  });
});

describe('Deployer.rollback', () => {
  it('flips back to the previous release, same container ids, nothing started', async () => {
    await deploy(h, spec('app:1'));
    const first = ids(h, 1);
    await deploy(h, spec('app:2'));
    const startsBefore = h.runtime.callsOf('start').length;
    const out = await h.deployer.rollback('web', undefined, {}, sink(h));
    expect(out).toMatchObject({ service: 'web', release: 1, dryRun: false });
    expect(out.plan).toContain('flip back: all traffic from r2 to r1');
    expect(h.runtime.callsOf('start')).toHaveLength(startsBefore);
    expect(ids(h, 1)).toEqual(first);
    expect(h.router.weights('web')).toEqual({ 1: 100 });
    expect(routedIds(h, 1).sort()).toEqual([...first].sort());
    expect(h.store.getRelease('web', 1)).toMatchObject({ status: 'live' });
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'previous' });
    expect(ids(h, 2)).toHaveLength(2); // kept for a roll-forward
  });

  it('starts a retired release again when its containers are gone', async () => {
    await deploy(h, spec('app:1'));
    await deploy(h, spec('app:2'));
    await deploy(h, spec('app:3'));
    expect(ids(h, 1)).toEqual([]);
    const out = await h.deployer.rollback('web', 1, {}, sink(h));
    expect(out.plan).toContain("r1's containers are gone");
    const fresh = ids(h, 1);
    expect(fresh).toHaveLength(2);
    expect(h.runtime.specOf(fresh[0])).toMatchObject({ image: 'app:1' });
    expect(h.router.weights('web')).toEqual({ 1: 100 });
    expect(routedIds(h, 1).sort()).toEqual([...fresh].sort());
    expect(h.store.getRelease('web', 1)).toMatchObject({ status: 'live' });
    expect(h.store.getRelease('web', 3)).toMatchObject({ status: 'previous' });
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'retired' });
  });

  it('dry run of a rollback changes nothing', async () => {
    await deploy(h, spec('app:1'));
    await deploy(h, spec('app:2'));
    const out = await h.deployer.rollback('web', undefined, { dryRun: true }, sink(h));
    expect(out.dryRun).toBe(true);
    expect(h.router.weights('web')).toEqual({ 2: 100 });
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'live' });
  });

  it('refuses unknown, live, never-live or missing previous releases', async () => {
    expect((await rejection(h.deployer.rollback('web', undefined, {}, sink(h)))).code).toBe(
      'not-found',
    );
    await deploy(h, spec('app:1'));
    expect((await rejection(h.deployer.rollback('web', 9, {}, sink(h)))).code).toBe('not-found');
    expect((await rejection(h.deployer.rollback('web', 1, {}, sink(h)))).code).toBe('usage');
    h.probeImpl = async () => ({ ok: false, detail: 'down' });
    await rejection(deploy(h, spec('app:2', { deployTimeoutMs: 200 })));
    const never = await rejection(h.deployer.rollback('web', 2, {}, sink(h)));
    expect(never.code).toBe('usage');
    expect(never.message).toContain('never went live');
    expect(h.locks.holder('web')).toBeUndefined();
  });
});

describe('a deploy that fails after the flip', () => {
  it('a cleanup step that fails after the flip does not undo the deploy', async () => {
    await deploy(h, spec('app:1'));
    await deploy(h, spec('app:2'));
    const r1 = ids(h, 1);
    const remove = h.runtime.remove.bind(h.runtime);
    h.runtime.remove = async (id: string) => {
      if (r1.includes(id)) throw new Error('engine says no');
      return remove(id);
    };
    await deploy(h, spec('app:3'));
    expect(h.store.getRelease('web', 3)!.status).toBe('live');
    expect(h.store.getRelease('web', 2)!.status).toBe('previous');
    // r1 is out of every routing and recorded retired; its stuck containers are
    // leftovers that the next reconcile removes.
    expect(h.store.getRelease('web', 1)!.status).toBe('retired');
    expect(routedIds(h, 3)).toEqual(ids(h, 3));
    expect(h.events.some((e) => e.type === 'warning' && /engine says no/.test(e.message))).toBe(
      true,
    );
  });

  it('a failure after the flip brings traffic and the record back to the old live release', async () => {
    await deploy(h, spec('app:1'));
    const update = h.store.updateRelease.bind(h.store);
    // The store refuses to record r2 as live, right after the flip.
    h.store.updateRelease = (service, number, patch) => {
      if (number === 2 && patch.status === 'live') throw new Error('disk full');
      return update(service, number, patch);
    };
    const err = await rejection(deploy(h, spec('app:2')));
    expect(err.message).toContain('disk full');
    expect(h.store.getRelease('web', 1)!.status).toBe('live');
    expect(h.store.getRelease('web', 2)!.status).toBe('failed');
    expect(routedIds(h, 1)).toEqual(ids(h, 1));
    expect(routedIds(h, 2)).toEqual([]);
    expect(ids(h, 2)).toEqual([]);
  });
});

describe('canary and rolling rollouts: promote, abort, analysis', () => {
  const ANALYSIS = { intervalMs: 50, minRequests: 5, maxErrorRate: 0.1 };
  const canary = (
    image: string,
    steps: CanaryStepSpec[],
    analysis: AnalysisSpec = ANALYSIS,
  ): ServiceSpec =>
    spec(image, { strategy: 'canary', canary: { steps, sticky: 'cookie', analysis } });
  const paused = (p: Promise<unknown>) => p as Promise<Paused>;
  const follow = (events: DeployEvent[]) => (e: DeployEvent) => events.push(e);
  /** Records `count` answers on the release's counters, as the proxy would. */
  const feed = (release: number, count: number, status: number, ms: number) => {
    const id = ids(h, release)[0];
    for (let i = 0; i < count; i++) h.router.target(id)!.stats.record(status, ms);
  };

  afterEach(async () => {
    // never leave a rollout waiting at a pause behind a failed test
    if (h.deployer.rolloutOf('web')) await h.deployer.abort('web', () => {});
  });

  function expectBackOnR1(): void {
    expect(h.router.weights('web')).toEqual({ 1: 100 });
    expect(ids(h, 1)).toHaveLength(2);
    expect(routedIds(h, 1).sort()).toEqual(ids(h, 1).sort());
    expect(h.store.getRelease('web', 1)).toMatchObject({ status: 'live' });
    expect(h.runtime.all({ project: PROJECT, release: 2 })).toEqual([]);
    expect(h.router.targets('web').filter((t) => t.release === 2)).toEqual([]);
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'failed', result: 'failed' });
    expect(h.locks.holder('web')).toBeUndefined();
    expect(h.deployer.rolloutOf('web')).toBeNull();
  }

  it('a manual step returns {paused} while the rollout goes on holding the lock; promote completes it', async () => {
    await deploy(h, canary('app:1', [{ weight: 10, pauseMs: 'manual' }]));
    const r1 = ids(h, 1);
    const out = await paused(deploy(h, canary('app:2', [{ weight: 10, pauseMs: 'manual' }])));
    expect(out).toEqual({ paused: true, release: 2, message: 'r2 waits for `shipit promote web`' });
    // the canary runs beside the stable release and takes its share
    expect(h.router.weights('web')).toEqual({ 1: 90, 2: 10 });
    expect(routedIds(h, 2).sort()).toEqual(ids(h, 2).sort());
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'deploying' });
    expect(h.deployer.rolloutOf('web')).toEqual({ release: 2, paused: out.message });
    expect(h.locks.holder('web')).toBe('a deploy');
    // the lock stays with the paused rollout
    const busy = await rejection(deploy(h, canary('app:3', [])));
    expect(busy.code).toBe('conflict');
    expect(h.store.getRelease('web', 3)).toBeNull();
    const deployEvents = h.events.length;

    const promoted: DeployEvent[] = [];
    const done = await h.deployer.promote('web', follow(promoted));
    expect(done).toMatchObject({ service: 'web', release: 2, dryRun: false });
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'live', result: 'succeeded' });
    expect(h.store.getRelease('web', 1)).toMatchObject({ status: 'previous' });
    expect(ids(h, 1)).toEqual(r1); // kept running for a rollback
    expect(h.router.weights('web')).toEqual({ 2: 100 });
    expect(routedIds(h, 2).sort()).toEqual(ids(h, 2).sort());
    expect(promoted.at(-1)).toMatchObject({ type: 'live', message: 'web r2 is live' });
    // the deploy command stopped following at the pause
    expect(h.events).toHaveLength(deployEvents);
    expect(h.events.at(-1)!.type).toBe('paused');
    expect(h.locks.holder('web')).toBeUndefined();
    expect(h.deployer.rolloutOf('web')).toBeNull();
  });

  it('promote follows the rollout to its next manual pause', async () => {
    const steps: CanaryStepSpec[] = [
      { weight: 0, pauseMs: 'manual' },
      { weight: 50, pauseMs: 'manual' },
    ];
    await deploy(h, canary('app:1', steps));
    const first = await paused(deploy(h, canary('app:2', steps)));
    expect(first.paused).toBe(true);
    expect(h.router.weights('web')).toEqual({ 1: 100, 2: 0 });
    const second = await h.deployer.promote('web', () => {});
    expect(second).toMatchObject({ paused: true, release: 2 });
    expect(h.router.weights('web')).toEqual({ 1: 50, 2: 50 });
    await expect(h.deployer.promote('web', () => {})).resolves.toMatchObject({ release: 2 });
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'live' });
  });

  it('promote with no rollout in progress is a usage error', async () => {
    const err = await rejection(h.deployer.promote('web', () => {}));
    expect(err.code).toBe('usage');
    expect(err.message).toContain('no rollout in progress');
  });

  it('abort during a manual pause restores the stable release and fails the canary', async () => {
    await deploy(h, canary('app:1', [{ weight: 20, pauseMs: 'manual' }]));
    const r1 = ids(h, 1);
    await paused(deploy(h, canary('app:2', [{ weight: 20, pauseMs: 'manual' }])));
    expect(ids(h, 2)).toHaveLength(2);
    const aborting: DeployEvent[] = [];
    const out = await h.deployer.abort('web', follow(aborting));
    expect(out).toEqual({ service: 'web', release: 2, aborted: true });
    expectBackOnR1();
    expect(ids(h, 1)).toEqual(r1); // the same containers, never stopped
    expect(h.store.getRelease('web', 2)!.reason).toBe('aborted by `shipit abort`');
    const types = aborting.map((e) => e.type);
    expect(types).toContain('step-failed');
    expect(types).toContain('compensate');
    expect(types.at(-1)).toBe('failed');
    // the service is free again
    await expect(deploy(h, spec('app:3'))).resolves.toMatchObject({ release: 3 });
  });

  it('abort with no rollout in progress is a usage error', async () => {
    await deploy(h, spec('app:1'));
    const err = await rejection(h.deployer.abort('web', () => {}));
    expect(err.code).toBe('usage');
    expect(err.message).toBe('web has no rollout in progress to abort');
  });

  it('abort between steps (a rolling deploy in its first batch) restores the old release in full', async () => {
    const rolling = (image: string): ServiceSpec => ({
      ...spec(image, { strategy: 'rolling', rolling: { maxSurge: 1, maxUnavailable: 0 } }),
      replicas: 3,
    });
    await deploy(h, rolling('app:1'));
    const r1 = ids(h, 1);
    // The new release's health check waits until the test lets it answer.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let probing = false;
    const r1Ips = new Set(h.runtime.running({ project: PROJECT, release: 1 }).map((c) => c.ip));
    h.probeImpl = async (host) => {
      if (!r1Ips.has(host)) {
        probing = true;
        await gate;
      }
      return { ok: true, detail: 'ok' };
    };
    const p = deploy(h, rolling('app:2'));
    while (!probing) await new Promise((r) => setTimeout(r, 5));
    const aborted = h.deployer.abort('web', () => {});
    release();
    const err = await rejection(p);
    expect(err.message).toContain('aborted');
    await expect(aborted).resolves.toMatchObject({ aborted: true, release: 2 });
    expect(h.store.getRelease('web', 1)).toMatchObject({ status: 'live' });
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'failed' });
    expect(ids(h, 1).sort()).toEqual([...r1].sort());
    expect(h.runtime.all({ project: PROJECT, release: 2 })).toEqual([]);
    expect(h.router.weights('web')).toEqual({ 1: 100 });
  });

  it('canary analysis: 5xx answers on the canary during a pause fail the deploy and restore the stable release', async () => {
    const steps: CanaryStepSpec[] = [{ weight: 10, pauseMs: 10_000 }];
    await deploy(h, canary('app:1', steps));
    const t0 = Date.now();
    const err = await rejection(
      h.deployer.deploy(canary('app:2', steps), {}, (e) => {
        h.events.push(e);
        // after the pause has taken its baseline
        if (e.type === 'step' && e.data?.kind === 'pause')
          setTimeout(() => {
            feed(2, 4, 200, 3);
            feed(2, 6, 503, 3);
          }, 20);
      }),
    );
    expect(Date.now() - t0).toBeLessThan(5000); // long before the 10s pause would end
    expect(err.code).toBe('failed');
    expect(err.message).toContain('error_rate');
    expect(err.message).toBe(
      'canary analysis: error_rate 0.600 is above maxErrorRate 0.1 (6 of 10 requests answered 5xx)',
    );
    expect(h.events.find((e) => e.type === 'analysis')).toMatchObject({
      release: 2,
      data: { requests: 10, errorRate: 0.6 },
    });
    expectBackOnR1();
    expect(h.store.getRelease('web', 2)!.reason).toContain('error_rate');
  });

  it('canary analysis: errors on the canary before its pause began are not counted', async () => {
    const steps: CanaryStepSpec[] = [{ weight: 10, pauseMs: 300 }];
    await deploy(h, canary('app:1', steps));
    const out = h.deployer.deploy(canary('app:2', steps), {}, (e) => {
      h.events.push(e);
      // synchronously, before the pause step takes its baseline
      if (e.type === 'step' && e.data?.kind === 'pause') feed(2, 20, 503, 3);
    });
    await expect(out).resolves.toMatchObject({ release: 2, dryRun: false });
    expect(h.events.some((e) => e.type === 'analysis')).toBe(false);
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'live' });
  });

  it('canary analysis: fewer requests than minRequests give no verdict; the timed pause ends by itself', async () => {
    const steps: CanaryStepSpec[] = [{ weight: 10, pauseMs: 300 }];
    await deploy(h, canary('app:1', steps));
    const t0 = Date.now();
    const out = h.deployer.deploy(canary('app:2', steps), {}, (e) => {
      h.events.push(e);
      if (e.type === 'step' && e.data?.kind === 'pause') setTimeout(() => feed(2, 4, 500, 3), 20);
    });
    await expect(out).resolves.toMatchObject({ release: 2 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(h.events.some((e) => e.type === 'analysis')).toBe(false);
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'live' });
  });

  it('canary analysis: a p99 above maxP99 fails the deploy', async () => {
    const steps: CanaryStepSpec[] = [{ weight: 10, pauseMs: 10_000 }];
    const analysis = { ...ANALYSIS, maxP99Ms: 100 };
    await deploy(h, canary('app:1', steps, analysis));
    const err = await rejection(
      h.deployer.deploy(canary('app:2', steps, analysis), {}, (e) => {
        if (e.type === 'step' && e.data?.kind === 'pause')
          setTimeout(() => feed(2, 10, 200, 700), 20);
      }),
    );
    expect(err.code).toBe('failed');
    expect(err.message).toBe('canary analysis: p99 1024ms is above maxP99 100ms (10 requests)');
    expectBackOnR1();
  });

  it('a rolling deploy of 3 replicas ends with 3 new containers and the old release retired, none of its containers left', async () => {
    const rolling = (image: string): ServiceSpec => ({
      ...spec(image, { strategy: 'rolling', rolling: { maxSurge: 1, maxUnavailable: 0 } }),
      replicas: 3,
    });
    await deploy(h, rolling('app:1'));
    const r1 = ids(h, 1);
    expect(r1).toHaveLength(3);
    const out = await deploy(h, rolling('app:2'));
    expect(out.plan).toContain('plan: web r2 (rolling)');
    const r2 = h.runtime.running({ project: PROJECT, service: 'web', release: 2 });
    expect(r2.map((c) => c.index)).toEqual([1, 2, 3]);
    expect(h.router.weights('web')).toEqual({ 2: 100 });
    expect(routedIds(h, 2).sort()).toEqual(r2.map((c) => c.id).sort());
    expect(h.store.getRelease('web', 2)).toMatchObject({ status: 'live', result: 'succeeded' });
    expect(h.store.getRelease('web', 1)).toMatchObject({ status: 'retired' });
    expect(h.runtime.all({ project: PROJECT, release: 1 })).toEqual([]);
    for (const id of r1) expect(h.router.target(id)).toBeUndefined();
    // one old container went per batch, after its replacement was healthy
    const stopped = h.runtime.callsOf('stop').map((a) => a[0]);
    expect(stopped).toEqual(r1);
  });
});

describe('rainbow: the reaper', () => {
  const rainbow = (image: string, maxAgeMs?: number): ServiceSpec => ({
    ...spec(image, {
      strategy: 'rainbow',
      rainbow: { maxLive: 3, ...(maxAgeMs !== undefined ? { maxAgeMs } : {}) },
    }),
  });
  const reaper = () =>
    new RainbowReaper({
      store: h.store,
      router: h.router,
      executor: h.executor,
      locks: h.locks,
      clock: systemClock,
      log: pino({ level: 'silent' }),
    });

  it('keeps an older release while something is in flight on it, then removes it', async () => {
    await deploy(h, rainbow('app:1'));
    await deploy(h, rainbow('app:2'));
    expect(h.store.releasesWithStatus(['live'], 'web').map((r) => r.number)).toEqual([2, 1]);
    expect(h.router.weights('web')).toEqual({ 1: 0, 2: 100 });
    const r = reaper();
    const busy = h.router.target(ids(h, 1)[0])!;
    busy.inflight = 1;
    expect(r.due()).toEqual([]);
    await r.tick();
    expect(ids(h, 1)).toHaveLength(2);
    busy.inflight = 0;
    expect(r.due().map((x) => x.number)).toEqual([1]);
    await r.tick();
    expect(h.store.getRelease('web', 1)!.status).toBe('retired');
    expect(h.runtime.all({ project: PROJECT, release: 1 })).toEqual([]);
    expect(h.router.weights('web')).toEqual({ 2: 100 });
  });

  it('at maxAge an older release goes even with a request in flight; a held lock defers it', async () => {
    await deploy(h, rainbow('app:1', 1));
    await deploy(h, rainbow('app:2', 1));
    h.router.target(ids(h, 1)[0])!.inflight = 1;
    await new Promise((res) => setTimeout(res, 10));
    const r = reaper();
    expect(r.due().map((x) => x.number)).toEqual([1]);
    const unlock = h.locks.acquire('web', 'a test');
    await r.tick();
    expect(h.store.getRelease('web', 1)!.status).toBe('live');
    unlock();
    h.router.target(ids(h, 1)[0])!.inflight = 0;
    await r.tick();
    expect(h.store.getRelease('web', 1)!.status).toBe('retired');
    r.start(1000);
    r.stop();
  });
});
