// DockerRuntime against the real engine: the shared contract, plus what only
// a real engine can show (create options, log demultiplexing, TTY logs).

import { randomBytes } from 'node:crypto';
import { DockerRuntime } from '../src/docker/runtime';
import type { ContainerInfo } from '../src/domain/types';
import type { ContainerSpec } from '../src/ports/runtime';
import { runtimeContract } from '../src/testing/runtime-contract';
import { HTTPD, IMAGE, docker, ensureTestImage, specOf } from './support/busybox-image';

function dockerQuiet(...args: string[]): void {
  try {
    docker(...args);
  } catch {
    // cleanup: best effort
  }
}

/** Removes every container of the project (by label) and its network. */
function purgeProject(project: string): void {
  const ids = docker('ps', '-aq', '--filter', `label=io.shipit.project=${project}`)
    .split('\n')
    .filter(Boolean);
  if (ids.length) dockerQuiet('rm', '-f', '-v', ...ids);
  dockerQuiet('network', 'rm', `${project}_shipit`);
}

const newProject = () => `rt-${randomBytes(4).toString('hex')}`;

runtimeContract('DockerRuntime', async () => {
  ensureTestImage();
  const project = newProject();
  return {
    runtime: new DockerRuntime(),
    image: IMAGE,
    project,
    command: HTTPD,
    cleanup: async () => purgeProject(project),
    // PID 1's stdout/stderr are the container's: what a `docker exec` writes there is logged.
    writeLog: async (c, stream, text) => {
      const fd = stream === 'stdout' ? 1 : 2;
      docker('exec', c.id, '/bin/busybox', 'sh', '-c', `echo "$0" >/proc/1/fd/${fd}`, text);
    },
  };
});

