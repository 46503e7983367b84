import pino from 'pino';
import type { ContainerSpec, ContainerUsage } from '../ports/runtime';
import { FakeRuntime } from '../testing/fake-runtime';
import { cpuCores, UsageSampler, type UsageSamplerDeps } from './usage-sampler';

const log = pino({ level: 'silent' });

function spec(service: string, release: number, index = 0, project = 'app'): ContainerSpec {
  return { project, service, release, index, image: 'web:1', port: 8080, env: {} };
}

function usage(
  cpuNs: number,
  systemNs: number,
  memoryBytes = 1000,
  onlineCpus = 4,
): ContainerUsage {
  return { cpuNs, systemNs, onlineCpus, memoryBytes };
}

function sampler(runtime: FakeRuntime, over: Partial<UsageSamplerDeps> = {}) {
  let t = 1_000;
  const clock = { set: (v: number) => (t = v) };
  const s = new UsageSampler({
    project: 'app',
    runtime,
    log,
    intervalMs: 60_000,
    now: () => t,
    ...over,
  });
  return { s, clock };
}

describe('cpuCores', () => {
  it('is the share of host CPU time used, times the online CPUs', () => {
    // 1 s of container CPU over 4 s of host time (4 cores for 1 s): one full core.
    expect(cpuCores(usage(0, 0), usage(1e9, 4e9))).toBeCloseTo(1);
    expect(cpuCores(usage(1e9, 4e9), usage(1.5e9, 8e9))).toBeCloseTo(0.5);
    expect(cpuCores(usage(0, 0, 1, 8), usage(4e9, 8e9, 1, 8))).toBeCloseTo(4);
  });

  it('is 0 when a counter did not move or went back (a restarted container)', () => {
    expect(cpuCores(usage(1e9, 4e9), usage(1e9, 8e9))).toBe(0);
    expect(cpuCores(usage(1e9, 4e9), usage(2e9, 4e9))).toBe(0);
    expect(cpuCores(usage(5e9, 4e9), usage(1e9, 8e9))).toBe(0);
  });
});

