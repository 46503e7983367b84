import pino from 'pino';
import { autoscale, scaleHarness, type ScaleHarness } from '../testing/scale-harness';
import { Autoscaler } from './autoscaler';

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

let h: ScaleHarness;
let a: Autoscaler;
let logs: LogLine[];
/** What the injected observers report. */
let load: { requests: number; rps: number; cpu: number | null; calls: number };

beforeEach(() => {
  h = scaleHarness();
  logs = [];
  load = { requests: 0, rps: 0, cpu: null, calls: 0 };
  a = new Autoscaler({
    store: h.store,
    locks: h.locks,
    scaler: h.scaler,
    clock: h.clock,
    log: pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s)) }),
    targets: (service) => h.router.targets(service),
    requests: () => load.requests,
    rps: () => {
      load.calls++;
      return load.rps;
    },
    cpu: () => load.cpu,
    tickMs: 5,
  });
});
afterEach(async () => {
  a.stop();
  await a.idle();
  h.store.close();
});

/** One tick, then wait for any scale it started. */
async function step(): Promise<void> {
  a.tick();
  await a.idle();
}

describe('Autoscaler', () => {
  it('scales the live release up at once when in-flight requests exceed the target', async () => {
    await h.seed(1, { autoscale: autoscale({ max: 5 }) });
    h.load(25); // 25 in flight on 1 replica, target 10 per replica
    a.tick();
    expect(a.status('web')).toMatchObject({
      release: 1,
      replicas: 1,
      desired: 3,
      reason: 'up: 25.0 in flight, target 10 per replica',
      inputs: { replicas: 1, inflight: 25, floor: 0 },
      acting: true,
    });
    await a.idle();
    expect(a.status('web')!.acting).toBe(false);
    expect(h.running()).toEqual([1, 2, 3]);
    expect(h.routed()).toHaveLength(3);
    expect(h.store.getRelease('web', 1)!.replicas).toBe(3);
    const scale = h.store.listEvents('web').find((e) => e.type === 'scale');
    expect(scale).toMatchObject({ data: { from: 1, to: 3, source: 'autoscaler' } });
    expect(scale!.message).toContain('(autoscaler: up: 25.0 in flight');
    // the decision and its inputs are logged
    expect(logs).toContainEqual(
      expect.objectContaining({
        msg: 'autoscale: up: 25.0 in flight, target 10 per replica',
        service: 'web',
        release: 1,
        from: 1,
        to: 3,
        inflight: 25,
      }),
    );
  });

  it('never goes past max', async () => {
    await h.seed(1, { autoscale: autoscale({ max: 2 }) });
    h.load(100);
    await step();
    expect(h.running()).toEqual([1, 2]);
  });

  it('only watches while another operation holds the lock: status says busy', async () => {
    await h.seed(1, { autoscale: autoscale() });
    h.load(25);
    const unlock = h.locks.acquire('web', 'a deploy');
    await step();
    expect(a.status('web')).toMatchObject({
      replicas: 1,
      desired: 1,
      acting: false,
    });
    expect(a.status('web')!.reason).toMatch(/^busy \(up: /);
    expect(h.running()).toEqual([1]);
    expect(h.store.listEvents('web')).toEqual([]);
    unlock();
    await step();
    expect(h.running()).toEqual([1, 2, 3]);
  });

  it('does not start a second scale while its own is still running', async () => {
    await h.seed(1, { autoscale: autoscale() });
    h.load(25);
    a.tick();
    a.tick(); // the first scale has not finished
    expect(a.status('web')).toMatchObject({ acting: true, desired: 1 });
    expect(a.status('web')!.reason).toMatch(/^busy/);
    await a.idle();
    expect(h.store.listEvents('web').filter((e) => e.type === 'scale')).toHaveLength(1);
    expect(h.running()).toEqual([1, 2, 3]);
    a.tick();
    expect(a.status('web')!.acting).toBe(false);
  });

  it('holds the replicas for scaleDownDelay after the load drops, then scales down', async () => {
    await h.seed(3, { autoscale: autoscale({ min: 1, scaleDownDelayMs: 10_000 }) });
    h.load(10); // 30 in flight on 3: on target
    await step();
    expect(a.status('web')!.reason).toMatch(/^steady/);
    h.load(0);
    const dropped = h.clock.now();
    let downAt: number | null = null;
    for (let i = 0; i < 30 && h.running().length > 1; i++) {
      h.clock.advance(1000);
      await step();
      if (downAt === null && h.running().length < 3) downAt = h.clock.now();
      if (h.clock.now() - dropped < 10_000) {
        expect(h.running()).toHaveLength(3);
        expect(a.status('web')!.reason).toMatch(/^holding 3: load asked for \d less than/);
      }
    }
    expect(downAt! - dropped).toBeGreaterThanOrEqual(10_000);
    expect(h.running()).toEqual([1]);
    expect(h.store.getRelease('web', 1)!.replicas).toBe(1);
    expect(a.status('web')!.reason).toMatch(/^down: /);
  });

  it('the schedule raises the floor at its start and releases it at its end', async () => {
    await h.seed(1, {
      autoscale: autoscale({
        min: 1,
        scaleDownDelayMs: 60_000,
        schedule: [{ from: '07:00', to: '19:00', min: 3 }],
      }),
    });
    const at = (hh: number, mm: number, ss = 0) =>
      h.clock.set(new Date(2024, 0, 15, hh, mm, ss).getTime());
    at(6, 59);
    await step();
    expect(a.status('web')).toMatchObject({ desired: 1, inputs: { floor: 0 } });
    expect(h.running()).toEqual([1]);
    at(7, 0);
    await step();
    expect(a.status('web')).toMatchObject({
      desired: 3,
      reason: 'floor 3 (min 1, schedule 3)',
      inputs: { floor: 3 },
    });
    expect(h.running()).toEqual([1, 2, 3]);
    at(18, 59, 30);
    await step();
    expect(h.running()).toHaveLength(3);
    at(19, 0);
    await step();
    expect(a.status('web')!.inputs.floor).toBe(0);
    expect(a.status('web')!.reason).toMatch(/^holding 3/);
    expect(h.running()).toHaveLength(3);
    at(19, 1);
    await step();
    expect(h.running()).toEqual([1]);
  });

  it('scales to zero after idleTimeout without a request; touch() restarts the count', async () => {
    await h.seed(1, { autoscale: autoscale({ min: 0, idleTimeoutMs: 60_000 }) });
    const t0 = h.clock.now();
    await step();
    h.clock.set(t0 + 50_000);
    a.touch('web'); // a request waits for a cold start
    h.clock.set(t0 + 70_000); // 70s since the last tick's view, 20s since the touch
    await step();
    expect(h.running()).toEqual([1]);
    expect(a.status('web')!.reason).toMatch(/^steady/);
    h.clock.set(t0 + 110_000);
    await step();
    expect(a.status('web')!.reason).toBe('idle for 60s (idleTimeout 60s)');
    expect(h.running()).toEqual([]);
    expect(h.routed()).toEqual([]);
    expect(h.router.weights('web')).toEqual({ 1: 100 }); // still routed: the proxy holds requests
    expect(h.store.getRelease('web', 1)!.replicas).toBe(0);
  });

  it('without touch() or requests, the same timeline goes to zero at 70s', async () => {
    await h.seed(1, { autoscale: autoscale({ min: 0, idleTimeoutMs: 60_000 }) });
    const t0 = h.clock.now();
    await step();
    h.clock.set(t0 + 70_000);
    await step();
    expect(h.running()).toEqual([]);
  });

  it('answered requests and requests in flight keep a service awake', async () => {
    await h.seed(1, { autoscale: autoscale({ min: 0, idleTimeoutMs: 60_000 }) });
    const t0 = h.clock.now();
    await step();
    h.clock.set(t0 + 50_000);
    load.requests = 7;
    await step();
    h.clock.set(t0 + 100_000);
    expect(a.status('web')!.inputs.lastRequestAt).toBe(t0 + 50_000);
    h.load(1);
    await step(); // idle by the counter, but one request in flight
    expect(h.running()).toEqual([1]);
    expect(a.status('web')!.inputs.lastRequestAt).toBe(t0 + 100_000);
    h.load(0);
    for (const s of [101, 102, 159]) {
      h.clock.set(t0 + s * 1000);
      await step();
    }
    expect(h.running()).toEqual([1]); // 59s since the last request in flight
    h.clock.set(t0 + 160_000);
    await step();
    expect(h.running()).toEqual([]);
  });

  it('touch() of a service it does not track is harmless', () => {
    expect(() => a.touch('nope')).not.toThrow();
    expect(a.status('nope')).toBeNull();
  });

  it('ignores services without autoscale, and forgets one whose new live release has none', async () => {
    await h.seed(1, { autoscale: autoscale() });
    await step();
    expect(a.status('web')).not.toBeNull();
    await h.seed(1, { number: 2 }); // r2 live without autoscale
    h.load(50, 2);
    await step();
    expect(a.status('web')).toBeNull();
    expect(h.running(2)).toEqual([1]);
    expect(h.store.listEvents('web')).toEqual([]);
  });

  it('follows a new live release and a changed autoscale spec', async () => {
    await h.seed(1, { autoscale: autoscale() });
    const t0 = h.clock.now();
    await step();
    h.clock.advance(30_000);
    await h.seed(2, { number: 2, autoscale: autoscale({ min: 3 }) });
    await step();
    expect(a.status('web')).toMatchObject({
      release: 2,
      replicas: 2,
      desired: 3,
      reason: 'floor 3 (min 3, schedule 0)',
      // a new deploy is not a request: the idle count goes on
      inputs: { lastRequestAt: t0 },
    });
    expect(h.running(2)).toEqual([1, 2, 3]);
    expect(h.running(1)).toEqual([1]); // the previous release is not its business
  });

  it("counts only the serving release's containers when an older one is still routed", async () => {
    await h.seed(2, { autoscale: autoscale() });
    await h.seed(1, { number: 2, autoscale: autoscale() });
    // rainbow: r1 stays live, its containers routed at weight 0; r2 is the serving one
    h.store.updateRelease('web', 1, { status: 'live' });
    await h.executor.run(
      {
        service: 'web',
        release: 2,
        strategy: 'rainbow',
        steps: [{ kind: 'set-weights', weights: { 1: 0, 2: 100 }, cause: 'test' }],
        compensation: [],
      },
      () => h.store.getRelease('web', 2)!.spec,
      () => {},
    );
    h.load(5, 1);
    h.load(5, 2);
    await step();
    expect(a.status('web')).toMatchObject({ release: 2, replicas: 1, inputs: { inflight: 5 } });
    expect(h.running(2)).toEqual([1]);
    expect(h.running(1)).toEqual([1, 2]);
  });

  it('passes rps and cpu to the decision (cpu target)', async () => {
    await h.seed(2, { autoscale: autoscale({ target: { cpu: 0.5 } }) });
    load.rps = 12.5;
    await step();
    expect(a.status('web')).toMatchObject({
      desired: 2,
      reason: 'steady: no CPU reading yet',
      inputs: { rps: 12.5, cpu: null },
    });
    load.cpu = 0.9; // 1.8 CPUs over 2 replicas, target 0.5 each: 4
    await step();
    expect(h.running()).toEqual([1, 2, 3, 4]);
  });

  it('scales by requests per second when that is the target', async () => {
    await h.seed(1, { autoscale: autoscale({ target: { rpsPerReplica: 10 } }) });
    load.rps = 41;
    await step();
    expect(h.running()).toHaveLength(5);
  });

  it('logs a failed scale, then tries again on a later tick', async () => {
    await h.seed(1, { autoscale: autoscale() });
    h.runtime.failStartFor('app:1');
    h.load(25);
    await step();
    expect(h.running()).toEqual([1]);
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: 'autoscale failed', service: 'web', to: 3, level: 40 }),
    );
    expect(a.status('web')!.acting).toBe(false);
    h.runtime.clearStartFailures();
    await step();
    expect(h.running()).toEqual([1, 2, 3]);
  });

  it('idle() resolves when nothing is tracked', async () => {
    await expect(a.idle()).resolves.toBeUndefined();
  });

  it('start() ticks on its interval until stop(); a second start() adds no timer', async () => {
    await h.seed(1, { autoscale: autoscale() });
    a.start();
    a.start();
    const until = Date.now() + 2000;
    while (load.calls < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    expect(load.calls).toBeGreaterThanOrEqual(3);
    expect(a.status('web')).not.toBeNull();
    a.stop();
    const calls = load.calls;
    await new Promise((r) => setTimeout(r, 30));
    expect(load.calls).toBe(calls);
  });
});
