// runtime: swarm end to end on a single-node swarm (initialised here if the
// engine is not in swarm mode, and left again afterwards): the strategies under
// load through the proxy, as on one engine, and the clear refusal when the
// engine is not a swarm manager.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { containerIds, TestProject } from './support/harness';
import { purgeSwarmProject, useSwarm } from './support/swarm';
import { strategiesUnderLoad } from './support/strategies-under-load';

jest.setTimeout(180_000);

let release: () => void = () => undefined;
beforeAll(() => {
  release = useSwarm();
});
afterAll(() => release());

strategiesUnderLoad({
  runtime: 'swarm',
  // Task containers carry the io.shipit labels too: on one node, `docker ps` sees them.
  running: (project, r) => containerIds(project, r),
  purge: purgeSwarmProject,
});

describe('runtime: swarm on an engine that is not a swarm manager', () => {
  // An engine API that answers like a Docker engine outside swarm mode.
  const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-noswarm-')), 'docker.sock');
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    const at = new URL(req.url ?? '/', 'http://engine').pathname.replace(/^\/v[\d.]+/, '');
    seen.push(`${req.method} ${at}`);
    if (at === '/_ping') return res.end('OK');
    if (at === '/info') {
      res.setHeader('content-type', 'application/json');
      return res.end(
        JSON.stringify({ Swarm: { LocalNodeState: 'inactive', ControlAvailable: false } }),
      );
    }
    res.statusCode = 500;
    res.end(JSON.stringify({ message: 'unexpected call' }));
  });
  const t = new TestProject();
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(sock, r));
    await t.init();
    t.writeConfig(`project: ${t.project}
runtime: swarm
proxy:
  listen: 127.0.0.1:${t.port}
services:
  web: { image: demo-web:v1, port: 8080 }
`);
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await t.cleanup();
  });

  it('shipit up exits 2 with a docker swarm init hint and creates nothing', async () => {
    const r = await t.cli(['up'], { DOCKER_HOST: `unix://${sock}` });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/runtime: swarm needs a Docker engine that is a swarm manager/);
    expect(r.stderr).toMatch(/swarm state: inactive/);
    expect(r.stderr).toMatch(/docker swarm init/);
    // Asked only whether it is a manager: no network, no service.
    expect(seen.filter((s) => !/^GET \/(_ping|info)$/.test(s))).toEqual([]);
    expect(containerIds(t.project, undefined, true)).toEqual([]);
  });
});
