import type { Clock } from '../ports/clock';
import type { RouteTargetInput } from '../ports/router';
import { ProxyRouter } from './router';

/** A clock whose sleep advances time instantly; `onSleep` lets a test act at a given time. */
function fakeClock(onSleep?: (now: number) => void): Clock & { t: number; sleeps: number[] } {
  const c = {
    t: 1_000_000,
    sleeps: [] as number[],
    now: () => c.t,
    sleep: async (ms: number) => {
      c.sleeps.push(ms);
      c.t += ms;
      onSleep?.(c.t);
    },
  };
  return c;
}

function tgt(id: string, n = 2): RouteTargetInput {
  return { id, name: `app-web-${id}`, host: `10.0.0.${n}`, port: 8080 };
}

describe('ProxyRouter', () => {
  it('setService swaps in a new table object and routes by host', () => {
    const r = new ProxyRouter(fakeClock());
    const before = r.table;
    r.setService('web', ['example.test'], [{ number: 1, weight: 100, targets: [tgt('a')] }]);
    const t1 = r.table;
    expect(t1).not.toBe(before);
    expect(before.lookup('example.test')).toBeNull(); // the old table is never mutated
    const route = t1.lookup('example.test');
    expect(route?.name).toBe('web');
    expect(route?.releases.get(1)?.targets.map((t) => t.id)).toEqual(['a']);

    r.setService('web', ['example.test'], [{ number: 2, weight: 100, targets: [tgt('b', 3)] }]);
    expect(r.table).not.toBe(t1);
    expect(
      t1
        .lookup('example.test')
        ?.releases.get(1)
        ?.targets.map((t) => t.id),
    ).toEqual(['a']);
    expect(r.table.lookup('example.test')?.releases.has(1)).toBe(false);
  });

  it('copies its inputs: later mutation of the caller arrays does not change routing', () => {
    const r = new ProxyRouter(fakeClock());
    const targets = [tgt('a')];
    const hosts = ['example.test'];
    r.setService('web', hosts, [{ number: 1, weight: 100, targets }]);
    targets.push(tgt('x', 9));
    hosts.push('other.test');
    r.removeService('nothing'); // forces a rebuild
    expect(
      r.table
        .lookup('example.test')
        ?.releases.get(1)
        ?.targets.map((t) => t.id),
    ).toEqual(['a']);
    expect(r.table.lookup('other.test')).toBeNull();
  });

  it('keeps a target object and its counters across setService', () => {
    const r = new ProxyRouter(fakeClock());
    r.setService('web', ['*'], [{ number: 1, weight: 100, targets: [tgt('a')] }]);
    const a = r.target('a')!;
    a.inflight = 4;
    a.healthy = false;
    r.setService(
      'web',
      ['*'],
      [
        { number: 1, weight: 90, targets: [tgt('a')] },
        { number: 2, weight: 10, targets: [tgt('b', 3)] },
      ],
    );
    expect(r.target('a')).toBe(a);
    expect(r.table.lookup('x')?.releases.get(1)?.targets[0]).toBe(a);
    expect(a.inflight).toBe(4);
    expect(a.healthy).toBe(false);
  });

  it('marks a target dropped from routing as draining, and un-drains it when routed again', () => {
    const r = new ProxyRouter(fakeClock());
    r.setService('web', ['*'], [{ number: 1, weight: 100, targets: [tgt('a'), tgt('b', 3)] }]);
    r.setService('web', ['*'], [{ number: 1, weight: 100, targets: [tgt('b', 3)] }]);
    expect(r.target('a')?.draining).toBe(true);
    expect(r.target('b')?.draining).toBe(false);
    expect(r.targets('web').find((t) => t.id === 'a')).toMatchObject({
      draining: true,
      release: 1,
      address: '10.0.0.2:8080',
    });
    r.setService('web', ['*'], [{ number: 1, weight: 100, targets: [tgt('a'), tgt('b', 3)] }]);
    expect(r.target('a')?.draining).toBe(false);
  });

  it('removeService drains all its targets and unroutes its hosts', () => {
    const r = new ProxyRouter(fakeClock());
    r.setService('web', ['example.test'], [{ number: 1, weight: 100, targets: [tgt('a')] }]);
    r.setService('api', ['api.test'], [{ number: 1, weight: 100, targets: [tgt('z', 9)] }]);
    r.removeService('web');
    expect(r.table.lookup('example.test')).toBeNull();
    expect(r.table.lookup('api.test')?.name).toBe('api');
    expect(r.target('a')?.draining).toBe(true);
    expect(r.target('z')?.draining).toBe(false);
    expect(r.weights('web')).toEqual({});
  });

  it('weights() reports each release weight of a service, {} for an unknown one', () => {
    const r = new ProxyRouter(fakeClock());
    r.setService(
      'web',
      ['*'],
      [
        { number: 3, weight: 95, targets: [tgt('a')] },
        { number: 4, weight: 5, targets: [tgt('b', 3)] },
      ],
    );
    expect(r.weights('web')).toEqual({ 3: 95, 4: 5 });
    expect(r.weights('nope')).toEqual({});
  });

  it('setHealth flips a known target and ignores unknown ids', () => {
    const r = new ProxyRouter(fakeClock());
    r.setService('web', ['*'], [{ number: 1, weight: 100, targets: [tgt('a')] }]);
    r.setHealth('a', false);
    expect(r.target('a')?.healthy).toBe(false);
    expect(r.target('a')?.available).toBe(false);
    expect(r.targets()[0].healthy).toBe(false);
    r.setHealth('a', true);
    expect(r.target('a')?.healthy).toBe(true);
    expect(() => r.setHealth('unknown', false)).not.toThrow();
  });

  it('targets(service) narrows to one service', () => {
    const r = new ProxyRouter(fakeClock());
    r.setService('web', ['w'], [{ number: 1, weight: 100, targets: [tgt('a')] }]);
    r.setService('api', ['a'], [{ number: 1, weight: 100, targets: [tgt('z', 9)] }]);
    expect(r.targets('api').map((t) => t.id)).toEqual(['z']);
    expect(
      r
        .targets()
        .map((t) => t.id)
        .sort(),
    ).toEqual(['a', 'z']);
  });

  describe('drain', () => {
    it('takes still-routed targets out of routing first, then resolves 0 at once when idle', async () => {
      const clock = fakeClock();
      const r = new ProxyRouter(clock);
      r.setService('web', ['*'], [{ number: 1, weight: 100, targets: [tgt('a'), tgt('b', 3)] }]);
      const left = await r.drain(['a'], 5000);
      expect(left).toBe(0);
      expect(clock.sleeps).toEqual([]);
      expect(r.target('a')?.draining).toBe(true);
      expect(
        r.table
          .lookup('x')
          ?.releases.get(1)
          ?.targets.map((t) => t.id),
      ).toEqual(['b']);
      // the input was changed too: a later unrelated rebuild does not route it again
      r.setService('api', ['api'], []);
      expect(r.target('a')?.draining).toBe(true);
    });

    it('resolves when in-flight reaches 0, well before the timeout', async () => {
      let router: ProxyRouter | null = null;
      const start = 1_000_000;
      const clock = fakeClock((now) => {
        if (now - start >= 200) router!.target('a')!.inflight = 0;
      });
      router = new ProxyRouter(clock);
      router.setService('web', ['*'], [{ number: 1, weight: 100, targets: [tgt('a')] }]);
      router.target('a')!.inflight = 2;
      const left = await router.drain(['a'], 10_000);
      expect(left).toBe(0);
      expect(clock.t - start).toBeGreaterThanOrEqual(200);
      expect(clock.t - start).toBeLessThan(300);
    });

    it('returns the remaining in-flight count once the timeout passes', async () => {
      const clock = fakeClock();
      const r = new ProxyRouter(clock);
      r.setService('web', ['*'], [{ number: 1, weight: 100, targets: [tgt('a'), tgt('b', 3)] }]);
      r.target('a')!.inflight = 2;
      r.target('b')!.inflight = 1;
      const t0 = clock.t;
      const left = await r.drain(['a', 'b'], 1000);
      expect(left).toBe(3);
      expect(clock.t - t0).toBe(1000);
      expect(clock.sleeps.every((ms) => ms >= 1 && ms <= 50)).toBe(true);
    });

    it('ignores unknown ids', async () => {
      const r = new ProxyRouter(fakeClock());
      await expect(r.drain(['ghost'], 1000)).resolves.toBe(0);
    });
  });

  it('forget only removes draining targets', async () => {
    const r = new ProxyRouter(fakeClock());
    r.setService('web', ['*'], [{ number: 1, weight: 100, targets: [tgt('a'), tgt('b', 3)] }]);
    r.forget(['a', 'b']);
    expect(r.target('a')).toBeDefined();
    expect(r.target('b')).toBeDefined();
    await r.drain(['a'], 0);
    r.forget(['a', 'b', 'ghost']);
    expect(r.target('a')).toBeUndefined();
    expect(r.target('b')).toBeDefined();
    expect(r.targets().map((t) => t.id)).toEqual(['b']);
  });
});

describe('ProxyRouter.requests', () => {
  it('sums every release of one service and its unrouted answers, not a service with a longer name', () => {
    const r = new ProxyRouter();
    r.setService(
      'web',
      ['*'],
      [
        { number: 1, weight: 50, targets: [tgt('a', 1)] },
        { number: 2, weight: 50, targets: [tgt('b', 2)] },
      ],
    );
    r.setService('web2', ['web2.test'], [{ number: 1, weight: 100, targets: [tgt('c', 3)] }]);
    r.target('a')!.stats.record(200, 1);
    r.target('b')!.stats.record(500, 1);
    r.target('b')!.stats.record(200, 1);
    r.unrouted('web').record(503, 0);
    r.target('c')!.stats.record(200, 1);
    expect(r.requests('web')).toBe(4);
    expect(r.requests('web2')).toBe(1);
    expect(r.requests('nope')).toBe(0);
  });
});
