// Preview environments against the real engine (daemon in process): reachable
// at their own Host with their own image while production keeps serving, listed,
// removed by `preview down` and at their TTL, also across a daemon restart.
import http from 'node:http';
import path from 'node:path';
import pino from 'pino';
import { Daemon } from '../src/daemon';
import { loadConfig } from '../src/config/load';
import { runCli } from '../src/testing/cli';
import { TestProject, docker } from './support/harness';

jest.setTimeout(180_000);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function get(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

function previewContainers(project: string, name: string, all = true): string[] {
  const out = docker(
    'ps',
    ...(all ? ['-a'] : []),
    '-q',
    '--filter',
    `label=io.shipit.project=${project}`,
    '--filter',
    `label=io.shipit.preview=${name}`,
  );
  return out ? out.split('\n') : [];
}

describe('preview environments', () => {
  const t = new TestProject();
  let daemon: Daemon;
  let cfgPath: string;

  const cli = (args: string[]) => runCli([...args, '--config', cfgPath]);

  const start = async () =>
    Daemon.start(loadConfig({ path: cfgPath }), {
      log: pino({ level: process.env.SHIPIT_TEST_LOG ?? 'silent' }),
    });

  beforeAll(async () => {
    await t.init({ replicas: 1, serviceYaml: '    hosts: ["web.test"]\n' });
    cfgPath = path.join(t.dir, 'shipit.yml');
    daemon = await start();
    await daemon.deployMissing();
  });
  afterAll(async () => {
    await daemon?.shutdown(true);
    await t.cleanup();
  });

  it('comes up at NAME.<service host> with its own image while production keeps v1', async () => {
    const up = await cli(['preview', 'up', 'pr-1', '--service', 'web', '--image', 'demo-web:v2']);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/preview pr-1 of web \(demo-web:v2\) at http:\/\/pr-1\.web\.test\//);
    const pv = await get(t.port, 'pr-1.web.test');
    expect(pv.status).toBe(200);
    expect(pv.body).toContain('version=v2');
    // production never gets preview traffic, and the preview never gets production's
    for (let i = 0; i < 20; i++)
      expect((await get(t.port, 'web.test')).body).toContain('version=v1');
    expect((await get(t.port, 'pr-2.web.test')).status).toBe(404);
    expect(previewContainers(t.project, 'pr-1')).toHaveLength(1);
    const ls = await cli(['preview', 'ls', '--json']);
    const list = JSON.parse(ls.stdout).previews;
    expect(list).toEqual([
      expect.objectContaining({
        name: 'pr-1',
        service: 'web',
        image: 'demo-web:v2',
        url: 'http://pr-1.web.test/',
      }),
    ]);
    expect(list[0].expiresAt - Date.now()).toBeGreaterThan(23 * 3600_000);
    const human = await cli(['preview', 'ls']);
    expect(human.stdout).toMatch(/pr-1\s+web\s+demo-web:v2\s+http:\/\/pr-1\.web\.test\/\s+\d{4}-/);
  });

  it('refuses a malformed name (exit 2) and an existing one (exit 4), changing nothing', async () => {
    const bad = await cli(['preview', 'up', 'PR_1', '--service', 'web', '--image', 'demo-web:v2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/preview name "PR_1" is not valid/);
    expect(bad.stderr).toMatch(/hint: use lowercase letters/);
    const dup = await cli(['preview', 'up', 'pr-1', '--service', 'web', '--image', 'demo-web:v1']);
    expect(dup.code).toBe(4);
    expect(dup.stderr).toMatch(/preview "pr-1" already exists \(demo-web:v2/);
    const ttl = await cli(['preview', 'up', 'pr-3', '--image', 'demo-web:v2', '--ttl', 'soon']);
    expect(ttl.code).toBe(2);
    expect(previewContainers(t.project, 'pr-1')).toHaveLength(1);
    expect((await get(t.port, 'pr-1.web.test')).body).toContain('version=v2');
    const none = await cli(['preview', 'down', 'nope']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no preview "nope"/);
  });

  it('preview down removes it and its containers', async () => {
    const down = await cli(['preview', 'down', 'pr-1']);
    expect(down.code).toBe(0);
    expect(previewContainers(t.project, 'pr-1')).toEqual([]);
    expect((await get(t.port, 'pr-1.web.test')).status).toBe(404);
    expect((await get(t.port, 'web.test')).body).toContain('version=v1');
    expect(JSON.parse((await cli(['preview', 'ls', '--json'])).stdout).previews).toEqual([]);
  });

  it('is removed at its TTL, also when the daemon restarted in between', async () => {
    const up = await cli([
      'preview',
      'up',
      'short',
      '--image',
      'demo-web:v2',
      '--ttl',
      '4s',
      '--env',
      'GREETING=hi',
    ]);
    expect(up.code).toBe(0);
    expect((await get(t.port, 'short.web.test')).status).toBe(200);
    const { expiresAt } = JSON.parse((await cli(['preview', 'ls', '--json'])).stdout).previews[0];
    const started = Date.now();
    await daemon.shutdown(false); // containers keep running; the TTL is in the store
    daemon = await start();
    expect((await get(t.port, 'short.web.test')).status).toBe(200);
    while (previewContainers(t.project, 'short').length) {
      if (Date.now() - started > 15_000) throw new Error('preview not removed at its TTL');
      await sleep(200);
    }
    const late = Date.now() - expiresAt;
    console.log(
      `preview with ttl 4s removed ${late}ms after it expired (daemon restarted between)`,
    );
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(5000);
    expect((await get(t.port, 'short.web.test')).status).toBe(404);
    expect(JSON.parse((await cli(['preview', 'ls', '--json'])).stdout).previews).toEqual([]);
    expect((await get(t.port, 'web.test')).body).toContain('version=v1');
  });
});
