// Several services on one host (real engine, daemon in process): Host routing
// with exact and wildcard hosts, independent deploys and rollbacks, and
// service discovery by name (http://api/) through shipit while api is redeployed.
import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import path from 'node:path';
import pino from 'pino';
import { Daemon } from '../src/daemon';
import { loadConfig } from '../src/config/load';
import { runCli } from '../src/testing/cli';
import { call } from '../src/cli/client';
import { endpoint } from '../src/cli/context';
import { TestProject, containerIds, docker } from './support/harness';

jest.setTimeout(180_000);

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function get(
  port: number,
  host: string,
  p = '/',
): Promise<{ status: number; body: string; release: string | undefined }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, headers: { host }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            release: res.headers['x-shipit-release'] as string | undefined,
          }),
        );
      })
      .on('error', reject);
  });
}

const cli = (cfgPath: string, args: string[]) => runCli([...args, '--config', cfgPath]);

/** The `call ...` lines a web container printed (demo app CALL_URL loop). */
function calls(id: string): { ok: boolean; n: number; text: string }[] {
  return docker('logs', id)
    .split('\n')
    .filter((l) => l.startsWith('call '))
    .map((l) => {
      const m = /^call (ok|failed) (\d+) ?(.*)$/.exec(l);
      return { ok: m?.[1] === 'ok', n: Number(m?.[2]), text: m?.[3] ?? l };
    });
}

describe('several services: host routing, independent releases, discovery by name', () => {
  const t = new TestProject();
  let daemon: Daemon;
  let cfgPath: string;

  beforeAll(async () => {
    await t.init();
    cfgPath = path.join(t.dir, 'shipit.yml');
    t.writeConfig(`project: ${t.project}
proxy:
  listen: 127.0.0.1:${t.port}
services:
  web:
    image: node-web:v1
    port: 8080
    hosts: ["web.test", "*.apps.test"]
    replicas: 1
    env: { CALL_URL: "http://api/", CALL_INTERVAL: "0.05" }
    links: [api]
    healthcheck: { path: /healthz, interval: 500ms, timeout: 1s }
    deploy: { strategy: blue-green, deployTimeout: 15s, drainTimeout: 5s, keepPrevious: 10m }
  api:
    image: demo-web:v1
    port: 8080
    hosts: ["api.test"]
    replicas: 2
    healthcheck: { path: /healthz, interval: 500ms, timeout: 1s }
    deploy: { strategy: blue-green, deployTimeout: 15s, drainTimeout: 5s, keepPrevious: 10m }
`);
    daemon = await Daemon.start(loadConfig({ path: cfgPath }), {
      log: pino({ level: process.env.SHIPIT_TEST_LOG ?? 'silent' }),
    });
    await daemon.deployMissing();
  });
  afterAll(async () => {
    await daemon?.shutdown(true);
    await t.cleanup();
  });

  it('routes by Host: exact hosts, a wildcard at any depth, and 404 for an unknown host', async () => {
    const web = await get(t.port, 'web.test');
    expect([web.status, web.release]).toEqual([200, '1']);
    expect(web.body).toMatch(/^version=v1 /);
    const api = await get(t.port, 'API.test:80');
    expect([api.status, api.release]).toEqual([200, '1']);
    const wild = await get(t.port, 'shop.eu.apps.test');
    expect(wild.status).toBe(200);
    const unknown = await get(t.port, 'nobody.test');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ error: 'Not Found' });
    // A link name is no public host: only containers reach services by name.
    expect((await get(t.port, 'api')).status).toBe(404);
  });

  it('web calls http://api/ by name while api is redeployed blue/green: 0 failed calls, answers switch to v2', async () => {
    const [webId] = containerIds(t.project).filter((id) =>
      docker('inspect', '-f', '{{index .Config.Labels "io.shipit.service"}}', id).includes('web'),
    );
    expect(webId).toBeTruthy();
    // web went live before api (config order): its first calls failed (404); now they reach v1
    const deadline = Date.now() + 10_000;
    while (!calls(webId).at(-1)?.text.includes('version=v1')) {
      if (Date.now() > deadline)
        throw new Error(`web never reached api: ${JSON.stringify(calls(webId).slice(-3))}`);
      await sleep(100);
    }
    await sleep(500);
    const before = calls(webId);
    const startN = before.at(-1)?.n ?? 0;
    expect(before.slice(-5).every((c) => c.ok && c.text.includes('version=v1'))).toBe(true);

    const dep = await cli(cfgPath, ['deploy', 'api', '--image', 'demo-web:v2']);
    expect(dep.stderr).toBe('');
    expect(dep.code).toBe(0);
    await sleep(1500);
    const during = calls(webId).filter((c) => c.n > startN);
    const failed = during.filter((c) => !c.ok);
    console.log(
      `discovery: ${during.length} calls from web to http://api/ during and after the api deploy, ${failed.length} failed`,
    );
    expect(failed).toEqual([]);
    expect(during.length).toBeGreaterThan(10);
    expect(during.at(-1)?.text).toContain('version=v2');
    // once switched, never back to v1
    const firstV2 = during.findIndex((c) => c.text.includes('version=v2'));
    expect(during.slice(firstV2).every((c) => c.text.includes('version=v2'))).toBe(true);
    // http://api:<port>/ reaches it too
    // Asynchronously: the daemon answering this call runs in this very process.
    const { stdout: byPort } = await execFileAsync('docker', [
      'exec',
      webId,
      '/usr/bin/node',
      '-e',
      "require('http').get('http://api:8080/version', { agent: false }, (r) => r.on('data', (c) => process.stdout.write(r.statusCode + ' ' + c)))",
    ]);
    expect(byPort).toMatch(/^200 version=v2/);
    // web itself was not touched
    expect((await get(t.port, 'web.test')).release).toBe('1');
  });

  it('rolls api back without touching web, and lists endpoints', async () => {
    const rb = await cli(cfgPath, ['rollback', 'api']);
    expect(rb.code).toBe(0);
    const api = await get(t.port, 'api.test');
    expect([api.release, api.body.includes('version=v1')]).toEqual(['1', true]);
    const web = await get(t.port, 'web.test');
    expect(web.release).toBe('1');
    const cfg = loadConfig({ path: cfgPath });
    const ep = (await call(endpoint(cfg), 'GET', '/v1/services/api/endpoints')) as {
      hosts: string[];
      discovery: { urls: string[]; listeners: string[] };
      targets: { release: number; healthy: boolean; weight: number }[];
    };
    expect(ep.hosts).toEqual(['api.test']);
    expect(ep.discovery.urls).toEqual(['http://api/', 'http://api:8080/']);
    expect(ep.discovery.listeners.some((l) => l.endsWith(':80'))).toBe(true);
    expect(ep.targets.filter((x) => x.weight === 100)).toHaveLength(2);
    expect(ep.targets.every((x) => x.release === 1 && x.healthy)).toBe(true);
    await expect(call(endpoint(cfg), 'GET', '/v1/services/nope/endpoints')).rejects.toThrow(
      /no service "nope"/,
    );
    const st = await cli(cfgPath, ['status', 'api', '--json']);
    const targets: { draining: boolean; release: number }[] = JSON.parse(st.stdout).services[0]
      .targets;
    // r2 is kept for rollback (keepPrevious): listed, but out of routing
    expect(targets.filter((x) => !x.draining).map((x) => x.release)).toEqual([1, 1]);
  });
});
