// Scaling against the real engine: `shipit scale` under load, the autoscaler
// (a load ramp, noise, scale-down delay), schedule windows with an injected
// clock, and scale-to-zero with a cold start held by the proxy.
import http from 'node:http';
import path from 'node:path';
import pino from 'pino';
import { Daemon } from '../src/daemon';
import { loadConfig } from '../src/config/load';
import type { Clock } from '../src/ports/clock';
import { startLoadProcess } from '../scripts/lib/load.js';
import { TestProject, containerIds } from './support/harness';

jest.setTimeout(180_000);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function startLoad(o: Parameters<typeof startLoadProcess>[0]) {
  const load = startLoadProcess(o);
  await load.ready;
  return load;
}

function report(label: string, s: { ok: number; failed: number; failures: string[] }) {
  console.log(
    `${label}: ${s.ok} ok, ${s.failed} failed${s.failures.length ? `\n  ${s.failures.slice(0, 10).join('\n  ')}` : ''}`,
  );
}

function get(port: number, p = '/'): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0 }),
        );
      })
      .on('error', reject);
  });
}

async function until(what: string, ms: number, f: () => boolean | Promise<boolean>) {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
    await sleep(100);
  }
}

async function startDaemon(t: TestProject, opts: Parameters<typeof Daemon.start>[1] = {}) {
  const d = await Daemon.start(loadConfig({ path: path.join(t.dir, 'shipit.yml') }), {
    log: pino({ level: process.env.SHIPIT_TEST_LOG ?? 'silent' }),
    ...opts,
  });
  await d.deployMissing();
  return d;
}

describe('shipit scale under load', () => {
  const t = new TestProject();

  beforeAll(async () => {
    await t.init({ replicas: 2 });
    await t.up();
  });
  afterAll(() => t.cleanup());

  it('scales 2 -> 4 -> 1 with 0 failed requests, confirmed through Docker', async () => {
    const load = await startLoad({
      port: t.port,
      clients: 30,
      slowClients: 5,
      slowPath: '/slow?1',
    });
    await sleep(500);
    const up = await t.cli(['scale', 'web', '4']);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/web r1: 2 -> 4 container\(s\)/);
    expect(containerIds(t.project, 1)).toHaveLength(4);
    const routed = (await t.status()).services[0].targets.filter((x) => !x.draining);
    expect(routed).toHaveLength(4);
    await sleep(1000);
    const down = await t.cli(['scale', 'web', '1']);
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/2 -> 1|4 -> 1/);
    expect(containerIds(t.project, 1)).toHaveLength(1);
    await sleep(500);
    const s = await load.stop();
    report('scale 2 -> 4 -> 1 under load', s);
    expect(s.ok).toBeGreaterThan(200);
    expect(s.failed).toBe(0);
    // Recorded: the daemon's status and history know the new count.
    const st = await t.cli(['status', '--json']);
    expect(JSON.parse(st.stdout).services[0].releases[0].replicas).toBe(1);
  });

  it('refuses a bad count with exit 2, and changes nothing', async () => {
    const r = await t.cli(['scale', 'web', 'lots']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/replicas must be a whole number from 0 to 1000, got "lots"/);
    const n = await t.cli(['scale', 'nope', '2']);
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/nope has no live release to scale/);
    expect(containerIds(t.project, 1)).toHaveLength(1);
  });
});

describe('autoscaler: load ramp, noise and scale-down delay', () => {
  const t = new TestProject();
  let daemon: Daemon;

  beforeAll(async () => {
    await t.init({
      replicas: 1,
      serviceYaml: `    autoscale:
      min: 1
      max: 4
      target: { inflightPerReplica: 2 }
      scaleDownDelay: 3s
`,
    });
    daemon = await startDaemon(t, { tickMs: 500 });
  });
  afterAll(async () => {
    await daemon?.shutdown(true);
    await t.cleanup();
  });

  it('raises replicas to max under a ramp, holds them, and returns to min after scaleDownDelay', async () => {
    expect(containerIds(t.project, 1)).toHaveLength(1);
    const timeline: { at: number; n: number }[] = [];
    const t0 = Date.now();
    const watch = setInterval(() => {
      const n = containerIds(t.project, 1).length;
      if (timeline.at(-1)?.n !== n) timeline.push({ at: Date.now() - t0, n });
    }, 200);
    try {
      const load = await startLoad({ port: t.port, clients: 16, path: '/slow?1' });
      await until('4 replicas', 20_000, () => containerIds(t.project, 1).length === 4);
      const reachedMax = Date.now() - t0;
      // The decision and its inputs are recorded with the scale it caused.
      const scales = daemon.store.listEvents('web').filter((e) => e.type === 'scale');
      expect(scales.at(-1)?.message).toMatch(
        /to 4 \(autoscaler: up: [\d.]+ in flight, target 2 per replica\)/,
      );
      const s = await load.stop();
      report('autoscale ramp', s);
      expect(s.failed).toBe(0);
      const stopped = Date.now();
      await sleep(2000);
      // still held: lower load for less than scaleDownDelay
      expect(containerIds(t.project, 1)).toHaveLength(4);
      await until('back to 1 replica', 15_000, () => containerIds(t.project, 1).length === 1);
      const backAfter = Date.now() - stopped;
      console.log(
        `autoscale: 1 -> 4 replicas ${reachedMax}ms after the ramp began; back to 1 ${backAfter}ms after it stopped (scaleDownDelay 3s); timeline ${JSON.stringify(timeline)}`,
      );
      expect(backAfter).toBeGreaterThanOrEqual(3000);
    } finally {
      clearInterval(watch);
    }
  });

  it('does not oscillate under a noisy load around the target', async () => {
    // 3 clients on /slow?0.4 with pauses: in flight wanders around 1-3, i.e. 1-2 replicas.
    const load = await startLoad({ port: t.port, clients: 3, path: '/slow?0.4' });
    const counts: number[] = [];
    for (let i = 0; i < 40; i++) {
      const n = containerIds(t.project, 1).length;
      if (counts.at(-1) !== n) counts.push(n);
      await sleep(250);
    }
    const s = await load.stop();
    report('autoscale noise', s);
    expect(s.failed).toBe(0);
    console.log(`autoscale under noise: replica counts seen ${JSON.stringify(counts)}`);
    // At most one move (up to what the noise peaks need), never back and forth.
    expect(counts.length).toBeLessThanOrEqual(2);
    if (counts.length === 2) expect(counts[1]).toBeGreaterThan(counts[0]);
  });
});

