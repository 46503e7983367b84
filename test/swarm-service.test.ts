// shipit itself as a Swarm service (docker-stack.yml, issue 10): `docker stack deploy` runs
// the daemon from the Dockerfile's image on a manager, attached to the project's overlay
// network (so it routes to the tasks' overlay addresses) with its ports published on the
// node and its state in a named volume; the daemon deploys the app with runtime: swarm.
// Then its task is killed (SIGKILL, no clean shutdown): Swarm starts a new task, which must
// adopt the running app services from their labels (none replaced) and the release history
// from the state store (a rollback works).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, freePort, type CliResult } from './support/harness';
import { get, run, until } from './support/process';
import { inSubnet } from '../src/docker/swarm-network';
import {
  createProjectNetwork,
  purgeSwarmProject,
  stackDaemonContainer,
  useSwarm,
} from './support/swarm';
import { startLoadProcess } from '../scripts/lib/load.js';

jest.setTimeout(240_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('docker-stack.yml: shipit as a Swarm service', () => {
  const id = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
  const stack = `shipit-sw-${id}`;
  const project = `sws-${id}`;
  const volume = `${stack}-state`;
  const network = `${project}_shipit`;
  let subnet = '';
  const image = 'shipit-test:local';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-stack-'));
  const config = path.join(dir, 'shipit.yml');
  let proxyPort = 0;
  let apiPort = 0;
  let token = '';
  let release: () => void = () => undefined;
  let nodeId = '';
  /** The node had the label before: left as it was. */
  let labelled = false;

  const docker = (...args: string[]) => run('docker', args);
  const cli = (...args: string[]) =>
    run(process.execPath, [BIN, ...args, '--config', config], {
      SHIPIT_HOST: `http://127.0.0.1:${apiPort}`,
      SHIPIT_TOKEN: token,
      SHIPIT_CONFIG: '',
    });
  const daemonContainer = async () => stackDaemonContainer(stack);
  const appServices = async () =>
    (await docker('service', 'ls', '-q', '--filter', `label=io.shipit.project=${project}`)).stdout
      .split('\n')
      .filter(Boolean)
      .sort();

  beforeAll(async () => {
    release = useSwarm();
    nodeId = (await docker('info', '-f', '{{.Swarm.NodeID}}')).stdout.trim();
    labelled =
      (
        await docker('node', 'inspect', nodeId, '-f', '{{index .Spec.Labels "shipit.state"}}')
      ).stdout.trim() === 'true';
    expect((await docker('node', 'update', '--label-add', 'shipit.state=true', nodeId)).code).toBe(
      0,
    );
    proxyPort = await freePort();
    apiPort = await freePort();
    fs.writeFileSync(
      config,
      `project: ${project}
runtime: swarm
proxy:
  listen: 0.0.0.0:${proxyPort}
api:
  listen: 0.0.0.0:${apiPort}
services:
  web:
    image: demo-web:v1
    port: 8080
    replicas: 2
    healthcheck: { path: /healthz, interval: 250ms, timeout: 1s }
    deploy: { strategy: blue-green, drainTimeout: 5s, keepPrevious: 10m }
`,
    );
    // The image of the Dockerfile, built as test/compose.test.ts builds it (a cache hit when
    // that ran first); pretest made the registry-free base image.
    const built = await docker(
      'build',
      '-q',
      '--build-arg',
      'BASE=shipit-node-base:local',
      '-t',
      image,
      '.',
    );
    if (built.code !== 0) console.log(built.stdout, built.stderr);
    expect(built.code).toBe(0);
    subnet = createProjectNetwork(project);
  });

  afterAll(async () => {
    await docker('stack', 'rm', stack);
    // The daemon's task container goes a moment after its service; then its volume can go.
    for (let i = 0; i < 60 && (await daemonContainer()); i++) await sleep(250);
    purgeSwarmProject(project);
    for (let i = 0; i < 40; i++) {
      const r = await docker('volume', 'rm', volume);
      if (r.code === 0 || /no such volume/i.test(r.stderr)) break;
      await sleep(250);
    }
    if (nodeId && !labelled) await docker('node', 'update', '--label-rm', 'shipit.state', nodeId);
    release();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('docker stack deploy: the daemon runs as a service on the manager and deploys v1', async () => {
    const dep = await run(
      'docker',
      ['stack', 'deploy', '--resolve-image', 'never', '-c', 'docker-stack.yml', stack],
      {
        SHIPIT_PROJECT_DIR: dir,
        SHIPIT_NETWORK: network,
        SHIPIT_PROXY_PORT: String(proxyPort),
        SHIPIT_API_PORT: String(apiPort),
        SHIPIT_IMAGE: image,
        SHIPIT_STATE_VOLUME: volume,
      },
    );
    if (dep.code !== 0) console.log(dep.stdout, dep.stderr);
    expect(dep.code).toBe(0);
    const t0 = Date.now();
    await until('the API answers', 90_000, async () =>
      (await get(apiPort, '/healthz')).status === 200 ? true : null,
    );
    await until('v1 is served through the proxy', 90_000, async () => {
      const r = await get(proxyPort, '/');
      return r.status === 200 && r.body.includes('version=v1') ? true : null;
    });
    console.log(`daemon task up and v1 served ${Date.now() - t0} ms after docker stack deploy`);
    const tok = await docker(
      'exec',
      await daemonContainer(),
      'node',
      '-p',
      "fs.readFileSync('/var/lib/shipit/token', 'utf8').trim()",
    );
    expect(tok.code).toBe(0);
    token = tok.stdout.trim();
    expect(token).toMatch(/^[\w-]{32,}$/);
    expect(await appServices()).toHaveLength(2);
    // On the overlay network, the daemon routes to the tasks' overlay addresses.
    const st = await cli('status', '--json');
    expect(st.code).toBe(0);
    const targets = (
      JSON.parse(st.stdout) as { services: { targets: { address: string }[] }[] }
    ).services[0].targets.map((x) => x.address.split(':')[0]);
    console.log(`targets ${targets.join(', ')}; overlay subnet ${subnet}`);
    expect(targets).toHaveLength(2);
    expect(targets.every((ip) => inSubnet(ip, subnet))).toBe(true);
  });

  it('its task killed: Swarm starts a new one, which adopts the running apps and the history', async () => {
    const before = await appServices();
    const old = await daemonContainer();
    expect(old).not.toBe('');
    const killedAt = Date.now();
    expect((await docker('kill', old)).code).toBe(0);
    // The proxy is down until the new task serves (one daemon at a time: stop-first).
    await until('the new task serves v1', 90_000, async () => {
      const r = await get(proxyPort, '/');
      return r.status === 200 && r.body.includes('version=v1') ? true : null;
    });
    const gap = Date.now() - killedAt;
    const now = await daemonContainer();
    console.log(`daemon task killed: proxy served again after ${gap} ms (new task ${now})`);
    expect(now).not.toBe('');
    expect(now).not.toBe(old);
    // Adopted, not replaced: the same app services, and the state store's history.
    expect(await appServices()).toEqual(before);
    const st = await cli('status');
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/r1\s+live/);

    // The new task deploys and rolls back under load, with 0 failed requests.
    const load = startLoadProcess({
      port: proxyPort,
      clients: 12,
      slowClients: 3,
      slowPath: '/slow?1',
    });
    let stopped: Awaited<ReturnType<typeof load.stop>> | null = null;
    let deploy: CliResult;
    let back: CliResult;
    let backAt = 0;
    try {
      await load.ready;
      await sleep(300);
      deploy = await cli('deploy', '--image', 'demo-web:v2');
      await sleep(500);
      back = await cli('rollback', 'web');
      backAt = Date.now();
      await sleep(1000);
      stopped = await load.stop();
    } finally {
      // A failed step must not leave the load process (and so this jest run) alive.
      if (!stopped) await load.stop().catch(() => undefined);
    }
    const stats = stopped;
    expect(deploy.stderr).toBe('');
    expect(deploy.code).toBe(0);
    expect(deploy.stdout).toMatch(/web r2 is live/);
    expect(back.stderr).toBe('');
    expect(back.code).toBe(0);
    console.log(
      `after the reschedule: deploy ${deploy.ms} ms, rollback ${back.ms} ms; load: ${stats.ok} ok, ${stats.failed} failed (slow: ${stats.slowOk} ok, ${stats.slowFailed} failed)${stats.failures.length ? `\n  ${stats.failures.slice(0, 10).join('\n  ')}` : ''}`,
    );
    expect(stats.failed).toBe(0);
    expect(stats.samples.some((s) => s.version === 'v2')).toBe(true);
    const late = stats.samples.filter((s) => s.started > backAt);
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((s) => s.version === 'v1')).toBe(true);
  });
});
