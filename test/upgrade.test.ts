// Daemon upgrade without a gap: `shipit up` while a daemon runs hands the
// listening sockets (proxy and API) to a new daemon process, and the old one
// drains and exits, under concurrent keep-alive load with slow requests.
import fs from 'node:fs';
import path from 'node:path';
import { startLoadProcess } from '../scripts/lib/load.js';
import { TestProject } from './support/harness';

jest.setTimeout(180_000);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('daemon upgrade: shipit up while a daemon runs', () => {
  const t = new TestProject();
  const pids: number[] = [];

  beforeAll(async () => {
    await t.init({ replicas: 2, drainTimeout: '5s' });
    await t.up();
  });
  afterAll(async () => {
    if (process.env.SHIPIT_UPGRADE_DEBUG) {
      fs.copyFileSync(path.join(t.dir, '.shipit', 'daemon.log'), '/tmp/upgrade-new.log');
      fs.writeFileSync('/tmp/upgrade-old.log', t.log());
      fs.copyFileSync(path.join(t.dir, '.shipit', 'access.log'), '/tmp/upgrade-access.log');
    }
    await t.cli(['down', '--remove']);
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await t.cleanup();
  });

  const pidOf = async () => {
    const r = await t.cli(['status', '--json']);
    expect(r.code).toBe(0);
    return (JSON.parse(r.stdout) as { pid: number }).pid;
  };

  it('hands over to a new process with 0 failed requests; the old one drains and exits', async () => {
    const before = await pidOf();
    pids.push(before);
    const load = startLoadProcess({
      port: t.port,
      clients: 30,
      slowClients: 5,
      slowPath: '/slow?1',
    });
    await load.ready;
    await sleep(1000);
    const r = await t.cli(['up', '--json']);
    const returned = Date.now();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { upgraded: boolean; from: number; to: number };
    pids.push(out.to);
    expect(out).toMatchObject({ upgraded: true, from: before });
    expect(out.to).not.toBe(before);
    await sleep(1500);
    const s = await load.stop();
    const stopped = Date.now();
    console.log(
      `upgrade pid ${before} -> ${out.to} in ${r.ms} ms: ${s.ok} ok, ${s.failed} failed, slow ${s.slowOk} ok / ${s.slowFailed} failed${s.failures.length ? `: ${s.failures.slice(0, 5).join('; ')}` : ''}`,
    );
    expect(s.failed).toBe(0);
    expect(s.slowFailed).toBe(0);
    expect(s.slowOk).toBeGreaterThan(0);
    expect(s.samples.filter((x) => x.started > returned).length).toBeGreaterThan(50);

    // the old process drains and exits; the new one answers the API on the same socket
    const deadline = Date.now() + 15_000;
    while (alive(before) && Date.now() < deadline) await sleep(100);
    expect(alive(before)).toBe(false);
    console.log(
      `load stopped ${stopped - returned} ms after the upgrade returned; old gone ${Date.now() - stopped} ms later`,
    );
    expect(await pidOf()).toBe(out.to);
    expect(fs.readFileSync(path.join(t.dir, '.shipit', 'daemon.pid'), 'utf8').trim()).toBe(
      String(out.to),
    );
    // the new daemon adopted the same containers and deploys as usual
    const st = await t.status();
    expect(st.services[0].releases.filter((x) => x.status === 'live')).toHaveLength(1);
    const d = await t.cli(['deploy', '--image', 'demo-web:v2']);
    expect(d.code).toBe(0);
  });

  it('refuses while a deploy runs (exit 4), and nothing changes', async () => {
    const before = await pidOf();
    const deploy = t.cli(['deploy', '--image', 'demo-web:v1', '--strategy', 'canary']);
    // the canary holds the service's lock while it waits at its first pause
    const deadline = Date.now() + 20_000;
    for (;;) {
      const s = (await t.status()) as unknown as { services: { rollout: unknown }[] };
      if (s.services[0].rollout) break;
      if (Date.now() > deadline) throw new Error('the canary never started');
      await sleep(100);
    }
    const r = await t.cli(['up']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/web: a deploy is in progress/);
    expect(await pidOf()).toBe(before);
    await t.cli(['abort']);
    await deploy;
  });
});
