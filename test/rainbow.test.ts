// Rainbow on the real engine: a WebSocket opened on release 1 stays open and
// working while releases 2 and 3 go live; release 1 goes once it closes.
import { TestProject, containerIds } from './support/harness';
import { startLoadProcess } from '../scripts/lib/load.js';

import { wsConnect } from '../examples/node-app/ws-client';

jest.setTimeout(180_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('rainbow', () => {
  const t = new TestProject();

  beforeAll(async () => {
    await t.init();
    t.writeConfig(`project: ${t.project}
proxy:
  listen: 127.0.0.1:${t.port}
services:
  web:
    image: node-web:v1
    port: 8080
    replicas: 1
    healthcheck: { path: /healthz, interval: 500ms, timeout: 1s }
    deploy:
      strategy: rainbow
      deployTimeout: 30s
      drainTimeout: 10s
      rainbow: { maxLive: 3 }
`);
    await t.up();
  });
  afterAll(() => t.cleanup());

  it('keeps a WebSocket on r1 through r2 and r3, then removes r1 once it closes; 0 failed requests', async () => {
    const ws = await wsConnect('127.0.0.1', t.port, '/ws');
    expect(await ws.send('hello')).toBe('version=v1 echo=hello');
    const load = startLoadProcess({
      port: t.port,
      clients: 20,
      slowClients: 3,
      slowPath: '/slow?1',
    });
    await load.ready;
    await sleep(500);

    const d2 = await t.cli(['deploy', '--image', 'node-web:v2']);
    expect(d2.code).toBe(0);
    expect(await ws.send('after r2')).toBe('version=v1 echo=after r2');
    const d3 = await t.cli(['deploy', '--image', 'node-web:v3']);
    expect(d3.code).toBe(0);
    expect(await ws.send('after r3')).toBe('version=v1 echo=after r3');
    await sleep(1500);
    const s = await load.stop();
    const byRelease: Record<string, number> = {};
    for (const x of s.samples)
      byRelease[`r${x.release} (${x.version})`] =
        (byRelease[`r${x.release} (${x.version})`] ?? 0) + 1;
    console.log(
      `rainbow under load: ${s.ok} ok, ${s.failed} failed; per release ${JSON.stringify(byRelease)}`,
    );
    expect(s.failed).toBe(0);
    const after = s.samples.filter((x) => x.started > Date.now() - 1000);
    expect(after.every((x) => x.version === 'v3')).toBe(true);

    // r1 is still there for its WebSocket; r2 had nothing in flight and is gone.
    expect(containerIds(t.project, 1)).toHaveLength(1);
    expect(containerIds(t.project, 2, true)).toEqual([]);
    expect(await ws.send('still here')).toBe('version=v1 echo=still here');

    await ws.close();
    const t0 = Date.now();
    while (containerIds(t.project, 1, true).length) {
      if (Date.now() - t0 > 15000)
        throw new Error('r1 still there 15 s after its last connection closed');
      await sleep(200);
    }
    console.log(`r1 removed ${Date.now() - t0}ms after its WebSocket closed`);
    const hist = JSON.parse((await t.cli(['history', '--json'])).stdout).releases as {
      number: number;
      status: string;
    }[];
    expect(hist.map((h) => [h.number, h.status])).toEqual([
      [3, 'live'],
      [2, 'retired'],
      [1, 'retired'],
    ]);
  });
});
