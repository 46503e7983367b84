// Rolling, canary (steps, manual promote, sticky users, acceptance, analysis) and abort,
// on the real Docker engine under concurrent keep-alive load through the proxy.
import http from 'node:http';
import { TestProject, containerIds } from './support/harness';
import { startLoadProcess, type LoadStats } from '../scripts/lib/load.js';

jest.setTimeout(180_000);

const LOAD = { clients: 30, slowClients: 5, slowPath: '/slow?1' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const running = new Set<ReturnType<typeof startLoadProcess>>();
async function startLoad() {
  const load = startLoadProcess({ port: t.port, ...LOAD });
  running.add(load);
  await load.ready;
  const stop = load.stop.bind(load);
  load.stop = () => {
    running.delete(load);
    return stop();
  };
  return load;
}

// A test that fails before stopping its load must not leave the clients running.
afterEach(async () => {
  for (const load of [...running]) await load.stop().catch(() => undefined);
});

/** Requests and failures per release, printed by every test. */
function perRelease(label: string, s: LoadStats): Record<string, { ok: number; failed: number }> {
  const by: Record<string, { ok: number; failed: number }> = {};
  for (const x of s.samples) {
    const k = `r${x.release}${x.version ? ` (${x.version})` : ''}`;
    by[k] ??= { ok: 0, failed: 0 };
    if (x.status === 200) by[k].ok++;
    else by[k].failed++;
  }
  console.log(
    `${label}: ${s.ok} ok, ${s.failed} failed; per release ${JSON.stringify(by)}${s.failures.length ? `\n  ${s.failures.slice(0, 5).join('\n  ')}` : ''}`,
  );
  return by;
}

function config(deploy: string, replicas = 2, on = t, image = 'demo-web:v1'): string {
  return `project: ${on.project}
proxy:
  listen: 127.0.0.1:${on.port}
services:
  web:
    image: ${image}
    port: 8080
    replicas: ${replicas}
    healthcheck: { path: /healthz, interval: 500ms, timeout: 1s }
    deploy:
      strategy: blue-green
      deployTimeout: 20s
      drainTimeout: 10s
      keepPrevious: 10m
${deploy}
`;
}

interface Reply {
  status: number;
  release: number;
  version: string | null;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
function get(headers: Record<string, string> = {}, on = t): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: on.port, path: '/', headers, agent }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            release: Number(res.headers['x-shipit-release']),
            version: /version=(\S+)/.exec(body)?.[1] ?? null,
          }),
        );
      })
      .on('error', reject);
  });
}

/** Runs fn over items with bounded concurrency. */
async function pool<T, R>(items: T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

async function liveRelease(on = t): Promise<{ number: number; image: string }> {
  const s = await on.status();
  const live = s.services[0].releases.find((r) => r.status === 'live');
  if (!live) throw new Error('no live release');
  return live;
}

const t = new TestProject();

beforeAll(async () => {
  await t.init();
  t.writeConfig(config(''));
  await t.up();
});
afterAll(async () => {
  agent.destroy();
  await t.cleanup();
});

describe('rolling', () => {
  it('replaces 3 containers in batches (maxSurge 1) under load with 0 failed requests', async () => {
    t.writeConfig(config('      rolling: { maxSurge: 1, maxUnavailable: 0 }', 3));
    const before = await liveRelease();
    const load = await startLoad();
    await sleep(800);
    const r = await t.cli(['deploy', '--strategy', 'rolling', '--image', 'demo-web:v2']);
    await sleep(1000);
    const s = await load.stop();
    const by = perRelease('rolling deploy', s);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('batch 3 of 3');
    expect(s.failed).toBe(0);
    expect(Object.keys(by).length).toBeGreaterThanOrEqual(2);
    const live = await liveRelease();
    expect(live.image).toBe('demo-web:v2');
    expect(containerIds(t.project, before.number, true)).toEqual([]);
    expect(containerIds(t.project, live.number)).toHaveLength(3);
  });
});

// Stickiness is counted over thousands of requests: on the node app (thousands a second)
// rather than the busybox one the other tests load (a shell per connection, ~150 a second,
// which made this test take 40 s). The proxy's choice of release does not depend on the app.
describe('canary stickiness', () => {
  const u = new TestProject();
  const IMAGE = 'node-web:v1';
  beforeAll(async () => {
    await u.init();
    u.writeConfig(config('', 2, u, IMAGE));
    await u.up();
  });
  afterAll(() => u.cleanup());

  it('dark launch at weight 0 reaches only acceptance users; at 5% 3–7% of 2,000 sticky users, who keep their release at 50%', async () => {
    u.writeConfig(
      config(
        `      canary:
        steps:
          - { weight: 0, pause: manual }
          - { weight: 5, pause: manual }
          - { weight: 50, pause: manual }
        analysis: { interval: 1s, minRequests: 1000000, maxErrorRate: 0.05 }`,
        2,
        u,
        IMAGE,
      ),
    );
    const stable = await liveRelease(u);
    const d = await u.cli([
      'deploy',
      '--strategy',
      'canary',
      '--image',
      IMAGE,
      '--env',
      'CANARY=1',
    ]);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/paused/);
    const canary = stable.number + 1;

    // Weight 0: nobody but acceptance users.
    const plain = await pool(
      Array.from({ length: 200 }, (_, i) => `dark-${i}`),
      10,
      (k) => get({ cookie: `shipit-id=${k}` }, u),
    );
    expect(plain.every((x) => x.status === 200 && x.release === stable.number)).toBe(true);
    const byHeader = await pool(Array.from({ length: 30 }), 10, () =>
      get({ 'x-shipit-track': 'next' }, u),
    );
    const byCookie = await pool(Array.from({ length: 30 }), 10, () =>
      get({ cookie: 'shipit-track=next' }, u),
    );
    expect([...byHeader, ...byCookie].every((x) => x.release === canary && x.status === 200)).toBe(
      true,
    );

    // 5%: the share of 2,000 distinct keys, each asked twice.
    expect((await u.cli(['promote'])).code).toBe(0);
    const keys = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
    const first = await pool(keys, 20, (k) => get({ cookie: `shipit-id=${k}` }, u));
    const again = await pool(keys, 20, (k) => get({ cookie: `shipit-id=${k}` }, u));
    expect(first.every((x, i) => x.release === again[i].release)).toBe(true);
    const onCanary = keys.filter((_, i) => first[i].release === canary);
    console.log(
      `canary at 5%: ${onCanary.length} of 2000 keys (${(onCanary.length / 20).toFixed(1)}%)`,
    );
    expect(onCanary.length).toBeGreaterThanOrEqual(60);
    expect(onCanary.length).toBeLessThanOrEqual(140);
    // Acceptance users still reach the canary.
    expect((await get({ 'x-shipit-track': 'next' }, u)).release).toBe(canary);

    // 50%: nobody moves from the canary back to stable.
    expect((await u.cli(['promote'])).code).toBe(0);
    const at50 = await pool(onCanary, 20, (k) => get({ cookie: `shipit-id=${k}` }, u));
    expect(at50.every((x) => x.release === canary)).toBe(true);
    const all50 = await pool(keys.slice(0, 1000), 20, (k) => get({ cookie: `shipit-id=${k}` }, u));
    const share = all50.filter((x) => x.release === canary).length / 10;
    console.log(`canary at 50%: ${share.toFixed(1)}% of 1000 keys`);
    expect(share).toBeGreaterThan(44);
    expect(share).toBeLessThan(56);

    const done = await u.cli(['promote']);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/is live/);
    expect((await liveRelease(u)).number).toBe(canary);
  });
});

