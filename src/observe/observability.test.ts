import pino from 'pino';
import type { DeployEvent } from '../domain/types';
import type { ContainerSpec, ContainerUsage } from '../ports/runtime';
import { ProxyRouter } from '../proxy/router';
import { SqliteStore } from '../store/sqlite';
import { FakeRuntime } from '../testing/fake-runtime';
import type { AlertRule, AlertStatus } from './alerts';
import {
  LIVE_WINDOW_MS,
  Observability,
  type LiveEvent,
  type StatsEvent,
  type ObservabilityDeps,
} from './observability';
import { WebhookNotifier } from './webhook';

const log = pino({ level: 'silent' });

function rule(over: Partial<AlertRule> = {}): AlertRule {
  return {
    name: 'web-errors',
    service: 'web',
    metric: 'error_rate',
    op: 'above',
    threshold: 0.05,
    forMs: 0,
    windowMs: 10_000,
    webhook: 'http://hooks.test/alerts',
    ...over,
  };
}

function spec(service: string, release: number, index = 0): ContainerSpec {
  return { project: 'app', service, release, index, image: 'web:1', port: 8080, env: {} };
}

function usage(cpuNs: number, systemNs: number, memoryBytes: number): ContainerUsage {
  return { cpuNs, systemNs, onlineCpus: 2, memoryBytes };
}

interface Delivery {
  url: string;
  body: Record<string, unknown>;
}

const stores: SqliteStore[] = [];
const observers: Observability[] = [];
afterEach(() => {
  observers.splice(0).forEach((o) => o.stop());
  stores.splice(0).forEach((s) => s.close());
});

/** An Observability over a real router, a fake runtime and an in-memory store, at time `t`. */
function setup(over: Partial<ObservabilityDeps> = {}) {
  const clock = { t: 0 };
  const router = new ProxyRouter();
  router.setService(
    'web',
    ['web.test'],
    [
      {
        number: 1,
        weight: 100,
        targets: [
          { id: 'a', name: 'app-web-r1-0', host: '10.0.0.2', port: 8080 },
          { id: 'b', name: 'app-web-r1-1', host: '10.0.0.3', port: 8080 },
        ],
      },
    ],
  );
  const runtime = new FakeRuntime().addImage('web:1');
  const store = SqliteStore.openMemory();
  stores.push(store);
  const deliveries: Delivery[] = [];
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    deliveries.push({
      url: String(url),
      body: JSON.parse(String(init?.body)) as Record<string, unknown>,
    });
    return new Response(null, { status: 204 });
  }) as typeof globalThis.fetch;
  const webhook = new WebhookNotifier({ log, fetch, baseDelayMs: 1 });
  const obs = new Observability({
    project: 'app',
    router,
    runtime,
    store,
    log,
    rules: [rule()],
    now: () => clock.t,
    webhook,
    ...over,
  });
  observers.push(obs);
  const events: LiveEvent[] = [];
  const unsubscribe = obs.subscribe((e) => events.push(e));
  const record = (id: string, n: number, status: number, ms = 3) => {
    const stats = router.target(id)?.stats;
    if (!stats) throw new Error(`no target ${id}`);
    for (let i = 0; i < n; i++) stats.record(status, ms);
  };
  /** Advances the clock to `at` and ticks. */
  const tickAt = (at: number) => {
    clock.t = at;
    obs.tick();
  };
  return {
    clock,
    router,
    runtime,
    store,
    webhook,
    deliveries,
    obs,
    events,
    unsubscribe,
    record,
    tickAt,
  };
}

interface LiveData {
  stats: StatsEvent;
  deploy: DeployEvent;
  alert: AlertStatus;
}

function ofType<T extends keyof LiveData>(events: LiveEvent[], type: T): LiveData[T][] {
  return events.filter((e) => e.type === type).map((e) => e.data as LiveData[T]);
}

