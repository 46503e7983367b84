// SwarmRuntime against a real single-node swarm: the shared contract, plus
// what the service spec must hold and the errors only Swarm has.

import { randomBytes } from 'node:crypto';
import { SwarmRuntime } from '../src/docker/swarm-runtime';
import type { ContainerSpec } from '../src/ports/runtime';
import { runtimeContract } from '../src/testing/runtime-contract';
import { HTTPD, IMAGE, docker, ensureTestImage, specOf } from './support/busybox-image';
import { purgeSwarmProject, swarmState, taskContainer, useSwarm } from './support/swarm';

const newProject = () => `sw-${randomBytes(4).toString('hex')}`;
let release: () => void = () => undefined;

beforeAll(() => {
  ensureTestImage();
  release = useSwarm();
});
afterAll(() => release());

runtimeContract('SwarmRuntime', async () => {
  const project = newProject();
  return {
    runtime: new SwarmRuntime(),
    image: IMAGE,
    project,
    command: HTTPD,
    cleanup: async () => purgeSwarmProject(project),
    writeLog: async (c, stream, text) => {
      const fd = stream === 'stdout' ? 1 : 2;
      const cid = taskContainer(c.id);
      docker('exec', cid, '/bin/busybox', 'sh', '-c', `echo "$0" >/proc/1/fd/${fd}`, text);
    },
  };
});

describe('SwarmRuntime (real single-node swarm)', () => {
  const project = newProject();
  const runtime = new SwarmRuntime();
  const spec = (over: Partial<ContainerSpec> = {}): ContainerSpec => specOf(project, over);

  afterAll(() => purgeSwarmProject(project));

  it('makes a one-task service with labels, env, limits, restart none, dnsrr and the overlay network', async () => {
    const info = await runtime.start(
      spec({
        release: 4,
        index: 2,
        env: { GREETING: 'hello world', EMPTY: '' },
        memoryBytes: 64 * 1024 * 1024,
        cpus: 0.5,
        links: ['api'],
        labels: { 'com.example.team': 'blue', 'io.shipit.project': 'spoofed' },
      }),
    );
    const svc = JSON.parse(docker('service', 'inspect', info.id))[0];
    expect(svc.Spec.Name).toBe(`${project}-web-r4-2`);
    const labels = {
      'io.shipit.managed': 'true',
      'io.shipit.project': project,
      'io.shipit.service': 'web',
      'io.shipit.release': '4',
      'io.shipit.index': '2',
      'io.shipit.port': '8080',
      'com.example.team': 'blue',
    };
    expect(svc.Spec.Labels).toMatchObject(labels);
    const cs = svc.Spec.TaskTemplate.ContainerSpec;
    expect(cs.Labels).toMatchObject(labels);
    expect(cs.Image).toBe(IMAGE);
    expect(cs.Args).toEqual(HTTPD);
    expect(cs.Env).toEqual(expect.arrayContaining(['GREETING=hello world', 'EMPTY=']));
    const gw = await runtime.networkGateway(project);
    expect(cs.Hosts).toEqual([`${gw} api`]);
    expect(svc.Spec.TaskTemplate.Resources.Limits).toEqual({
      MemoryBytes: 64 * 1024 * 1024,
      NanoCPUs: 500_000_000,
    });
    expect(svc.Spec.TaskTemplate.RestartPolicy.Condition).toBe('none');
    expect(svc.Spec.Mode.Replicated.Replicas).toBe(1);
    expect(svc.Spec.EndpointSpec.Mode).toBe('dnsrr');

    const net = JSON.parse(docker('network', 'inspect', `${project}_shipit`))[0];
    expect(net).toMatchObject({ Driver: 'overlay', Scope: 'swarm', Attachable: true });
    expect(net.Labels).toEqual({ 'io.shipit.managed': 'true', 'io.shipit.project': project });
    expect(svc.Spec.TaskTemplate.Networks).toEqual([{ Target: net.Id }]);

    // The address given is one the host reaches: the app answers there.
    const res = await fetch(`http://${info.ip}:8080/`).catch((e: Error) => e);
    expect(res).not.toBeInstanceOf(Error);
    // The container sees the limits, and the linked name in /etc/hosts.
    const raw = JSON.parse(docker('inspect', taskContainer(info.id)))[0];
    expect(raw.HostConfig.Memory).toBe(64 * 1024 * 1024);
    expect(raw.HostConfig.NanoCpus).toBe(500_000_000);
    expect(docker('exec', taskContainer(info.id), '/bin/busybox', 'cat', '/etc/hosts')).toMatch(
      new RegExp(`${gw.replace(/\./g, '\\.')}\\s+api`),
    );
    await runtime.remove(info.id);
  });

  it('reports the exit code of a crashed task, which Swarm does not restart', async () => {
    const info = await runtime.start(
      spec({ service: 'crash', command: ['/bin/busybox', 'sh', '-c', 'sleep 1; exit 3'] }),
    );
    const deadline = Date.now() + 15000;
    let now = await runtime.inspect(info.id);
    while (now?.running && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      now = await runtime.inspect(info.id);
    }
    expect(now).toMatchObject({ running: false, state: 'exited', exitCode: 3, ip: null });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await runtime.list({ project, service: 'crash' })).map((c) => c.running)).toEqual([
      false,
    ]);
    await runtime.remove(info.id);
  });

  it('a command that cannot run fails start with a runtime error and leaves nothing', async () => {
    await expect(
      runtime.start(spec({ service: 'badcmd', command: ['/no/such/binary'] })),
    ).rejects.toMatchObject({ code: 'runtime' });
    expect(await runtime.list({ project, service: 'badcmd' })).toEqual([]);
  });

  it('refuses a project whose network is a local bridge (left by runtime: docker)', async () => {
    const other = newProject();
    docker('network', 'create', '--label', `io.shipit.project=${other}`, `${other}_shipit`);
    try {
      await expect(runtime.ensureNetwork(other)).rejects.toMatchObject({
        code: 'config',
        message: expect.stringContaining(`network ${other}_shipit exists as a bridge network`),
      });
    } finally {
      docker('network', 'rm', `${other}_shipit`);
    }
  });

  // The engine that is not a swarm manager: test/swarm.test.ts (`shipit up` exits 2).
  it('ping rejects with unreachable on a missing socket', async () => {
    expect(swarmState()).toBe('active');
    await expect(
      new SwarmRuntime({ socketPath: '/nonexistent.sock' }).ping(),
    ).rejects.toMatchObject({ code: 'unreachable' });
  });
});
