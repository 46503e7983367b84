import type Docker from 'dockerode';
import {
  containerName,
  defaultSocketPath,
  DockerRuntime,
  networkName,
  toContainerInfo,
} from './runtime';

describe('DockerRuntime (no engine needed)', () => {
  it('defaults the socket from DOCKER_HOST unix:// or /var/run/docker.sock', () => {
    expect(defaultSocketPath({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })).toBe(
      '/run/user/1000/docker.sock',
    );
    expect(defaultSocketPath({ DOCKER_HOST: 'tcp://10.0.0.1:2375' })).toBe('/var/run/docker.sock');
    expect(defaultSocketPath({})).toBe('/var/run/docker.sock');
    expect(new DockerRuntime({ socketPath: '/x.sock' }).socketPath).toBe('/x.sock');
  });

  it('names containers and networks as the spec says', () => {
    expect(containerName({ project: 'shop', service: 'web', release: 12, index: 0 })).toBe(
      'shop-web-r12-0',
    );
    expect(networkName('shop')).toBe('shop_shipit');
  });

  it('maps an unreachable socket to ShipitError(unreachable) with a hint', async () => {
    const rt = new DockerRuntime({ socketPath: '/nonexistent.sock' });
    await expect(rt.ping()).rejects.toMatchObject({
      code: 'unreachable',
      message: 'Docker engine not reachable at /nonexistent.sock',
      hint: expect.stringContaining('docker-bootstrap.sh'),
    });
    await expect(rt.list({ project: 'p' })).rejects.toMatchObject({ code: 'unreachable' });
    await expect(rt.inspect('x')).rejects.toMatchObject({ code: 'unreachable' });
  });

  it('maps inspect JSON to ContainerInfo', () => {
    const base = {
      Id: 'abc',
      Name: '/shop-web-r2-1',
      Image: 'sha256:123',
      Config: {
        Image: 'shop:2',
        Labels: {
          'io.shipit.project': 'shop',
          'io.shipit.service': 'web',
          'io.shipit.release': '2',
          'io.shipit.index': '1',
          'io.shipit.port': '3000',
        },
      },
      NetworkSettings: {
        Networks: { bridge: { IPAddress: '172.17.0.9' }, shop_shipit: { IPAddress: '172.30.0.4' } },
      },
    };
    const running = { ...base, State: { Status: 'running', Running: true, ExitCode: 0 } };
    expect(toContainerInfo(running as unknown as Docker.ContainerInspectInfo)).toEqual({
      id: 'abc',
      name: 'shop-web-r2-1',
      project: 'shop',
      service: 'web',
      release: 2,
      index: 1,
      image: 'shop:2',
      running: true,
      state: 'running',
      ip: '172.30.0.4',
      port: 3000,
      exitCode: null,
    });
    const exited = { ...base, State: { Status: 'exited', Running: false, ExitCode: 137 } };
    expect(toContainerInfo(exited as unknown as Docker.ContainerInspectInfo)).toMatchObject({
      running: false,
      ip: null,
      exitCode: 137,
    });
    const created = { ...base, State: { Status: 'created', Running: false, ExitCode: 0 } };
    expect(toContainerInfo(created as unknown as Docker.ContainerInspectInfo).exitCode).toBeNull();
  });
});