describe('Observability', () => {
  it('fires an error-rate alert: store event, webhook payload and live events', async () => {
    const { store, webhook, deliveries, events, record, tickAt } = setup();
    tickAt(0);
    expect(store.listEvents('web')).toEqual([]);

    record('a', 10, 500);
    record('b', 10, 200);
    tickAt(1000);

    const message = 'alert web-errors firing: web error_rate 0.5 (above 0.05)';
    const payload = {
      project: 'app',
      alert: 'web-errors',
      service: 'web',
      status: 'firing',
      metric: 'error_rate',
      op: 'above',
      threshold: 0.05,
      value: 0.5,
      forMs: 0,
      windowMs: 10_000,
      startsAt: new Date(1000).toISOString(),
      endsAt: null,
      message,
    };
    expect(store.listEvents('web')).toEqual([
      { service: 'web', release: null, at: 1000, type: 'alert-firing', message, data: payload },
    ]);

    await webhook.idle();
    expect(deliveries).toEqual([{ url: 'http://hooks.test/alerts', body: payload }]);

    // The alert goes out before the stats of the same tick.
    expect(events.slice(-2).map((e) => e.type)).toEqual(['alert', 'stats']);
    expect(ofType(events, 'alert')).toEqual([
      {
        name: 'web-errors',
        service: 'web',
        metric: 'error_rate',
        op: 'above',
        threshold: 0.05,
        state: 'firing',
        value: 0.5,
        since: 1000,
      },
    ]);
    const stats = ofType(events, 'stats');
    expect(stats).toHaveLength(2); // one per tick
    expect(stats[1]).toEqual({
      at: 1000,
      services: [
        {
          name: 'web',
          releases: [
            {
              number: 1,
              weight: 100,
              rps: 20,
              errorRate: 0.5,
              p99Ms: 4,
              inflight: 0,
              healthy: 2,
              total: 2,
            },
          ],
        },
      ],
    });
  });

  it('resolves once only good answers remain in the window', async () => {
    const { store, webhook, deliveries, events, obs, record, tickAt } = setup();
    tickAt(0);
    record('a', 10, 500);
    record('a', 10, 200);
    tickAt(1000);
    expect(obs.alerts.statuses()[0].state).toBe('firing');

    // The 10 errors stay in the 10 s window until the baseline passes them.
    for (let t = 2000; t <= 10_000; t += 1000) {
      record('b', 10, 200);
      tickAt(t);
      expect(obs.alerts.statuses()[0].state).toBe('firing');
    }
    expect(obs.valueOf(rule())).toBeCloseTo(10 / 110);
    record('b', 10, 200);
    tickAt(11_000);
    expect(obs.alerts.statuses()[0]).toMatchObject({ state: 'ok', value: 0, since: 11_000 });

    const resolvedMessage = 'alert web-errors resolved: web error_rate 0 (above 0.05)';
    expect(store.listEvents('web').map((e) => [e.type, e.at, e.message])).toEqual([
      ['alert-firing', 1000, 'alert web-errors firing: web error_rate 0.5 (above 0.05)'],
      ['alert-resolved', 11_000, resolvedMessage],
    ]);
    await webhook.idle();
    expect(deliveries.map((d) => d.body.status)).toEqual(['firing', 'resolved']);
    expect(deliveries[1].body).toMatchObject({
      status: 'resolved',
      value: 0,
      startsAt: new Date(1000).toISOString(),
      endsAt: new Date(11_000).toISOString(),
      message: resolvedMessage,
    });
    expect(ofType(events, 'alert').map((a) => a.state)).toEqual(['firing', 'ok']);
  });

  it("counts the proxy's own 503s (no release picked) in a service's error rate", () => {
    const { router, store, tickAt } = setup();
    tickAt(0);
    for (let i = 0; i < 5; i++) router.unrouted('web').record(503, 0);
    router.target('a')?.stats.record(200, 1);
    tickAt(1000);
    expect(store.listEvents('web').map((e) => e.type)).toEqual(['alert-firing']);
  });

  it('keeps enough history for the longest alert window', () => {
    const { obs, record, tickAt } = setup({
      rules: [rule({ windowMs: 120_000 })],
    });
    tickAt(0);
    record('a', 10, 500);
    record('a', 10, 200);
    tickAt(1000);
    for (let t = 11_000; t <= 111_000; t += 10_000) {
      record('a', 10, 200);
      tickAt(t);
    }
    // 10 errors in 130 requests over the last 120 s: still above 5%.
    expect(obs.alerts.statuses()[0].state).toBe('firing');
    expect(obs.valueOf(rule({ windowMs: 120_000 }))).toBeCloseTo(10 / 130);
    record('a', 10, 200);
    tickAt(121_000);
    expect(obs.alerts.statuses()[0].state).toBe('ok');
  });

  it('does not record or notify an alert that is only pending', async () => {
    const { store, webhook, deliveries, events, obs, record, tickAt } = setup({
      rules: [rule({ forMs: 5000 })],
    });
    tickAt(0);
    record('a', 10, 500);
    tickAt(1000);
    expect(obs.alerts.statuses()[0].state).toBe('pending');
    record('a', 100, 200);
    tickAt(12_000);
    expect(obs.alerts.statuses()[0].state).toBe('ok');
    await webhook.idle();
    expect(store.listEvents()).toEqual([]);
    expect(deliveries).toEqual([]);
    expect(ofType(events, 'alert')).toEqual([]);
  });

  it('rps and p99 rules read the whole service over their window', () => {
    const { obs, router, record, tickAt } = setup();
    tickAt(0);
    record('a', 30, 200, 3);
    record('b', 10, 200, 100);
    router.unrouted('web').record(503, 0.5);
    tickAt(2000);
    expect(obs.valueOf(rule({ metric: 'rps', windowMs: 10_000 }))).toBeCloseTo(41 / 2);
    expect(obs.valueOf(rule({ metric: 'p99', windowMs: 10_000 }))).toBe(128);
    expect(obs.valueOf(rule({ metric: 'rps', service: 'nothing' }))).toBe(0);
  });

  it('valueOf: cpu is the mean over the service containers, memory the max', async () => {
    const { obs, runtime } = setup({
      cpuLimit: (service, release) => (service === 'web' && release === 2 ? 0.5 : undefined),
    });
    const memRule = rule({ metric: 'memory' });
    const cpuRule = rule({ metric: 'cpu' });
    // Nothing sampled yet: nothing to measure.
    expect(obs.valueOf(memRule)).toBeNull();
    expect(obs.valueOf(cpuRule)).toBeNull();

    const a = await runtime.start(spec('web', 1));
    const b = await runtime.start(spec('web', 2));
    const other = await runtime.start(spec('api', 1));
    runtime.setUsage(a.id, usage(0, 0, 100));
    runtime.setUsage(b.id, usage(0, 0, 300));
    runtime.setUsage(other.id, usage(0, 0, 9999));
    await obs.usage.sampleNow();
    expect(obs.valueOf(memRule)).toBe(300);
    expect(obs.valueOf(cpuRule)).toBeNull(); // CPU needs two readings

    // Over 2 cores: a used 0.5 core (ratio 0.5), b 0.5 core of a 0.5 limit (ratio 1).
    runtime.setUsage(a.id, usage(1e9, 4e9, 150));
    runtime.setUsage(b.id, usage(1e9, 4e9, 200));
    runtime.setUsage(other.id, usage(4e9, 4e9, 9999));
    await obs.usage.sampleNow();
    expect(obs.valueOf(cpuRule)).toBeCloseTo(0.75);
    expect(obs.valueOf(memRule)).toBe(200);
    expect(
      obs
        .containers()
        .map((c) => c.id)
        .sort(),
    ).toEqual([a.id, b.id, other.id].sort());

    // Per release: r1 alone, r2 alone (its 0.5-core limit applied), nothing for r3.
    expect(obs.cpuOf('web', 1)).toBeCloseTo(0.5);
    expect(obs.cpuOf('web', 2)).toBeCloseTo(1);
    expect(obs.cpuOf('web', 3)).toBeNull();

    runtime.kill(a.id);
    runtime.kill(b.id);
    await obs.usage.sampleNow();
    expect(obs.cpuOf('web', 1)).toBeNull();
    expect(obs.valueOf(memRule)).toBeNull();
    expect(obs.valueOf(cpuRule)).toBeNull();
  });

  it('a memory rule fires from sampled usage, and resolves when the containers are gone', async () => {
    const { obs, runtime, store, tickAt } = setup({
      rules: [rule({ name: 'web-mem', metric: 'memory', threshold: 1000 })],
    });
    const a = await runtime.start(spec('web', 1));
    runtime.setUsage(a.id, usage(0, 0, 5000));
    await obs.usage.sampleNow();
    tickAt(1000);
    runtime.kill(a.id);
    await obs.usage.sampleNow();
    tickAt(2000);
    expect(store.listEvents('web').map((e) => [e.type, e.message])).toEqual([
      ['alert-firing', 'alert web-mem firing: web memory 5000 (above 1000)'],
      ['alert-resolved', 'alert web-mem resolved: web memory n/a (above 1000)'],
    ]);
  });

  it('live(): per-release weight, health, drain and in-flight', () => {
    const { obs, router, record, tickAt } = setup({ rules: [] });
    tickAt(0);
    record('a', 8, 200);
    record('b', 2, 502);
    router.setHealth('b', false);
    router.target('a')!.inflight = 3;
    tickAt(1000);
    expect(obs.live().services[0].releases).toEqual([
      {
        number: 1,
        weight: 100,
        rps: 10,
        errorRate: 0.2,
        p99Ms: 4,
        inflight: 3,
        healthy: 1,
        total: 2,
      },
    ]);

    // Release 2 takes over; release 1 drains: it stays listed with weight 0 and no routed target.
    router.setService(
      'web',
      ['web.test'],
      [{ number: 2, weight: 100, targets: [{ id: 'c', name: 'c', host: '10.0.0.4', port: 80 }] }],
    );
    record('c', 3, 200, 100_000); // past the last latency bucket
    tickAt(2000);
    const live = obs.live();
    expect(live.at).toBe(2000);
    expect(live.services[0].releases).toEqual([
      expect.objectContaining({ number: 1, weight: 0, inflight: 3, healthy: 0, total: 0 }),
      expect.objectContaining({ number: 2, weight: 100, rps: 3, p99Ms: -1, healthy: 1, total: 1 }),
    ]);
  });

  it('live() rates use the live window and are rounded', () => {
    const { obs, record, tickAt } = setup({ rules: [] });
    tickAt(0);
    record('a', 1, 500);
    record('a', 2, 200);
    tickAt(3000);
    record('a', 7, 200);
    tickAt(3000 + LIVE_WINDOW_MS);
    // Over the live window: 7 requests in 5 s; the first tick is out of it.
    expect(obs.live().services[0].releases[0]).toMatchObject({ rps: 1.4, errorRate: 0 });
    // Once a later reading is the baseline, those requests are out of the window.
    for (let t = 9000; t <= 8000 + LIVE_WINDOW_MS; t += 1000) tickAt(t);
    expect(obs.live().services[0].releases[0]).toMatchObject({ rps: 0, errorRate: 0 });

    const { obs: o2, record: r2, tickAt: t2 } = setup({ rules: [] });
    t2(0);
    r2('a', 1, 500);
    r2('a', 2, 200);
    t2(3000);
    expect(o2.live().services[0].releases[0]).toMatchObject({ rps: 1, errorRate: 0.3333 });
  });

  it('forwards deploy events to subscribers until they unsubscribe', () => {
    const { obs, events, unsubscribe } = setup();
    const e: DeployEvent = {
      service: 'web',
      release: 2,
      at: 5,
      type: 'step',
      message: 'canary step 1 of 3',
      data: { weight: 10 },
    };
    obs.event(e);
    expect(events).toEqual([{ type: 'deploy', data: e }]);
    unsubscribe();
    obs.event(e);
    obs.tick();
    expect(events).toHaveLength(1);
  });

  it('a failing subscriber does not stop the others', () => {
    const { obs, events } = setup();
    const warn = jest.spyOn(log, 'warn');
    obs.subscribe(() => {
      throw new Error('socket closed');
    });
    const later: LiveEvent[] = [];
    obs.subscribe((e) => later.push(e));
    obs.event({ service: 'web', release: 1, at: 0, type: 'live', message: 'r1 live' });
    expect(events).toHaveLength(1);
    expect(later).toHaveLength(1);
    expect(warn).toHaveBeenCalledWith({ err: 'socket closed' }, 'live subscriber failed');
    warn.mockRestore();
  });

  it('publishes no stats without subscribers', () => {
    const { obs, router, unsubscribe } = setup();
    unsubscribe();
    const live = jest.spyOn(obs, 'live');
    obs.tick();
    expect(live).not.toHaveBeenCalled();
    expect(router.counters().length).toBeGreaterThan(0);
  });

  it('finished() feeds the deploy metrics, in seconds', async () => {
    const { obs } = setup();
    obs.finished('web', 'canary', 'succeeded', 12_500);
    const text = await obs.metrics.text();
    expect(text).toContain(
      'shipit_deploys_total{service="web",strategy="canary",result="succeeded"} 1',
    );
    expect(text).toContain(
      'shipit_deploy_duration_seconds_sum{service="web",strategy="canary"} 12.5',
    );
  });

  it('exports router counters, container samples and alert states', async () => {
    const { obs, runtime, record, tickAt } = setup();
    const a = await runtime.start(spec('web', 1));
    runtime.setUsage(a.id, usage(0, 0, 4242));
    await obs.usage.sampleNow();
    tickAt(0);
    record('a', 4, 500);
    tickAt(1000);
    const text = await obs.metrics.text();
    expect(text).toContain('shipit_http_requests_total{service="web",release="1",code="500"} 4');
    expect(text).toContain('shipit_release_weight{service="web",release="1"} 100');
    expect(text).toContain(
      `shipit_container_memory_bytes{service="web",release="1",container="${a.name}"} 4242`,
    );
    expect(text).toContain('shipit_replicas{service="web",release="1"} 1');
    expect(text).toContain('shipit_alerts_firing{alert="web-errors"} 1');
  });

  it('still sends the webhook when the store cannot record the alert', async () => {
    const { store, webhook, deliveries, record, tickAt } = setup();
    const warn = jest.spyOn(log, 'warn');
    tickAt(0);
    store.close();
    record('a', 5, 500);
    tickAt(1000);
    await webhook.idle();
    expect(deliveries.map((d) => d.body.status)).toEqual(['firing']);
    expect(warn).toHaveBeenCalledWith({ err: expect.any(String) }, 'alert event not recorded');
    warn.mockRestore();
  });

  it('start() ticks at once and then on its interval; stop() ends everything', async () => {
    const { obs, router, runtime, webhook, deliveries, events } = setup({
      tickMs: 5,
      usageIntervalMs: 5,
    });
    const counters = jest.spyOn(router, 'counters');
    obs.start();
    obs.start(); // no second timer: stop() below would leave it running
    expect(counters).toHaveBeenCalledTimes(1);
    expect(runtime.callsOf('list')).toHaveLength(1); // the usage sampler started too
    const deadline = Date.now() + 5000;
    while (counters.mock.calls.length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(ofType(events, 'stats').length).toBeGreaterThanOrEqual(3);

    obs.stop();
    await new Promise((r) => setImmediate(r));
    const ticks = counters.mock.calls.length;
    const lists = runtime.callsOf('list').length;
    const seen = events.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(counters).toHaveBeenCalledTimes(ticks);
    expect(runtime.callsOf('list')).toHaveLength(lists);

    // Subscribers were let go and the webhook notifier stopped.
    obs.event({ service: 'web', release: 1, at: 0, type: 'x', message: 'x' });
    expect(events).toHaveLength(seen);
    webhook.send('http://hooks.test/alerts', { after: 'stop' });
    await webhook.idle();
    expect(deliveries).toEqual([]);
    obs.stop(); // idempotent
  });

  it('builds its own webhook notifier when none is given', () => {
    const { obs } = setup({ webhook: undefined, rules: [] });
    expect(() => obs.tick()).not.toThrow();
  });
});
