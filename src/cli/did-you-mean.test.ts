// "Did you mean": a misspelt command or SERVICE is a usage error (exit 2) that names the
// likely intent, and nothing reaches the daemon. Real API server, stand-in control plane.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ApiServer } from '../api/server';
import { ensureToken } from '../api/auth';
import { fakePlane, type FakePlane } from '../testing/api-client';
import { runCli as run } from '../testing/cli';
import { checkService, defaultService } from './context';

describe('checkService / defaultService', () => {
  const names = ['web', 'api'];
  it('passes known names, defaults a lone service, refuses a near miss with the suggestion', () => {
    expect(checkService('web', names)).toBe('web');
    expect(checkService(undefined, names)).toBeUndefined();
    expect(defaultService(undefined, ['web'])).toBe('web');
    expect(() => checkService('wbe', names, '/x/shipit.yml')).toThrow(
      expect.objectContaining({
        code: 'usage',
        message: 'unknown service "wbe" in /x/shipit.yml (services: web, api); did you mean "web"?',
      }),
    );
    expect(() => defaultService('apii', names)).toThrow('did you mean "api"?');
  });

  it('lets a name nothing like a configured one through to the daemon (it may know it)', () => {
    expect(checkService('billing', names)).toBe('billing');
    expect(defaultService('billing', names)).toBe('billing');
  });
});

describe('misspelt commands and services on the command line', () => {
  let dir: string;
  let cfg: string;
  let api: ApiServer;
  let f: FakePlane;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-cli-dym-'));
    cfg = path.join(dir, 'shipit.yml');
    fs.writeFileSync(
      cfg,
      'project: demo\nservices:\n  web: { image: demo-web:v1, port: 8080 }\n  api: { image: demo-api:v1, port: 8080, hosts: [api.test] }\n',
    );
    f = fakePlane();
    api = new ApiServer(
      f.plane,
      ensureToken(path.join(dir, '.shipit', 'token')),
      pino({ level: 'silent' }),
    );
    await api.listen({ socketPath: path.join(dir, '.shipit', 'daemon.sock') });
  });
  afterEach(async () => {
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('deploy wbe: exit 2, names the services and "web", changes nothing', async () => {
    const r = await run(['deploy', 'wbe', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `error: unknown service "wbe" in ${cfg} (services: web, api); did you mean "web"?\n`,
    );
    expect(f.calls).toEqual([]);
  });

  it.each([
    [['promote', 'wbe']],
    [['abort', 'wbe']],
    [['rollback', 'wbe']],
    [['scale', 'wbe', '2']],
    [['status', 'wbe']],
    [['history', 'wbe']],
    [['logs', 'wbe']],
    [['preview', 'up', 'pr-1', '--service', 'wbe', '--image', 'x:1']],
  ])('%j: exit 2 with "did you mean", nothing sent to the daemon', async (args) => {
    const r = await run([...args, '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown service "wbe"');
    expect(r.stderr).toContain('did you mean "web"?');
    expect(f.calls).toEqual([]);
  });

  it('--json: the error object carries the message', async () => {
    const r = await run(['promote', 'ap', '--json', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({
      type: 'error',
      code: 'usage',
      exitCode: 2,
      error: expect.stringContaining('did you mean "api"?'),
    });
  });

  it('a name nothing like a configured service still goes to the daemon', async () => {
    const r = await run(['scale', 'billing', '2', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(f.calls).toEqual(['scale billing']);
  });

  it('a misspelt command: exit 2 with the command it resembles', async () => {
    const r = await run(['deplyo', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Did you mean deploy?');
    expect(r.stderr).toContain('run shipit --help for usage');
    const sub = await run(['preview', 'dwon', 'pr-1', '--config', cfg]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain('Did you mean down?');
    expect(f.calls).toEqual([]);
  });
});
