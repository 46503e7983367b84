// shipit itself in a container (docker-compose.yml, Dockerfile, docs/compose.md), brought up
// with Debian's docker-compose from this checkout: the daemon deploys demo-web:v1, the host's
// CLI deploys v2 through the container's API while keep-alive load runs through the proxy,
// and `docker-compose down` stops it. Only what must differ in a test is overridden, through
// the variables the compose file reads: the base image (no registry here: scripts/base-image.sh
// makes one from this machine's node), the image tag, and the project folder, whose shipit.yml
// is examples/compose/shipit.yml with its own project name and free ports.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { BIN, ROOT, freePort } from './support/harness';
import { get, run, until } from './support/process';
import { startLoadProcess } from '../scripts/lib/load.js';

jest.setTimeout(240_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('docker-compose.yml: shipit in a container', () => {
  const id = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
  const composeProject = `shipit-compose-${id}`;
  const project = `cmp-${id}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-compose-'));
  const env: NodeJS.ProcessEnv = {
    SHIPIT_BASE: process.env.SHIPIT_BASE ?? 'shipit-node-base:local',
    SHIPIT_IMAGE: 'shipit-test:local',
    SHIPIT_PROJECT_DIR: dir,
    COMPOSE_PROJECT_NAME: composeProject,
    // The compose file sets everything; a caller's settings must not leak in.
    SHIPIT_CONFIG: '',
    SHIPIT_HOME: '',
    SHIPIT_HOST: '',
    SHIPIT_TOKEN: '',
  };
  const compose = (...args: string[]) =>
    run('docker-compose', ['-p', composeProject, ...args], env);
  let proxyPort = 0;
  let apiPort = 0;
  let wentDown = false;
  const imageId = async () =>
    (
      await run('docker', ['image', 'inspect', '-f', '{{.Id}}', env.SHIPIT_IMAGE as string])
    ).stdout.trim();
  let oldImage = '';

  beforeAll(async () => {
    oldImage = await imageId();
    proxyPort = await freePort();
    apiPort = await freePort();
    const doc = parseDocument(
      fs.readFileSync(path.join(ROOT, 'examples', 'compose', 'shipit.yml'), 'utf8'),
    );
    doc.set('project', project);
    const port = (key: string, p: number) =>
      doc.setIn([key, 'listen'], String(doc.getIn([key, 'listen'])).replace(/:\d+$/, `:${p}`));
    port('proxy', proxyPort);
    port('api', apiPort);
    fs.writeFileSync(path.join(dir, 'shipit.yml'), doc.toString());
    // pretest runs scripts/base-image.sh (it also rebuilds a stale base); run it here only
    // when the image is missing, e.g. for a lone `npx jest test/compose.test.ts`.
    const base = env.SHIPIT_BASE as string;
    if (
      base === 'shipit-node-base:local' &&
      (await run('docker', ['image', 'inspect', base])).code
    ) {
      const made = await run('bash', [path.join(ROOT, 'scripts', 'base-image.sh')]);
      if (made.code !== 0) console.log(made.stdout, made.stderr);
      expect(made.code).toBe(0);
    }
  });

  afterAll(async () => {
    if (!wentDown) await compose('down', '-v', '--timeout', '10');
    // The daemon leaves its app containers running when it stops (the next `up` adopts them).
    const ids = await run('docker', [
      'ps',
      '-aq',
      '--filter',
      'label=io.shipit.managed=true',
      '--filter',
      `label=io.shipit.project=${project}`,
    ]);
    const list = ids.stdout.split('\n').filter(Boolean);
    if (list.length) await run('docker', ['rm', '-f', ...list]);
    await run('docker', ['network', 'rm', `${project}_shipit`]);
    // The image this run's build replaced (a new dist/ makes a new one): not left dangling.
    if (oldImage && oldImage !== (await imageId())) await run('docker', ['image', 'rm', oldImage]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('up -d: the daemon starts in its container and deploys v1', async () => {
    const up = await compose('up', '-d', '--build');
    console.log(`docker-compose up -d --build: ${up.ms} ms`);
    if (up.code !== 0) console.log(up.stdout, up.stderr);
    expect(up.code).toBe(0);
    const t0 = Date.now();
    await until('the API answers', 60_000, async () =>
      (await get(apiPort, '/healthz')).status === 200 ? true : null,
    );
    const live = await until('v1 is served through the proxy', 60_000, async () => {
      const r = await get(proxyPort, '/');
      return r.status === 200 && r.body.includes('version=v1') ? r.body : null;
    });
    console.log(
      `API and v1 up ${Date.now() - t0} ms after docker-compose returned: ${live.trim()}`,
    );
  });

  it('the host CLI deploys v2 through the API with 0 failed requests; down stops it', async () => {
    // The token the daemon wrote into its state volume, read as docs/compose.md says.
    const tok = await compose(
      'exec',
      '-T',
      'shipit',
      'node',
      '-p',
      "fs.readFileSync('/var/lib/shipit/token', 'utf8').trim()",
    );
    expect(tok.code).toBe(0);
    const token = tok.stdout.trim();
    expect(token).toMatch(/^[\w-]{32,}$/);
    expect((await get(apiPort, '/v1/status')).status).toBe(401);
    expect((await get(apiPort, '/v1/status', token)).status).toBe(200);
    // The CLI inside the container finds the config and the token file by itself.
    const inside = await compose('exec', '-T', 'shipit', 'node', 'bin/shipit.js', 'status');
    expect(inside.code).toBe(0);
    expect(inside.stdout).toMatch(/r1\s+live/);

    const load = startLoadProcess({
      port: proxyPort,
      clients: 20,
      slowClients: 4,
      slowPath: '/slow?1',
    });
    await load.ready;
    await sleep(500);
    const deploy = await run(
      process.execPath,
      [
        BIN,
        'deploy',
        '--config',
        path.join(dir, 'shipit.yml'),
        '--host',
        `http://127.0.0.1:${apiPort}`,
        '--token',
        token,
        '--image',
        'demo-web:v2',
      ],
      { SHIPIT_HOST: '', SHIPIT_TOKEN: '' },
    );
    const deployedAt = Date.now();
    await sleep(1500);
    const stats = await load.stop();
    console.log(
      `deploy of v2 through the container's API: ${deploy.ms} ms; load: ${stats.ok} ok, ${stats.failed} failed (slow: ${stats.slowOk} ok, ${stats.slowFailed} failed)${stats.failures.length ? `\n  ${stats.failures.slice(0, 10).join('\n  ')}` : ''}`,
    );
    expect(deploy.stderr).toBe('');
    expect(deploy.code).toBe(0);
    expect(deploy.stdout).toMatch(/web r2 is live/);
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBeGreaterThan(50);
    const after = stats.samples.filter((s) => s.started > deployedAt);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((s) => s.version === 'v2')).toBe(true);
    expect((await get(proxyPort, '/')).body).toMatch(/version=v2/);

    const down = await compose('down', '-v');
    console.log(`docker-compose down -v: ${down.ms} ms`);
    expect(down.code).toBe(0);
    wentDown = true;
    expect((await compose('ps', '-q')).stdout.trim()).toBe('');
    await expect(get(apiPort, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });
});