describe('canary', () => {
  it('automatic steps then a manual promote, under load: 0 failed requests', async () => {
    t.writeConfig(
      config(`      canary:
        steps:
          - { weight: 20, pause: 1s }
          - { weight: 50, pause: manual }
        analysis: { interval: 500ms, minRequests: 20, maxErrorRate: 0.05 }`),
    );
    const load = await startLoad();
    await sleep(800);
    const d = await t.cli(['deploy', '--strategy', 'canary', '--image', 'demo-web:v2']);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/paused/);
    const st = (await t.status()).services[0];
    const inPlay = st.releases.filter((r) => r.status === 'live' || r.status === 'deploying');
    expect(inPlay.map((r) => r.weight)).toEqual([50, 50]);
    await sleep(1000);
    const p = await t.cli(['promote']);
    await sleep(800);
    const s = await load.stop();
    const by = perRelease('canary with promote', s);
    expect(p.code).toBe(0);
    expect(s.failed).toBe(0);
    expect(Object.keys(by).length).toBeGreaterThanOrEqual(2);
    expect((await liveRelease()).image).toBe('demo-web:v2');
  });

  it('abort under load returns all traffic to the stable release and removes the canary', async () => {
    const stable = await liveRelease();
    const load = await startLoad();
    await sleep(500);
    const d = await t.cli(['deploy', '--strategy', 'canary', '--image', 'demo-web:v1']);
    expect(d.code).toBe(0);
    await sleep(1500);
    const a = await t.cli(['abort']);
    const after = Date.now();
    await sleep(1000);
    const s = await load.stop();
    perRelease('canary then abort', s);
    expect(a.code).toBe(0);
    expect(s.failed).toBe(0);
    expect(
      s.samples.filter((x) => x.started > after).every((x) => x.release === stable.number),
    ).toBe(true);
    expect(containerIds(t.project, stable.number + 1, true)).toEqual([]);
    expect((await liveRelease()).number).toBe(stable.number);
  });

  it('analysis aborts a canary that answers 500 within two intervals; exit 1 names error_rate; stable never failed', async () => {
    t.writeConfig(
      config(`      canary:
        steps:
          - { weight: 30, pause: 30s }
        analysis: { interval: 1s, minRequests: 10, maxErrorRate: 0.05 }`),
    );
    const stable = await liveRelease();
    const load = await startLoad();
    await sleep(500);
    const d = await t.cli([
      'deploy',
      '--strategy',
      'canary',
      '--image',
      'demo-web:v1',
      '--env',
      'FAIL_PERCENT=40',
      '--json',
    ]);
    const s = await load.stop();
    perRelease('failing canary', s);
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/error_rate 0\.\d+ is above maxErrorRate 0\.05/);
    const events = d.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const paused = events.find((e) => e.type === 'step' && /pause/.test(e.message));
    const failedAt = events.find((e) => e.type === 'step-failed');
    console.log(`analysis verdict ${failedAt.at - paused.at}ms after the pause began`);
    expect(failedAt.at - paused.at).toBeLessThanOrEqual(2 * 1000 + 500);
    expect(s.samples.filter((x) => x.release === stable.number && x.status !== 200)).toEqual([]);
    // The only failures are the canary's own 500s: nothing failed in the proxy or on the way.
    const canary = Math.max(...s.samples.map((x) => x.release));
    expect(canary).toBeGreaterThan(stable.number);
    const canary500 = s.samples.filter((x) => x.release === canary && x.status === 500);
    expect(s.failed).toBe(canary500.length);
    expect((await liveRelease()).number).toBe(stable.number);
    expect(containerIds(t.project, canary, true)).toEqual([]);
  });
});