describe('DockerRuntime (real engine)', () => {
  const project = newProject();
  const runtime = new DockerRuntime();
  const spec = (over: Partial<ContainerSpec> = {}): ContainerSpec => specOf(project, over);

  async function waitExited(id: string, timeoutMs = 15000): Promise<ContainerInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await runtime.inspect(id);
      if (info && !info.running && info.state === 'exited') return info;
      if (Date.now() > deadline) throw new Error(`container ${id} still running`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  beforeAll(() => ensureTestImage());
  afterAll(() => purgeProject(project));

  it('ping rejects with unreachable on a missing socket', async () => {
    await expect(
      new DockerRuntime({ socketPath: '/nonexistent.sock' }).ping(),
    ).rejects.toMatchObject({
      code: 'unreachable',
      message: 'Docker engine not reachable at /nonexistent.sock',
    });
  });

  it('tells whether the engine is a swarm manager, as docker info does; false when unreachable', async () => {
    const manager = (await import('node:child_process')).execFileSync(
      'docker',
      ['info', '--format', '{{.Swarm.ControlAvailable}}'],
      { encoding: 'utf8' },
    );
    expect(await runtime.isSwarmManager()).toBe(manager.trim() === 'true');
    expect(await new DockerRuntime({ socketPath: '/nonexistent.sock' }).isSwarmManager()).toBe(
      false,
    );
  });

  it('creates containers with env, labels, limits, restart policy no and the project network', async () => {
    const info = await runtime.start(
      spec({
        release: 4,
        index: 2,
        env: { GREETING: 'hello world', EMPTY: '' },
        memoryBytes: 64 * 1024 * 1024,
        cpus: 0.5,
        labels: { 'com.example.team': 'blue', 'io.shipit.project': 'spoofed' },
      }),
    );
    const raw = JSON.parse(docker('inspect', info.id))[0];
    expect(raw.Name).toBe(`/${project}-web-r4-2`);
    expect(raw.Config.Env).toEqual(expect.arrayContaining(['GREETING=hello world', 'EMPTY=']));
    expect(raw.Config.Cmd).toEqual(HTTPD);
    expect(raw.Config.Labels).toMatchObject({
      'io.shipit.managed': 'true',
      'io.shipit.project': project,
      'io.shipit.service': 'web',
      'io.shipit.release': '4',
      'io.shipit.index': '2',
      'io.shipit.port': '8080',
      'com.example.team': 'blue',
    });
    expect(raw.HostConfig.Memory).toBe(64 * 1024 * 1024);
    expect(raw.HostConfig.NanoCpus).toBe(500_000_000);
    expect(raw.HostConfig.RestartPolicy.Name).toBe('no');
    expect(Object.keys(raw.NetworkSettings.Networks)).toEqual([`${project}_shipit`]);
    expect(raw.NetworkSettings.Networks[`${project}_shipit`].IPAddress).toBe(info.ip);

    const net = JSON.parse(docker('network', 'inspect', `${project}_shipit`))[0];
    expect(net.Driver).toBe('bridge');
    expect(net.Labels).toEqual({ 'io.shipit.managed': 'true', 'io.shipit.project': project });
    await runtime.remove(info.id);
  });

  it('demultiplexes stdout and stderr in logs', async () => {
    const info = await runtime.start(
      spec({
        service: 'chatty',
        command: ['/bin/busybox', 'sh', '-c', 'echo out1; echo err1 >&2; echo out2; echo err2 >&2'],
      }),
    );
    await waitExited(info.id);
    const text = await runtime.logs(info.id, 100);
    expect(text.split('\n').filter(Boolean).sort()).toEqual(['err1', 'err2', 'out1', 'out2']);
    // No frame header bytes leaked into the text.
    expect([...text].filter((ch) => ch.charCodeAt(0) < 9)).toEqual([]);
    expect(await runtime.logs(info.id, 1)).toMatch(/^(out|err)2\n$/);
    await runtime.remove(info.id);
  });

  it('reads raw logs of a TTY container', async () => {
    const name = `${project}-tty-r1-0`;
    docker(
      'run',
      '-d',
      '-t',
      '--name',
      name,
      '--label',
      `io.shipit.project=${project}`,
      IMAGE,
      '/bin/busybox',
      'sh',
      '-c',
      'echo tty-out; echo tty-err >&2',
    );
    const id = docker('inspect', '-f', '{{.Id}}', name).trim();
    await waitExited(id);
    const text = await runtime.logs(id, 100);
    expect(text.replace(/\r/g, '')).toBe('tty-out\ntty-err\n');
    // followLogs: one raw stream (stdout), lines without their \r, each with the engine's time.
    const lines: { stream: string; text: string; ts: string }[] = [];
    await runtime.followLogs(id, { follow: true }, (l) => lines.push(l)).done;
    expect(lines.map((l) => [l.stream, l.text])).toEqual([
      ['stdout', 'tty-out'],
      ['stdout', 'tty-err'],
    ]);
    expect(lines[0].ts).toMatch(/^\d{10}\.\d{9}$/);
    await runtime.remove(id);
  });

  it('lists a container that was created but never started from the summary, without inspecting it', async () => {
    // As a container is between create and start (inspect would wait for the engine's lock).
    const id = docker(
      'create',
      '--name',
      `${project}-pending-r4-1`,
      '--network',
      'none',
      ...[
        'managed=true',
        `project=${project}`,
        'service=pending',
        'release=4',
        'index=1',
        'port=8080',
      ].flatMap((l) => ['--label', `io.shipit.${l}`]),
      IMAGE,
      ...HTTPD,
    ).trim();
    const inspect = jest.spyOn(runtime, 'inspect');
    try {
      const [c] = await runtime.list({ project, service: 'pending' });
      expect(c).toEqual({
        id,
        name: `${project}-pending-r4-1`,
        project,
        service: 'pending',
        release: 4,
        index: 1,
        image: IMAGE,
        running: false,
        state: 'created',
        ip: null,
        port: 8080,
        exitCode: null,
      });
      expect(inspect).not.toHaveBeenCalled();
    } finally {
      inspect.mockRestore();
      await runtime.remove(id);
    }
  });

  it('reports the exit code of a crashed container', async () => {
    const info = await runtime.start(
      spec({ service: 'crash', command: ['/bin/busybox', 'sh', '-c', 'exit 3'] }),
    );
    expect((await waitExited(info.id)).exitCode).toBe(3);
    await runtime.remove(info.id);
  });

  it('a command that cannot run fails start with a runtime error and leaves nothing', async () => {
    await expect(
      runtime.start(spec({ service: 'badcmd', command: ['/no/such/binary'] })),
    ).rejects.toMatchObject({ code: 'runtime' });
    expect(await runtime.list({ project, service: 'badcmd' })).toEqual([]);
  });

  it('recreates the network when it was removed behind its back', async () => {
    const a = await runtime.start(spec({ service: 'net' }));
    await runtime.remove(a.id);
    docker('network', 'rm', `${project}_shipit`);
    const b = await runtime.start(spec({ service: 'net' }));
    expect(b.running).toBe(true);
    expect(b.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    await runtime.remove(b.id);
  });

  it('stop honours the grace period', async () => {
    const info = await runtime.start(spec({ service: 'grace' }));
    // busybox httpd as pid 1 ignores SIGTERM: stop waits the grace, then kills.
    const t0 = Date.now();
    await runtime.stop(info.id, 1500);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1500);
    expect(took).toBeLessThan(10000);
    expect((await runtime.inspect(info.id))?.exitCode).toBe(137);
    await runtime.remove(info.id);
  });

  it('start with a missing image says how to fix it', async () => {
    await expect(
      runtime.start(spec({ service: 'ghost', image: `${project}-missing:v1` })),
    ).rejects.toMatchObject({
      code: 'failed',
      message: `image "${project}-missing:v1" not found locally`,
      hint: 'build it or check the tag: docker images',
    });
  });
});
