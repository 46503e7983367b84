// The walking skeleton's acceptance, on the real Docker engine with real traffic.
import http from 'node:http';
import path from 'node:path';
import { TestProject, containerIds } from './support/harness';

import { startLoadProcess } from '../scripts/lib/load.js';

// The clients run in a child process at lower priority, as if on another machine,
// so that on this 2-core host they do not starve the daemon and CLI being measured.
async function startLoad(o: Parameters<typeof startLoadProcess>[0]) {
  const load = startLoadProcess(o);
  await load.ready;
  return load;
}

jest.setTimeout(180_000);

const LOAD = { clients: 50, slowClients: 5, slowPath: '/slow?2' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function report(
  label: string,
  s: { ok: number; failed: number; slowOk: number; slowFailed: number; failures: string[] },
) {
  console.log(
    `${label}: ${s.ok} ok, ${s.failed} failed (slow: ${s.slowOk} ok, ${s.slowFailed} failed)${s.failures.length ? `\n  ${s.failures.join('\n  ')}` : ''}`,
  );
}

describe('blue/green deploy and rollback under load', () => {
  const t = new TestProject();
  let v1Ids: string[] = [];

  beforeAll(async () => {
    await t.init();
    await t.up();
    v1Ids = containerIds(t.project, 1);
  });
  afterAll(() => t.cleanup());

  it('starts with v1 live on 2 replicas', async () => {
    expect(v1Ids).toHaveLength(2);
    const s = await t.status();
    expect(s.services[0].releases).toEqual([
      expect.objectContaining({ number: 1, status: 'live', weight: 100, image: 'demo-web:v1' }),
    ]);
  });

  it('deploys v2 with 0 failed requests; slow requests on v1 finish; then everything is v2', async () => {
    const load = await startLoad({ port: t.port, ...LOAD });
    await sleep(1000);
    const r = await t.cli(['deploy', '--image', 'demo-web:v2']);
    const returned = Date.now();
    await sleep(1500);
    const s = await load.stop();
    report('deploy v2', s);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(s.failed).toBe(0);
    expect(s.slowFailed).toBe(0);
    const slowOnV1 = s.samples.filter((x) => x.slow && x.version === 'v1');
    expect(slowOnV1.length).toBeGreaterThan(0);
    expect(slowOnV1.every((x) => x.status === 200)).toBe(true);
    const after = s.samples.filter((x) => x.started > returned);
    expect(after.length).toBeGreaterThan(50);
    expect(after.filter((x) => x.version !== 'v2')).toEqual([]);
    expect(after.every((x) => x.release === 2)).toBe(true);
  });

  it('rolls back to v1 in under a second, reusing the same containers, with 0 failed requests', async () => {
    const load = await startLoad({ port: t.port, ...LOAD });
    await sleep(1000);
    const r = await t.cli(['rollback', '--json']);
    const returned = Date.now();
    await sleep(1500);
    const s = await load.stop();
    report('rollback', s);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1) as string).result;
    console.log(`rollback: ${result.durationMs}ms in the daemon, ${r.ms}ms CLI wall time`);
    expect(result.durationMs).toBeLessThan(500);
    expect(r.ms).toBeLessThan(1000);
    expect(s.failed).toBe(0);
    const after = s.samples.filter((x) => x.started > returned);
    expect(after.length).toBeGreaterThan(50);
    expect(after.every((x) => x.version === 'v1' && x.release === 1)).toBe(true);
    expect(containerIds(t.project, 1)).toEqual(v1Ids);
  });

  it('refuses a broken release within deployTimeout, with the health output, leaving v1 serving and nothing behind', async () => {
    const load = await startLoad({ port: t.port, ...LOAD });
    await sleep(500);
    const deploying = t.cli(['deploy', '--image', 'demo-web:broken', '--timeout', '5s']);
    await sleep(700);
    // A second deploy of the same service meanwhile: conflict, exit 4.
    const second = await t.cli(['deploy', '--image', 'demo-web:v2']);
    const r = await deploying;
    await sleep(500);
    const s = await load.stop();
    report('broken deploy', s);
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(/in progress/);
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(5000 + 3000);
    expect(r.stderr).toMatch(
      /did not become healthy within 5000ms: GET \/healthz -> 500 "unhealthy: UNHEALTHY=1 is set"/,
    );
    expect(s.failed).toBe(0);
    expect(s.samples.every((x) => x.version === 'v1')).toBe(true);
    const hist = JSON.parse((await t.cli(['history', '--json'])).stdout).releases as {
      number: number;
      result: string;
      image: string;
    }[];
    const broken = hist.find((h) => h.image === 'demo-web:broken');
    expect(broken).toEqual(expect.objectContaining({ result: 'failed' }));
    expect(containerIds(t.project, broken!.number, true)).toEqual([]);
    expect(containerIds(t.project, 1)).toEqual(v1Ids);
  });

  it('refuses an image that does not exist: exit 1, clear error, nothing changed', async () => {
    const before = await t.status();
    const idsBefore = containerIds(t.project, undefined, true);
    const r = await t.cli(['deploy', '--image', 'no-such-image:42']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/image "no-such-image:42" not found/);
    expect((await t.status()).services[0].releases).toEqual(before.services[0].releases);
    expect(containerIds(t.project, undefined, true)).toEqual(idsBefore);
  });

  it('exits 2 on a bad shipit.yml, naming the key path, and changes nothing', async () => {
    const bad = new TestProject();
    await bad.init({ extraYaml: '' });
    bad.writeConfig(
      `project: ${t.project}\nservices:\n  web:\n    image: demo-web:v1\n    port: 8080\n    healthcheck:\n      interval: fast\n`,
    );
    const r = await bad.cli(['deploy']);
    await bad.cleanup();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('services.web.healthcheck.interval');
  });

  it('answers 401 to a missing or wrong token, and the CLI exits 3', async () => {
    const sock = path.join(t.dir, '.shipit', 'daemon.sock');
    const get = (auth?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        http
          .get(
            { socketPath: sock, path: '/v1/status', headers: auth ? { authorization: auth } : {} },
            (res) => {
              let body = '';
              res.on('data', (c) => (body += c));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
            },
          )
          .on('error', reject);
      });
    expect((await get()).status).toBe(401);
    const wrong = await get('Bearer not-the-token');
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body).error).toMatch(/token/);
    const r = await t.cli(['status'], { SHIPIT_TOKEN: 'not-the-token' });
    expect(r.code).toBe(3);
  });

  it('survives kill -9: restarted, it serves from the same containers and status/history are intact', async () => {
    const histBefore = JSON.parse((await t.cli(['history', '--json'])).stdout);
    await t.kill9();
    const down = await t.cli(['status']);
    expect(down.code).toBe(3);
    const t0 = Date.now();
    await t.up();
    console.log(`daemon restart to ready: ${Date.now() - t0}ms`);
    const load = await startLoad({ port: t.port, clients: 10 });
    await sleep(1000);
    const s = await load.stop();
    expect(s.failed).toBe(0);
    expect(s.ok).toBeGreaterThan(10);
    expect(s.samples.every((x) => x.version === 'v1')).toBe(true);
    expect(containerIds(t.project, 1)).toEqual(v1Ids);
    const st = await t.status();
    expect(st.services[0].releases.find((r) => r.status === 'live')).toEqual(
      expect.objectContaining({ number: 1, weight: 100 }),
    );
    expect(
      st.services[0].targets
        .filter((x) => !x.draining)
        .map((x) => x.id)
        .sort(),
    ).toEqual(v1Ids);
    expect(JSON.parse((await t.cli(['history', '--json'])).stdout)).toEqual(histBefore);
  });
});
