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
});