describe('schedule windows (injected clock)', () => {
  const t = new TestProject();
  let daemon: Daemon;
  let now = new Date(2026, 10, 27, 6, 59, 0).getTime();
  const clock: Clock = { now: () => now, sleep };

  beforeAll(async () => {
    await t.init({
      replicas: 1,
      serviceYaml: `    autoscale:
      min: 1
      max: 5
      scaleDownDelay: 10s
      schedule:
        - { from: "07:00", to: "19:00", min: 3 }
`,
    });
    daemon = await startDaemon(t, { autoscaleClock: clock, tickMs: 60_000 });
  });
  afterAll(async () => {
    await daemon?.shutdown(true);
    await t.cleanup();
  });

  it('raises the floor at the window start and releases it at its end', async () => {
    daemon.autoscaler.tick();
    await daemon.autoscaler.idle();
    expect(containerIds(t.project, 1)).toHaveLength(1);
    now = new Date(2026, 10, 27, 7, 0, 0).getTime();
    daemon.autoscaler.tick();
    await daemon.autoscaler.idle();
    expect(containerIds(t.project, 1)).toHaveLength(3);
    expect(daemon.autoscaler.status('web')?.reason).toBe('floor 3 (min 1, schedule 3)');
    now = new Date(2026, 10, 27, 18, 59, 59).getTime();
    daemon.autoscaler.tick();
    await daemon.autoscaler.idle();
    expect(containerIds(t.project, 1)).toHaveLength(3);
    now = new Date(2026, 10, 27, 19, 0, 0).getTime();
    daemon.autoscaler.tick(); // floor gone: held for scaleDownDelay
    await daemon.autoscaler.idle();
    expect(containerIds(t.project, 1)).toHaveLength(3);
    now += 10_000;
    daemon.autoscaler.tick();
    await daemon.autoscaler.idle();
    expect(containerIds(t.project, 1)).toHaveLength(1);
  });
});

describe('scale to zero and cold start', () => {
  const t = new TestProject();
  let daemon: Daemon;

  beforeAll(async () => {
    await t.init({
      replicas: 1,
      drainTimeout: '2s',
      serviceYaml: `    autoscale:
      min: 0
      max: 3
      scaleDownDelay: 1s
      idleTimeout: 2s
`,
    });
    daemon = await startDaemon(t, { tickMs: 250 });
  });
  afterAll(async () => {
    await daemon?.shutdown(true);
    await t.cleanup();
  });

  const idleToZero = () =>
    until('no container left', 15_000, () => containerIds(t.project, undefined, true).length === 0);

  it('stops every container when idle, then answers the first request with 200 after a cold start', async () => {
    await idleToZero();
    const first = await get(t.port);
    expect(first.status).toBe(200);
    expect(first.body).toContain('version=v1');
    console.log(`cold start: first request answered in ${first.ms.toFixed(0)}ms from zero`);
    expect(containerIds(t.project)).toHaveLength(1);
    const events = daemon.store.listEvents('web').filter((e) => e.type === 'scaled');
    expect(events.at(-1)?.message).toMatch(/runs 1 container/);
  });

  it('serves 20 concurrent first requests from zero, all 200, and goes back to zero', async () => {
    await idleToZero();
    const all = await Promise.all(Array.from({ length: 20 }, () => get(t.port)));
    expect(all.map((r) => r.status)).toEqual(new Array(20).fill(200));
    const slowest = Math.max(...all.map((r) => r.ms));
    console.log(`cold start: 20 concurrent first requests, slowest ${slowest.toFixed(0)}ms`);
    await idleToZero();
    expect(containerIds(t.project, undefined, true)).toHaveLength(0);
  });
});
