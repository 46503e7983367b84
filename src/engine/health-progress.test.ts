// The executor reports health progress while it waits (for the CLI's live display),
// and the set-weights step carries its weights.
import pino from 'pino';
import type { Plan, ServiceSpec } from '../domain/types';
import type { Probe } from '../health/probe';
import { ProxyRouter } from '../proxy/router';
import { SqliteStore } from '../store/sqlite';
import { FakeRuntime } from '../testing/fake-runtime';
import { Executor, type Emit } from './executor';
import { RolloutGates } from './gates';
import { Routes } from './routes';

const spec: ServiceSpec = {
  name: 'web',
  image: 'app:1',
  port: 3000,
  hosts: ['web.test'],
  replicas: 2,
  env: {},
  healthcheck: {
    path: '/',
    intervalMs: 10,
    timeoutMs: 10,
    healthyThreshold: 2,
    unhealthyThreshold: 1,
  },
  deploy: {
    strategy: 'blue-green',
    deployTimeoutMs: 5000,
    drainTimeoutMs: 10,
    keepPreviousMs: 1000,
  },
};

function clock() {
  let t = 1_000_000;
  return { now: () => t, sleep: async (ms: number) => void (t += ms) };
}

it('emits r1: 0/2, 1/2, 2/2 healthy as containers pass, and the weights of set-weights', async () => {
  const runtime = new FakeRuntime({ images: ['app:1'] });
  const store = SqliteStore.openMemory();
  const router = new ProxyRouter(clock());
  // The second container needs a few more probes than the first.
  const probes = new Map<string, number>();
  const probe: Probe = async (ip) => {
    const n = (probes.get(ip) ?? 0) + 1;
    probes.set(ip, n);
    const ok = n >= (ip === [...probes.keys()][0] ? 2 : 5);
    return { ok, detail: ok ? 'ok' : 'refused' };
  };
  const executor = new Executor({
    project: 'app',
    runtime,
    router,
    routes: new Routes(router, { watch: () => {} }),
    store,
    probe,
    clock: clock(),
    log: pino({ level: 'silent' }),
    gates: new RolloutGates(),
  });
  store.insertRelease({
    service: 'web',
    number: 1,
    image: 'app:1',
    strategy: 'blue-green',
    spec,
    status: 'deploying',
    replicas: 2,
    startedAt: 1,
    finishedAt: null,
    result: null,
    reason: null,
    demotedAt: null,
  });
  const plan: Plan = {
    service: 'web',
    release: 1,
    strategy: 'blue-green',
    steps: [
      { kind: 'start', release: 1, count: 2, cause: 'new' },
      { kind: 'wait-healthy', release: 1, timeoutMs: 5000, cause: 'before traffic' },
      { kind: 'set-weights', weights: { 1: 100 }, cause: 'flip' },
    ],
    compensation: [],
  };
  const events: Parameters<Emit>[0][] = [];
  await executor.run(
    plan,
    () => spec,
    (e) => events.push(e),
  );
  const health = events.filter((e) => e.type === 'health');
  expect(health.map((e) => e.message)).toEqual([
    'r1: 0/2 healthy',
    'r1: 1/2 healthy',
    'r1: 2/2 healthy',
  ]);
  expect(health.map((e) => e.data)).toEqual([
    { healthy: 0, total: 2 },
    { healthy: 1, total: 2 },
    { healthy: 2, total: 2 },
  ]);
  const steps = events.filter((e) => e.type === 'step');
  expect(steps[2].data).toEqual({ cause: 'flip', kind: 'set-weights', weights: { 1: 100 } });
  expect(steps[1].data).toEqual({ cause: 'before traffic', kind: 'wait-healthy' });
});
