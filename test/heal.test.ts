// A container killed under load (real engine, daemon in process): the proxy
// stops routing to it at the first failed connection and retries the GETs that
// hit it, and the daemon starts a replacement with the same index.
import path from 'node:path';
import pino from 'pino';
import { Daemon } from '../src/daemon';
import { loadConfig } from '../src/config/load';
import { startLoadProcess } from '../scripts/lib/load.js';
import { TestProject, containerIds, docker } from './support/harness';

jest.setTimeout(120_000);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('a container killed under load', () => {
  const t = new TestProject();
  let daemon: Daemon;

  beforeAll(async () => {
    await t.init({ replicas: 2 });
    daemon = await Daemon.start(loadConfig({ path: path.join(t.dir, 'shipit.yml') }), {
      log: pino({ level: process.env.SHIPIT_TEST_LOG ?? 'silent' }),
    });
    await daemon.deployMissing();
  });
  afterAll(async () => {
    await daemon?.shutdown(true);
    await t.cleanup();
  });

  it('loses no GET, and is replaced under its index with the release back to 2 healthy containers', async () => {
    const before = containerIds(t.project, 1);
    expect(before).toHaveLength(2);
    const load = startLoadProcess({ port: t.port, clients: 20 });
    await load.ready;
    await sleep(1000);
    const victim = before[0];
    const name = docker('inspect', '-f', '{{.Name}}', victim).replace(/^\//, '');
    const killedAt = Date.now();
    docker('kill', victim);
    // out of routing at once (die event / first refused connection)
    let outAfter = -1;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const routed = daemon.router.targets('web').filter((x) => !x.draining && x.healthy);
      if (outAfter < 0 && !routed.some((x) => x.id === victim)) outAfter = Date.now() - killedAt;
      const ids = containerIds(t.project, 1);
      if (routed.length === 2 && ids.length === 2 && !ids.includes(victim)) break;
      if (Date.now() > deadline) throw new Error(`not replaced: ${JSON.stringify(ids)}`);
      await sleep(100);
    }
    const replacedAfter = Date.now() - killedAt;
    await sleep(500);
    const s = await load.stop();
    console.log(
      `killed ${name}: out of routing after ${outAfter}ms, replaced and routed after ${replacedAfter}ms; load ${s.ok} ok, ${s.failed} failed${s.failures.length ? `: ${s.failures.slice(0, 5).join('; ')}` : ''}`,
    );
    expect(s.failed).toBe(0);
    expect(s.ok).toBeGreaterThan(100);
    expect(outAfter).toBeLessThan(1500);
    const names = containerIds(t.project, 1).map((id) =>
      docker('inspect', '-f', '{{.Name}}', id).replace(/^\//, ''),
    );
    expect(names).toContain(name); // the same index, a new container
    expect(containerIds(t.project, 1, true)).toHaveLength(2); // the dead one is gone
    const replaced = daemon.store.listEvents('web').filter((e) => e.type === 'scale');
    expect(replaced.at(-1)?.message).toMatch(
      new RegExp(`\\(replace: ${name} died \\(exit 137\\)\\)`),
    );
  });
});
