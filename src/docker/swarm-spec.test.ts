import { currentTask, overlayAddress, serviceSpec, toContainerInfo } from './swarm-spec';
import type { SwarmService, SwarmTask } from './swarm-spec';

const spec = {
  project: 'p',
  service: 'web',
  release: 2,
  index: 1,
  image: 'app:1',
  port: 8080,
  env: { A: '1' },
};

function service(replicas = 1): SwarmService {
  return {
    ID: 'svc1',
    Version: { Index: 1 },
    Spec: { ...serviceSpec(spec, null), Mode: { Replicated: { Replicas: replicas } } },
  };
}

function task(over: Partial<SwarmTask> & { state?: string; exit?: number } = {}): SwarmTask {
  const { state = 'running', exit, ...rest } = over;
  return {
    ID: 't1',
    ServiceID: 'svc1',
    NodeID: 'n1',
    Version: { Index: 5 },
    DesiredState: 'running',
    Status: { State: state, ContainerStatus: { ContainerID: 'c1', ExitCode: exit ?? 0 } },
    NetworksAttachments: [{ Network: { Spec: { Name: 'p_shipit' } }, Addresses: ['10.0.1.7/24'] }],
    ...rest,
  };
}

describe('swarm-spec', () => {
  it('maps a ContainerSpec onto a one-replica dnsrr service with restart none', () => {
    const s = serviceSpec(
      { ...spec, command: ['serve'], links: ['api'], cpus: 0.25 },
      '172.18.0.1',
    );
    expect(s).toMatchObject({
      Name: 'p-web-r2-1',
      Mode: { Replicated: { Replicas: 1 } },
      EndpointSpec: { Mode: 'dnsrr' },
      TaskTemplate: {
        ContainerSpec: { Image: 'app:1', Args: ['serve'], Env: ['A=1'], Hosts: ['172.18.0.1 api'] },
        RestartPolicy: { Condition: 'none' },
        Resources: { Limits: { NanoCPUs: 250_000_000 } },
        Networks: [{ Target: 'p_shipit' }],
      },
    });
    expect(s.Labels).toMatchObject({ 'io.shipit.release': '2', 'io.shipit.index': '1' });
  });

  it('reads the newest task, its overlay address and its state', () => {
    const older = task({ ID: 'old', Version: { Index: 2 }, state: 'failed', exit: 1 });
    const newer = task({ ID: 'new', Version: { Index: 9 } });
    expect(currentTask([newer, older])?.ID).toBe('new');
    expect(overlayAddress(newer, 'p')).toBe('10.0.1.7');
    expect(overlayAddress(newer, 'other')).toBeNull();
    expect(toContainerInfo(service(), newer, '172.18.0.5', true)).toMatchObject({
      id: 'svc1',
      name: 'p-web-r2-1',
      running: true,
      state: 'running',
      ip: '172.18.0.5',
      exitCode: null,
    });
    expect(toContainerInfo(service(), older, null, true)).toMatchObject({
      running: false,
      state: 'exited',
      exitCode: 1,
    });
  });

  it('a task whose node is down counts as killed; a service scaled to 0 as exited', () => {
    expect(toContainerInfo(service(), task(), '10.0.1.7', false)).toMatchObject({
      running: false,
      state: 'exited',
      ip: null,
      exitCode: 137,
    });
    expect(toContainerInfo(service(0), undefined, null, true)).toMatchObject({
      running: false,
      state: 'exited',
      exitCode: 0,
    });
    expect(toContainerInfo(service(1), undefined, null, true)).toMatchObject({
      running: false,
      state: 'created',
      exitCode: null,
    });
    expect(toContainerInfo(service(), task({ DesiredState: 'shutdown' }), 'x', true).state).toBe(
      'stopping',
    );
  });
  it('sets a memory limit alone, omits empty limits, args and hosts, and keeps its own labels over extra ones', () => {
    const s = serviceSpec(
      {
        ...spec,
        memoryBytes: 64 * 1024 * 1024,
        command: [],
        links: ['api'],
        labels: { team: 'x', 'io.shipit.project': 'spoofed' },
      },
      null, // no gateway known: no Hosts even with links
    );
    expect(s.TaskTemplate.Resources).toEqual({ Limits: { MemoryBytes: 67108864 } });
    expect(s.TaskTemplate.ContainerSpec).not.toHaveProperty('Args');
    expect(s.TaskTemplate.ContainerSpec).not.toHaveProperty('Hosts');
    expect(s.Labels).toMatchObject({ team: 'x', 'io.shipit.project': 'p' });
    expect(s.TaskTemplate.ContainerSpec.Labels).toEqual(s.Labels);

    const bare = serviceSpec(spec, '172.18.0.1');
    expect(bare.TaskTemplate).not.toHaveProperty('Resources');
    expect(bare.TaskTemplate.ContainerSpec).not.toHaveProperty('Hosts');
  });

  it('has no overlay address without an attachment to the project network carrying one', () => {
    expect(overlayAddress(task({ NetworksAttachments: undefined }), 'p')).toBeNull();
    expect(overlayAddress(task({ NetworksAttachments: [{ Network: {} }] }), 'p')).toBeNull();
    expect(
      overlayAddress(
        task({ NetworksAttachments: [{ Network: { Spec: { Name: 'p_shipit' } } }] }),
        'p',
      ),
    ).toBeNull();
    expect(
      overlayAddress(
        task({
          NetworksAttachments: [
            { Network: { Spec: { Name: 'ingress' } }, Addresses: ['10.0.0.2/24'] },
            { Network: { Spec: { Name: 'p_shipit' } }, Addresses: [] },
          ],
        }),
        'p',
      ),
    ).toBeNull();
  });

  it('a service without shipit labels reads as empty names and zero numbers', () => {
    const bare = service();
    bare.Spec = { ...bare.Spec, Labels: undefined };
    expect(toContainerInfo(bare, task(), '10.0.0.9', true)).toMatchObject({
      project: '',
      service: '',
      release: 0,
      index: 0,
      port: 0,
      running: true,
      ip: '10.0.0.9',
    });
    const junk = service();
    junk.Spec = { ...junk.Spec, Labels: { 'io.shipit.release': 'abc' } };
    expect(toContainerInfo(junk, task(), null, true).release).toBe(0);
  });

  it('a task still being set up is "created"; an exited one without a container status exits 0', () => {
    expect(toContainerInfo(service(), task({ state: 'preparing' }), null, true)).toMatchObject({
      state: 'created',
      running: false,
      exitCode: null,
    });
    const noStatus = task({ state: 'complete' });
    noStatus.Status = { State: 'complete' };
    expect(toContainerInfo(service(), noStatus, null, true)).toMatchObject({
      state: 'exited',
      exitCode: 0,
    });
  });
});
