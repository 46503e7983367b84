// The daemon, the control API and the CLI in this process (so their code is
// measured by coverage), against the real Docker engine and real HTTP.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import pino from 'pino';
import { Daemon } from '../src/daemon';
import { loadConfig } from '../src/config/load';
import { runCli as run } from '../src/testing/cli';
import { TestProject, containerIds, docker } from './support/harness';

jest.setTimeout(120_000);

function get(
  port: number,
  headers: Record<string, string> = {},
  path = '/',
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      })
      .on('error', reject);
  });
}

describe('daemon + API + CLI in one process', () => {
  const t = new TestProject();
  let daemon: Daemon;
  let cfgPath: string;

  beforeAll(async () => {
    await t.init({ replicas: 1 });
    cfgPath = path.join(t.dir, 'shipit.yml');
    daemon = await Daemon.start(loadConfig({ path: cfgPath }), { log: pino({ level: 'silent' }) });
    await daemon.deployMissing();
  });
  afterAll(async () => {
    await daemon?.shutdown(true);
    await t.cleanup();
  });

  it('deploys the configured image on up and serves it', async () => {
    const r = await get(t.port);
    expect(r.status).toBe(200);
    expect(r.body).toContain('version=v1');
    expect(r.headers['x-shipit-release']).toBe('1');
    expect(r.headers['x-request-id']).toBeTruthy();
  });

  it('refuses to start a second daemon on the same state directory', async () => {
    const other = path.join(t.dir, 'other.yml');
    fs.writeFileSync(
      other,
      fs.readFileSync(cfgPath, 'utf8').replace(`127.0.0.1:${t.port}`, '127.0.0.1:0'),
    );
    // The pid file names another live node process: a daemon (our own pid would not count).
    const other_ = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      fs.writeFileSync(path.join(t.dir, '.shipit', 'daemon.pid'), `${other_.pid}\n`);
      // A daemon that starts anyway must not outlive the test (it would keep jest running).
      const second = Daemon.start(loadConfig({ path: other }), {
        log: pino({ level: 'silent' }),
      }).then(async (d) => {
        await d.shutdown(false);
        return d;
      });
      await expect(second).rejects.toMatchObject({ code: 'usage' });
    } finally {
      other_.kill('SIGKILL');
      fs.writeFileSync(path.join(t.dir, '.shipit', 'daemon.pid'), `${process.pid}\n`);
    }
  });

  it('status and history, human and --json', async () => {
    const s = await run(['status', '--config', cfgPath]);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/r1\s+live\s+100%/);
    const j = await run(['status', 'web', '--json', '--config', cfgPath]);
    expect(JSON.parse(j.stdout).services[0].targets).toHaveLength(1);
    const h = await run(['history', '--config', cfgPath]);
    expect(h.stdout).toMatch(/r1\s+demo-web:v1\s+blue-green\s+live\s+succeeded/);
    const unknown = await run(['status', 'nope', '--config', cfgPath]);
    expect(unknown.code).toBe(2);
  });

  it('deploy --dry-run prints the plan and changes nothing', async () => {
    const r = await run(['deploy', '--image', 'demo-web:v2', '--dry-run', '--config', cfgPath]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('flip: all traffic from r1 to r2 in one swap');
    expect(containerIds(t.project)).toHaveLength(1);
  });

  it('deploy with flags, streamed as NDJSON with --json; rollback; events are recorded', async () => {
    const r = await run([
      'deploy',
      'web',
      '--image',
      'demo-web:v2',
      '--env',
      'EXTRA=1',
      '--json',
      '--config',
      cfgPath,
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0].type).toBe('plan');
    expect(lines.at(-1)).toMatchObject({ type: 'result', result: { release: 2 } });
    expect((await get(t.port)).body).toContain('version=v2');
    const rb = await run(['rollback', '--config', cfgPath]);
    expect(rb.code).toBe(0);
    expect(rb.stdout).toContain('r1 is live again');
    expect((await get(t.port)).body).toContain('version=v1');
    const to = await run(['rollback', '--to', '2', '--config', cfgPath]);
    expect(to.code).toBe(0);
    expect((await get(t.port)).body).toContain('version=v2');
    expect(daemon.store.listEvents('web').some((e) => e.type === 'live')).toBe(true);
  });

  it('bad flags and bad input: exit 2 and nothing changes', async () => {
    expect((await run(['deploy', '--env', 'NOEQUALS', '--config', cfgPath])).code).toBe(2);
    expect((await run(['deploy', '--timeout', 'soon', '--config', cfgPath])).code).toBe(2);
    expect((await run(['deploy', '--strategy', 'purple', '--config', cfgPath])).code).toBe(2);
    expect((await run(['frobnicate'])).code).toBe(2);
    expect((await run(['rollback', '--to', '99', '--config', cfgPath])).code).toBe(2);
    expect((await get(t.port)).body).toContain('version=v2');
  });

  it('wrong token: exit 3', async () => {
    const r = await run(['history', '--config', cfgPath], { SHIPIT_TOKEN: 'wrong' });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('token');
  });

  it('schema and init', async () => {
    const s = await run(['schema']);
    expect(JSON.parse(s.stdout).properties.services).toBeDefined();
    const file = path.join(t.dir, 'new.yml');
    expect((await run(['init', '--config', file])).code).toBe(0);
    expect(loadConfig({ path: file }).services.web).toBeDefined();
    expect((await run(['init', '--config', file])).code).toBe(2);
  });

  it('a second daemon on a busy proxy port fails with a clear error', async () => {
    const other = new TestProject();
    await other.init();
    other.writeConfig(
      fs
        .readFileSync(path.join(other.dir, 'shipit.yml'), 'utf8')
        .replace(`127.0.0.1:${other.port}`, `127.0.0.1:${t.port}`),
    );
    await expect(
      Daemon.start(loadConfig({ path: path.join(other.dir, 'shipit.yml') }), {
        log: pino({ level: 'silent' }),
      }),
    ).rejects.toThrow(/address already in use/);
    await other.cleanup();
  });

  it('canary through the CLI: paused deploy, status, promote; then a second canary aborted', async () => {
    const canaryCfg = path.join(t.dir, 'canary.yml');
    fs.writeFileSync(
      canaryCfg,
      fs
        .readFileSync(cfgPath, 'utf8')
        .replace(
          '      keepPrevious: 10m',
          '      keepPrevious: 10m\n      canary:\n        steps:\n          - { weight: 50, pause: manual }',
        ),
    );
    const d = await run([
      'deploy',
      '--strategy',
      'canary',
      '--image',
      'demo-web:v1',
      '--config',
      canaryCfg,
    ]);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/paused: .*shipit promote web/);
    const st = await run(['status', '--config', canaryCfg]);
    expect(st.stdout).toMatch(/rollout of r\d+ in progress, paused/);
    expect((await run(['rollback', '--config', canaryCfg])).code).toBe(4);
    const p = await run(['promote', '--config', canaryCfg]);
    expect(p.code).toBe(0);
    expect(p.stdout).toMatch(/is live/);
    expect((await run(['promote', '--config', canaryCfg])).code).toBe(2);

    const d2 = await run([
      'deploy',
      '--strategy',
      'canary',
      '--image',
      'demo-web:v2',
      '--json',
      '--config',
      canaryCfg,
    ]);
    expect(d2.code).toBe(0);
    expect(JSON.parse(d2.stdout.trim().split('\n').at(-1) as string).result.paused).toBe(true);
    const a = await run(['abort', '--config', canaryCfg]);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/aborted; all traffic is on the stable release/);
    expect((await get(t.port)).body).toContain('version=v1');
    expect((await run(['abort', '--config', canaryCfg])).code).toBe(2);
  });

  it('rainbow through the proxy: a user pinned to the older release stays there while it lives; new users get the newest', async () => {
    const before = await get(t.port);
    const old = String(before.headers['x-shipit-release']);
    expect(before.body).toContain('version=v1');
    // A long request keeps the older release alive through the deploy.
    const slow = get(t.port, {}, '/slow?3');
    await new Promise((r) => setTimeout(r, 300));
    const r = await run([
      'deploy',
      '--strategy',
      'rainbow',
      '--image',
      'demo-web:v2',
      '--config',
      cfgPath,
    ]);
    expect(r.code).toBe(0);
    const fresh = await get(t.port);
    expect(fresh.body).toContain('version=v2');
    expect(String(fresh.headers['set-cookie'])).toMatch(/shipit-release=\d+/);
    const pinned = await get(t.port, { cookie: `shipit-release=${old}` });
    expect(pinned.headers['x-shipit-release']).toBe(old);
    expect(pinned.body).toContain('version=v1');
    expect((await slow).status).toBe(200);
    // Nothing in flight on it any more: the reaper removes it, and the pin falls back to the newest.
    const t0 = Date.now();
    while (containerIds(t.project, Number(old), true).length) {
      if (Date.now() - t0 > 5000) throw new Error('older rainbow release still there');
      await new Promise((res) => setTimeout(res, 100));
    }
    const moved = await get(t.port, { cookie: `shipit-release=${old}` });
    expect(moved.body).toContain('version=v2');
  });

  it('takes a container that dies out of routing at once (Docker event), before any failed probe', async () => {
    const live = daemon.router.targets('web').filter((x) => !x.draining);
    expect(live).toHaveLength(1);
    const t0 = Date.now();
    docker('kill', live[0].id);
    while (daemon.router.targets('web').find((x) => x.id === live[0].id)?.healthy !== false) {
      if (Date.now() - t0 > 3000) throw new Error('still routed 3 s after the container died');
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(`dead container out of routing after ${Date.now() - t0}ms`);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await get(t.port)).status).toBe(503);
  });
});
