// Remote use from CI: the API on TCP, the CLI elsewhere with --host and --token
// (or SHIPIT_HOST / SHIPIT_TOKEN); without the token it exits 3; --lock-wait
// queues a deploy behind one in progress instead of exit 4.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Daemon } from '../src/daemon';
import { loadConfig } from '../src/config/load';
import { BIN, TestProject, freePort, type CliResult } from './support/harness';

jest.setTimeout(180_000);

describe('remote use: API over TCP, CLI with --host and --token', () => {
  const t = new TestProject();
  const ci = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-ci-'));
  let daemon: Daemon;
  let host = '';
  let token = '';

  /** The CLI in another directory (a CI checkout): shipit.yml, but no state directory, no token file. */
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      const t0 = Date.now();
      const p = spawn(process.execPath, [BIN, ...args], {
        cwd: ci,
        env: { ...process.env, SHIPIT_TOKEN: '', SHIPIT_HOST: '', ...env },
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (c) => (stdout += c));
      p.stderr.on('data', (c) => (stderr += c));
      p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 }));
    });

  beforeAll(async () => {
    const apiPort = await freePort();
    host = `http://127.0.0.1:${apiPort}`;
    await t.init({ replicas: 1, extraYaml: `api:\n  listen: 127.0.0.1:${apiPort}\n` });
    daemon = await Daemon.start(loadConfig({ path: path.join(t.dir, 'shipit.yml') }), {
      log: pino({ level: process.env.SHIPIT_TEST_LOG ?? 'silent' }),
    });
    await daemon.deployMissing();
    token = fs.readFileSync(path.join(t.dir, '.shipit', 'token'), 'utf8').trim();
    fs.copyFileSync(path.join(t.dir, 'shipit.yml'), path.join(ci, 'shipit.yml'));
  });
  afterAll(async () => {
    await daemon?.shutdown(true);
    await t.cleanup();
    fs.rmSync(ci, { recursive: true, force: true });
  });

  it('deploys and rolls back with --host and --token', async () => {
    const d = await cli(['deploy', '--image', 'demo-web:v2', '--host', host, '--token', token]);
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    expect(daemon.store.releasesWithStatus(['live'], 'web')[0]).toMatchObject({ number: 2 });
    const r = await cli(['rollback', '--json'], { SHIPIT_HOST: host, SHIPIT_TOKEN: token });
    expect(r.code).toBe(0);
    expect(daemon.store.releasesWithStatus(['live'], 'web')[0]).toMatchObject({ number: 1 });
  });

  it('without the token, or with a wrong one: exit 3, nothing changes', async () => {
    const none = await cli(['deploy', '--image', 'demo-web:v2', '--host', host]);
    expect(none.code).toBe(3);
    const wrong = await cli(['status', '--host', host, '--token', 'nope']);
    expect(wrong.code).toBe(3);
    expect(daemon.store.releasesWithStatus(['live'], 'web')[0]).toMatchObject({ number: 1 });
    const bad = await cli(['status', '--host', 'https://x:1', '--token', token]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/expected http:\/\/HOST:PORT/);
  });

  it('--lock-wait waits for the deploy in progress, then deploys', async () => {
    const auth = ['--host', host, '--token', token];
    // a canary that holds the service at its first pause (5% for 30 s by default)
    const canary = cli(['deploy', '--image', 'demo-web:v2', '--strategy', 'canary', ...auth]);
    for (let i = 0; i < 200 && !daemon.deployer.rolloutOf('web'); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(daemon.deployer.rolloutOf('web')).not.toBeNull();
    const busy = await cli(['deploy', '--image', 'demo-web:v1', ...auth]);
    expect(busy.code).toBe(4);
    const queued = cli(['deploy', '--image', 'demo-web:v1', '--lock-wait', '60s', ...auth]);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await cli(['abort', ...auth])).code).toBe(0);
    await canary;
    const q = await queued;
    expect(q.stderr).toBe('');
    expect(q.code).toBe(0);
    const live = daemon.store.releasesWithStatus(['live'], 'web')[0];
    expect(live.image).toBe('demo-web:v1');
    expect(live.number).toBeGreaterThan(3);
  });
});