describe('UsageSampler', () => {
  let rt: FakeRuntime;
  beforeEach(() => {
    rt = new FakeRuntime().addImage('web:1');
  });

  it('stop() waits for a round in flight, which reads nothing more (the store may be closing)', async () => {
    for (let i = 0; i < 12; i++) rt.setUsage((await rt.start(spec('web', 1, i))).id, usage(0, 0));
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const usageOf = rt.usage.bind(rt);
    rt.usage = async (id: string) => {
      calls++;
      await gate;
      return usageOf(id);
    };
    let closed = false;
    const cpuLimit = () => {
      if (closed) throw new Error('The database connection is not open');
      return 1;
    };
    const { s } = sampler(rt, { cpuLimit });
    const round = s.sampleNow();
    await new Promise((r) => setImmediate(r));
    const inFlight = calls;
    expect(inFlight).toBeGreaterThan(0);
    expect(inFlight).toBeLessThan(12);
    let stopped = false;
    const stopping = s.stop().then(() => (stopped = true));
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    closed = true;
    release();
    await stopping;
    await round;
    expect(calls).toBe(inFlight);
    expect(s.current()).toEqual([]);
  });

  it('reports memory from the first round, CPU only from the second', async () => {
    const a = await rt.start(spec('web', 1));
    const b = await rt.start(spec('web', 1, 1));
    rt.setUsage(a.id, usage(0, 0, 100 << 20));
    rt.setUsage(b.id, usage(0, 0, 50 << 20));
    const { s, clock } = sampler(rt);

    await s.sampleNow();
    expect(s.current()).toEqual([
      {
        id: a.id,
        name: a.name,
        service: 'web',
        release: 1,
        cpuRatio: null,
        memoryBytes: 100 << 20,
        at: 1000,
      },
      {
        id: b.id,
        name: b.name,
        service: 'web',
        release: 1,
        cpuRatio: null,
        memoryBytes: 50 << 20,
        at: 1000,
      },
    ]);

    rt.setUsage(a.id, usage(2e9, 8e9, 120 << 20)); // 1 core of 4
    rt.setUsage(b.id, usage(1e9, 8e9, 60 << 20)); // half a core
    clock.set(6000);
    await s.sampleNow();
    const byId = new Map(s.current().map((c) => [c.id, c]));
    expect(byId.get(a.id)).toMatchObject({ cpuRatio: 1, memoryBytes: 120 << 20, at: 6000 });
    expect(byId.get(b.id)?.cpuRatio).toBeCloseTo(0.5);

    // The ratio is always between the last two readings, not since the first.
    rt.setUsage(a.id, usage(2.5e9, 16e9, 120 << 20)); // 0.5 s over 8 s of 4 cores: 0.25 core
    await s.sampleNow();
    expect(s.current().find((c) => c.id === a.id)?.cpuRatio).toBeCloseTo(0.25);
  });

  it('divides the cores used by the release CPU limit', async () => {
    const web = await rt.start(spec('web', 1));
    const api = await rt.start(spec('api', 3));
    const zero = await rt.start(spec('worker', 1));
    for (const c of [web, api, zero]) rt.setUsage(c.id, usage(0, 0));
    const asked: string[] = [];
    const { s } = sampler(rt, {
      cpuLimit: (service, release) => {
        asked.push(`${service}/${release}`);
        if (service === 'web') return 0.5;
        if (service === 'worker') return 0; // no usable limit: counts as 1 core
        return undefined;
      },
    });
    await s.sampleNow();
    for (const c of [web, api, zero]) rt.setUsage(c.id, usage(1e9, 8e9)); // half a core each
    await s.sampleNow();
    const ratio = (id: string) => s.current().find((c) => c.id === id)?.cpuRatio;
    expect(ratio(web.id)).toBeCloseTo(1); // half a core of a 0.5-core limit
    expect(ratio(api.id)).toBeCloseTo(0.5);
    expect(ratio(zero.id)).toBeCloseTo(0.5);
    expect(asked).toContain('api/3');
  });

  it('samples only running containers of its project', async () => {
    const mine = await rt.start(spec('web', 1));
    const stopped = await rt.start(spec('web', 1, 1));
    await rt.stop(stopped.id, 0);
    await rt.start(spec('web', 1, 0, 'other'));
    const { s } = sampler(rt);
    await s.sampleNow();
    expect(s.current().map((c) => c.id)).toEqual([mine.id]);
    expect(rt.callsOf('usage')).toEqual([[mine.id]]);
    expect(rt.callsOf('list')).toEqual([[{ project: 'app' }]]);
  });

  it('forgets containers that stopped; a new container starts without a CPU ratio', async () => {
    const a = await rt.start(spec('web', 1));
    const b = await rt.start(spec('web', 1, 1));
    const { s } = sampler(rt);
    await s.sampleNow();
    await s.sampleNow();
    expect(s.current().map((c) => c.id)).toEqual([a.id, b.id]);
    expect(s.current().every((c) => c.cpuRatio !== null)).toBe(true);

    rt.kill(b.id);
    await s.sampleNow();
    expect(s.current().map((c) => c.id)).toEqual([a.id]);

    const c = await rt.start(spec('web', 2));
    await s.sampleNow();
    expect(s.current().map((x) => [x.id, x.cpuRatio === null])).toEqual([
      [a.id, false],
      [c.id, true],
    ]);
  });

  it('drops a container whose usage is null (it stopped between list and stats)', async () => {
    const a = await rt.start(spec('web', 1));
    const b = await rt.start(spec('web', 1, 1));
    const { s } = sampler(rt);
    await s.sampleNow();
    const usageOf = rt.usage.bind(rt);
    jest.spyOn(rt, 'usage').mockImplementation(async (id) => (id === b.id ? null : usageOf(id)));
    await s.sampleNow();
    expect(s.current().map((c) => c.id)).toEqual([a.id]);
  });

  it('skips a container whose stats fail and keeps sampling the others', async () => {
    const a = await rt.start(spec('web', 1));
    const b = await rt.start(spec('web', 1, 1));
    const usageOf = rt.usage.bind(rt);
    jest.spyOn(rt, 'usage').mockImplementation(async (id) => {
      if (id === a.id) throw new Error('stats: connection reset');
      return usageOf(id);
    });
    const debug = jest.spyOn(log, 'debug');
    const { s } = sampler(rt);
    await s.sampleNow();
    expect(s.current().map((c) => c.id)).toEqual([b.id]);
    expect(debug).toHaveBeenCalledWith(
      { container: a.name, err: 'stats: connection reset' },
      'stats failed',
    );
    debug.mockRestore();
  });

  it('logs a listing failure, keeps the last samples and carries on', async () => {
    const a = await rt.start(spec('web', 1));
    const { s, clock } = sampler(rt);
    await s.sampleNow();
    const before = s.current();
    expect(before).toHaveLength(1);

    const warn = jest.spyOn(log, 'warn');
    rt.reachable = false;
    clock.set(2000);
    await expect(s.sampleNow()).resolves.toBeUndefined();
    expect(warn).toHaveBeenCalledWith(
      { err: expect.stringContaining('not reachable') },
      'container stats: listing failed',
    );
    expect(s.current()).toEqual(before);

    rt.reachable = true;
    rt.setUsage(a.id, usage(1e9, 4e9, 7));
    clock.set(3000);
    await s.sampleNow();
    expect(s.current()).toEqual([expect.objectContaining({ id: a.id, memoryBytes: 7, at: 3000 })]);
    warn.mockRestore();
  });

  it('concurrent sampleNow() calls share one round', async () => {
    await rt.start(spec('web', 1));
    const { s } = sampler(rt);
    const p1 = s.sampleNow();
    const p2 = s.sampleNow();
    expect(p2).toBe(p1);
    await Promise.all([p1, p2]);
    expect(rt.callsOf('list')).toHaveLength(1);
    expect(rt.callsOf('usage')).toHaveLength(1);
    // Once it finished, the next call takes a new round.
    await s.sampleNow();
    expect(rt.callsOf('list')).toHaveLength(2);
  });

  it('asks the engine for at most 8 readings at once, and reads every container', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await rt.start(spec('web', 1, i))).id);
    let inflight = 0;
    let most = 0;
    const usageOf = rt.usage.bind(rt);
    jest.spyOn(rt, 'usage').mockImplementation(async (id) => {
      inflight++;
      most = Math.max(most, inflight);
      await new Promise((r) => setTimeout(r, 2));
      inflight--;
      return usageOf(id);
    });
    const { s } = sampler(rt);
    await s.sampleNow();
    expect(most).toBe(8);
    expect(
      s
        .current()
        .map((c) => c.id)
        .sort(),
    ).toEqual([...ids].sort());
  });

  it('start() samples at once and then on its interval; stop() ends it', async () => {
    await rt.start(spec('web', 1));
    const { s } = sampler(rt, { intervalMs: 5 });
    s.start();
    s.start(); // no second timer: stop() below would leave it running
    expect(rt.callsOf('list')).toHaveLength(1);
    const deadline = Date.now() + 5000;
    while (rt.callsOf('list').length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    s.stop();
    await new Promise((r) => setImmediate(r));
    const rounds = rt.callsOf('list').length;
    expect(rounds).toBeGreaterThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 30));
    expect(rt.callsOf('list')).toHaveLength(rounds);
    s.stop(); // idempotent
  });

  it('stamps samples with Date.now() when no clock is given', async () => {
    await rt.start(spec('web', 1));
    const s = new UsageSampler({ project: 'app', runtime: rt, log, intervalMs: 1000 });
    const before = Date.now();
    await s.sampleNow();
    const at = s.current()[0].at;
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
  });
});
