// Blue/green, rollback and canary under concurrent keep-alive load, for one
// runtime (`runtime:` in shipit.yml): the same checks whichever runtime the
// daemon drives, so a runtime that loses a request fails here.
import { TestProject } from './harness';
import { startLoadProcess, type LoadStats } from '../../scripts/lib/load.js';

const LOAD = { clients: 30, slowClients: 5, slowPath: '/slow?1' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RuntimeUnderTest {
  runtime: 'docker' | 'swarm';
  /** Ids of the project's running containers (Swarm: services with a running task), for one release. */
  running(project: string, release: number): string[];
  /** Runs after the project's own cleanup: removes what is left (also after failures). */
  purge?(project: string): void;
}

function report(label: string, s: LoadStats): void {
  const by: Record<string, number> = {};
  for (const x of s.samples)
    by[`r${x.release} ${x.version}`] = (by[`r${x.release} ${x.version}`] ?? 0) + 1;
  console.log(
    `${label}: ${s.ok} ok, ${s.failed} failed (slow: ${s.slowOk} ok, ${s.slowFailed} failed); ${JSON.stringify(by)}${s.failures.length ? `\n  ${s.failures.slice(0, 5).join('\n  ')}` : ''}`,
  );
}

export function strategiesUnderLoad(rt: RuntimeUnderTest): void {
  describe(`runtime: ${rt.runtime}: blue/green, rollback and canary under load`, () => {
    const t = new TestProject();
    const running = new Set<ReturnType<typeof startLoadProcess>>();

    const config = (deploy = '') => `project: ${t.project}
runtime: ${rt.runtime}
proxy:
  listen: 127.0.0.1:${t.port}
services:
  web:
    image: demo-web:v1
    port: 8080
    replicas: 2
    healthcheck: { path: /healthz, interval: 500ms, timeout: 1s }
    deploy:
      strategy: blue-green
      deployTimeout: 40s
      drainTimeout: 10s
      keepPrevious: 10m
${deploy}
`;

    async function startLoad() {
      const load = startLoadProcess({ port: t.port, ...LOAD });
      running.add(load);
      await load.ready;
      return load;
    }
    async function stopLoad(load: ReturnType<typeof startLoadProcess>): Promise<LoadStats> {
      running.delete(load);
      return load.stop();
    }
    async function live(): Promise<{ number: number; image: string }> {
      const s = await t.status();
      const r = s.services[0].releases.find((x) => x.status === 'live');
      if (!r) throw new Error('no live release');
      return r;
    }

    beforeAll(async () => {
      await t.init();
      t.writeConfig(config());
      await t.up();
    });
    afterEach(async () => {
      for (const load of [...running]) await stopLoad(load).catch(() => undefined);
    });
    afterAll(async () => {
      try {
        await t.cleanup();
      } finally {
        rt.purge?.(t.project);
      }
    });

    it('starts v1 on 2 replicas', async () => {
      expect(await live()).toMatchObject({ number: 1, image: 'demo-web:v1' });
      expect(rt.running(t.project, 1)).toHaveLength(2);
    });

    it('blue/green deploy of v2: 0 failed requests, then only v2', async () => {
      const load = await startLoad();
      await sleep(800);
      const r = await t.cli(['deploy', '--image', 'demo-web:v2']);
      const returned = Date.now();
      await sleep(1200);
      const s = await stopLoad(load);
      report(`${rt.runtime} blue/green deploy (${r.ms} ms)`, s);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(s.failed).toBe(0);
      expect(s.slowFailed).toBe(0);
      const after = s.samples.filter((x) => x.started > returned);
      expect(after.length).toBeGreaterThan(20);
      expect(after.every((x) => x.version === 'v2' && x.release === 2)).toBe(true);
      expect(rt.running(t.project, 2)).toHaveLength(2);
    });

    it('rollback to v1 on the kept containers: 0 failed requests, then only v1', async () => {
      const kept = rt.running(t.project, 1);
      expect(kept).toHaveLength(2);
      const load = await startLoad();
      await sleep(800);
      const r = await t.cli(['rollback']);
      const returned = Date.now();
      await sleep(1200);
      const s = await stopLoad(load);
      report(`${rt.runtime} rollback (${r.ms} ms)`, s);
      expect(r.code).toBe(0);
      expect(s.failed).toBe(0);
      const after = s.samples.filter((x) => x.started > returned);
      expect(after.length).toBeGreaterThan(20);
      expect(after.every((x) => x.version === 'v1' && x.release === 1)).toBe(true);
      expect(rt.running(t.project, 1)).toEqual(kept);
    });

    it('canary with automatic steps and a manual promote: 0 failed requests', async () => {
      t.writeConfig(
        config(`      canary:
        steps:
          - { weight: 20, pause: 1s }
          - { weight: 50, pause: manual }
        analysis: { interval: 500ms, minRequests: 20, maxErrorRate: 0.05 }`),
      );
      const stable = await live();
      const load = await startLoad();
      await sleep(800);
      const d = await t.cli(['deploy', '--strategy', 'canary', '--image', 'demo-web:v2']);
      expect(d.code).toBe(0);
      expect(d.stdout).toMatch(/paused/);
      await sleep(1000);
      const p = await t.cli(['promote']);
      const returned = Date.now();
      await sleep(800);
      const s = await stopLoad(load);
      report(`${rt.runtime} canary + promote (${d.ms} + ${p.ms} ms)`, s);
      expect(p.code).toBe(0);
      expect(s.failed).toBe(0);
      const canary = (await live()).number;
      expect(canary).toBeGreaterThan(stable.number);
      const during = s.samples.filter((x) => x.started < returned);
      expect(new Set(during.map((x) => x.release))).toEqual(new Set([stable.number, canary]));
      expect((await live()).image).toBe('demo-web:v2');
      expect(rt.running(t.project, canary)).toHaveLength(2);
    });
  });
}
