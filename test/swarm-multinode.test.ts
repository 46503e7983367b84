// runtime: swarm over three nodes on one machine: the main engine (manager)
// and two extra dockerd in their own network namespaces (scripts/swarm-multinode.sh),
// with shipit itself as a Swarm service on the project's overlay network (docker-stack.yml).
// A release spreads over the nodes and serves; one worker dies under load.
// Slow (~2–3 min) and it changes the host (bridge, netns, routes): runs with
// SHIPIT_SWARM_MULTINODE=1 only, on an engine that is not in swarm mode.
import { execFileSync, spawnSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { ROOT, TestProject, freePort } from './support/harness';
import {
  createProjectNetwork,
  purgeSwarmProject,
  stackDaemonContainer,
  swarmState,
} from './support/swarm';
import { startLoadProcess } from '../scripts/lib/load.js';

const ON = process.env.SHIPIT_SWARM_MULTINODE === '1';
const SCRIPT = path.join(ROOT, 'scripts', 'swarm-multinode.sh');
const WORKERS = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
jest.setTimeout(300_000);

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}
const quiet = (cmd: string, ...args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
const workerSock = (i: number) => `unix:///run/shmn-w${i}/docker.sock`;

/** Node id -> hostname-free label ("manager", "w1", "w2"). */
function nodeNames(): Map<string, string> {
  const m = new Map<string, string>([
    [sh('docker', 'info', '--format', '{{.Swarm.NodeID}}'), 'manager'],
  ]);
  for (let i = 1; i <= WORKERS; i++)
    m.set(sh('docker', '-H', workerSock(i), 'info', '--format', '{{.Swarm.NodeID}}'), `w${i}`);
  return m;
}

/** Where each running task of the project's release runs: service name -> node label. */
let names = new Map<string, string>();
function placement(project: string, release: number): Record<string, string> {
  const out: Record<string, string> = {};
  const ids = sh(
    'docker',
    'service',
    'ls',
    '-q',
    '--filter',
    `label=io.shipit.project=${project}`,
    '--filter',
    `label=io.shipit.release=${release}`,
  )
    .split('\n')
    .filter(Boolean);
  for (const id of ids) {
    // The healer may remove a service between the listing and these calls: skip it.
    try {
      const line = sh(
        'docker',
        'service',
        'ps',
        id,
        '--filter',
        'desired-state=running',
        '--format',
        '{{.Name}} {{.Node}} {{.CurrentState}}',
      );
      const task = sh(
        'docker',
        'service',
        'ps',
        id,
        '-q',
        '--filter',
        'desired-state=running',
      ).split('\n')[0];
      if (!task || !/Running/.test(line)) continue;
      const node = sh('docker', 'inspect', task, '--format', '{{.NodeID}}');
      out[sh('docker', 'service', 'inspect', id, '--format', '{{.Spec.Name}}')] =
        names.get(node) ?? node;
    } catch {
      continue;
    }
  }
  return out;
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/version', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

(ON ? describe : describe.skip)('runtime: swarm on three nodes (SHIPIT_SWARM_MULTINODE=1)', () => {
  // shipit runs as docs/swarm.md says: a Swarm service from docker-stack.yml on the manager,
  // attached to the project's overlay network, from where it reaches the tasks on every node
  // at their overlay addresses (the host has no route into an overlay network).
  const t = new TestProject();
  const stack = `${t.project}-shipit`;
  const network = `${t.project}_shipit`;
  const volume = `${stack}-state`;
  const image = 'shipit-test:local';
  let apiPort = 0;
  let token = '';
  let nodeId = '';
  const cli = (args: string[]) =>
    t.cli(args, { SHIPIT_HOST: `http://127.0.0.1:${apiPort}`, SHIPIT_TOKEN: token });
  const daemonContainer = () => stackDaemonContainer(stack);

  beforeAll(async () => {
    if (swarmState() === 'active')
      throw new Error(
        'the engine is in swarm mode already: this test makes its own swarm (docker swarm leave --force first)',
      );
    sh('bash', SCRIPT, 'up', String(WORKERS), 'demo-web:v1', 'demo-web:v2');
    await t.init();
    apiPort = await freePort();
    nodeId = sh('docker', 'info', '--format', '{{.Swarm.NodeID}}');
    sh('docker', 'node', 'update', '--label-add', 'shipit.state=true', nodeId);
    sh('docker', 'build', '-q', '--build-arg', 'BASE=shipit-node-base:local', '-t', image, ROOT);
    createProjectNetwork(t.project);
    t.writeConfig(`project: ${t.project}
runtime: swarm
proxy:
  listen: 0.0.0.0:${t.port}
api:
  listen: 0.0.0.0:${apiPort}
services:
  web:
    image: demo-web:v1
    port: 8080
    replicas: 6
    healthcheck: { path: /healthz, interval: 500ms, timeout: 1s, unhealthyThreshold: 2 }
    deploy: { strategy: blue-green, deployTimeout: 90s, drainTimeout: 5s }
`);
    execFileSync(
      'docker',
      [
        'stack',
        'deploy',
        '--resolve-image',
        'never',
        '-c',
        path.join(ROOT, 'docker-stack.yml'),
        stack,
      ],
      {
        env: {
          ...process.env,
          SHIPIT_PROJECT_DIR: t.dir,
          SHIPIT_NETWORK: network,
          SHIPIT_PROXY_PORT: String(t.port),
          SHIPIT_API_PORT: String(apiPort),
          SHIPIT_IMAGE: image,
          SHIPIT_STATE_VOLUME: volume,
        },
        stdio: 'pipe',
      },
    );
    // The daemon deploys v1 on start: ready once the six replicas serve.
    const deadline = Date.now() + 180_000;
    for (;;) {
      const c = daemonContainer();
      if (c && !token) {
        const r = quiet(
          'docker',
          'exec',
          c,
          'node',
          '-p',
          "fs.readFileSync('/var/lib/shipit/token','utf8').trim()",
        );
        if (r.status === 0) token = r.stdout.trim();
      }
      if (token) {
        const s = await cli(['status', '--json']);
        if (s.code === 0) {
          const st = JSON.parse(s.stdout) as {
            ready: boolean;
            services: { targets: { healthy: boolean }[] }[];
          };
          if (st.ready && st.services[0]?.targets.filter((x) => x.healthy).length === 6) break;
        }
      }
      if (Date.now() > deadline)
        throw new Error('the daemon service did not serve 6 replicas within 180 s');
      await sleep(1000);
    }
    names = nodeNames();
  });

  // A test that fails under load must not leave the clients running.
  let active: ReturnType<typeof startLoadProcess> | null = null;
  afterEach(async () => {
    await active?.stop().catch(() => undefined);
    active = null;
  });

  afterAll(async () => {
    try {
      quiet('docker', 'stack', 'rm', stack);
      for (let i = 0; i < 60 && daemonContainer(); i++) await sleep(250);
      await t.cleanup();
    } finally {
      purgeSwarmProject(t.project);
      for (let i = 0; i < 40 && quiet('docker', 'volume', 'rm', volume).status !== 0; i++)
        await sleep(250);
      quiet('bash', SCRIPT, 'down', String(WORKERS));
      quiet('docker', 'swarm', 'leave', '--force');
    }
  });

  it('spreads a release over the nodes, and every replica serves through the proxy', async () => {
    const where = placement(t.project, 1);
    console.log(`placement r1: ${JSON.stringify(where)}`);
    expect(Object.keys(where)).toHaveLength(6);
    expect(new Set(Object.values(where)).size).toBe(3);
    const hosts = new Set<string>();
    for (let i = 0; i < 120 && hosts.size < 6; i++)
      hosts.add(/host=(\S+)/.exec(await get(t.port))?.[1] ?? '?');
    expect(hosts.size).toBe(6);
    // Logs of every replica, those on the workers too (through the manager's service logs).
    const deadline = Date.now() + 15_000;
    let logs = '';
    while (Date.now() < deadline) {
      logs = (await cli(['logs', '-n', '500'])).stdout;
      if ([...hosts].every((h) => logs.includes(`host=${h} listening`))) break;
      await sleep(500);
    }
    expect([...hosts].filter((h) => !logs.includes(`host=${h} listening`))).toEqual([]);
  });

  it('a worker engine dies under load: only requests in flight on it fail; back to 6 replicas on the others', async () => {
    const before = placement(t.project, 1);
    const victim = Object.values(before).includes('w2') ? 2 : 1;
    const lost = Object.entries(before)
      .filter(([, n]) => n === `w${victim}`)
      .map(([s]) => s);
    const load = startLoadProcess({
      port: t.port,
      clients: 20,
      slowClients: 4,
      slowPath: '/slow?1',
    });
    await load.ready;
    active = load;
    await sleep(1500);
    // The node dies: its engine (dockerd, containerd, shims) is killed and its link cut, so its
    // containers are gone from the network as with a machine that powered off.
    const cids = sh('docker', '-H', workerSock(victim), 'ps', '-q').split('\n').filter(Boolean);
    const pids = cids.map((c) =>
      sh('docker', '-H', workerSock(victim), 'inspect', '-f', '{{.State.Pid}}', c),
    );
    const killedAt = Date.now();
    quiet('bash', SCRIPT, 'kill', String(victim));
    for (const p of pids) quiet('kill', '-9', p);
    quiet('ip', 'link', 'set', `shmn-h${victim}`, 'down');
    // Back to full replicas on the other nodes, through shipit's healer.
    let now: Record<string, string> = {};
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      now = placement(t.project, 1);
      if (Object.keys(now).length === 6 && !Object.values(now).includes(`w${victim}`)) break;
      await sleep(1000);
    }
    const healedMs = Date.now() - killedAt;
    await sleep(2000);
    active = null;
    const s = await load.stop();
    const afterKill = s.samples.filter((x) => x.started > killedAt);
    console.log(
      `worker w${victim} killed (${lost.length} replicas: ${lost.join(', ')}); back to 6 replicas after ${healedMs} ms: ${JSON.stringify(now)}\n` +
        `load: ${s.ok} ok, ${s.failed} failed (slow ${s.slowOk} ok, ${s.slowFailed} failed); ${afterKill.length} requests started after the kill\n  ${s.failures.slice(0, 10).join('\n  ')}`,
    );
    expect(Object.keys(now)).toHaveLength(6);
    expect(Object.values(now)).not.toContain(`w${victim}`);
    // In flight on the dead node: at most one request per client connection routed there.
    expect(s.failed + s.slowFailed).toBeLessThanOrEqual(24);
    const lateFailures = s.samples.filter((x) => x.started > killedAt + 10_000 && x.status !== 200);
    expect(lateFailures).toEqual([]);
  });
});
