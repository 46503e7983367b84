import { ShipitError, runtimeError } from '../domain/errors';
import type { SwarmApi } from './swarm-api';
import { SwarmNetworks, inSubnet } from './swarm-network';

const httpErr = (statusCode: number, message: string) =>
  Object.assign(new Error(`HTTP ${statusCode}`), { statusCode, json: { message } });

/** The narrow SwarmApi surface SwarmNetworks uses, each call a jest mock. */
function fakeApi() {
  return {
    find: jest.fn(async (_path: string): Promise<unknown> => null),
    get: jest.fn(async (_path: string): Promise<unknown> => ({})),
    post: jest.fn(async (_path: string, _body: unknown): Promise<unknown> => ({})),
    del: jest.fn(async (_path: string): Promise<unknown> => undefined),
    translate: jest.fn((e: unknown) => runtimeError(`translated: ${(e as Error).message}`)),
  };
}
const networks = (api: ReturnType<typeof fakeApi>) => new SwarmNetworks(api as unknown as SwarmApi);

describe('SwarmNetworks.ensure', () => {
  it('creates the overlay network once, also for concurrent callers, then knows it', async () => {
    const api = fakeApi();
    const n = networks(api);
    expect(n.known('p')).toBe(false);
    await Promise.all([n.ensure('p'), n.ensure('p')]);
    expect(api.find).toHaveBeenCalledTimes(1);
    expect(api.find).toHaveBeenCalledWith('/networks/p_shipit');
    expect(api.post).toHaveBeenCalledTimes(1);
    expect(api.post).toHaveBeenCalledWith('/networks/create', {
      Name: 'p_shipit',
      Driver: 'overlay',
      Attachable: true,
      CheckDuplicate: true,
      Labels: { 'io.shipit.managed': 'true', 'io.shipit.project': 'p' },
    });
    expect(n.known('p')).toBe(true);
  });

  it('uses an existing swarm network without creating one', async () => {
    const api = fakeApi();
    api.find.mockResolvedValue({ Scope: 'swarm', Driver: 'overlay' });
    const n = networks(api);
    await n.ensure('p');
    expect(api.post).not.toHaveBeenCalled();
    expect(n.known('p')).toBe(true);
  });

  it('refuses a local network of that name (left by runtime: docker), naming its driver', async () => {
    const api = fakeApi();
    api.find.mockResolvedValue({ Scope: 'local', Driver: 'bridge' });
    const n = networks(api);
    const e = (await n.ensure('p').catch((x: unknown) => x)) as ShipitError;
    expect(e.code).toBe('config');
    expect(e.message).toContain('exists as a bridge network');
    expect(e.hint).toContain('docker network rm p_shipit');
    expect(n.known('p')).toBe(false);
    // Without a driver in the answer.
    api.find.mockResolvedValue({});
    await expect(n.ensure('p')).rejects.toThrow('exists as a ? network');
    // A failed ensure is not cached: the next call asks again.
    api.find.mockResolvedValue({ Scope: 'swarm' });
    await n.ensure('p');
    expect(n.known('p')).toBe(true);
  });
});

describe('SwarmNetworks.create', () => {
  it('takes "already exists" (409) as success, and translates other errors', async () => {
    const api = fakeApi();
    const n = networks(api);
    api.post.mockRejectedValueOnce(httpErr(409, 'network with name p_shipit already exists'));
    await expect(n.create('p')).resolves.toBeUndefined();
    api.post.mockRejectedValueOnce(httpErr(500, 'boom'));
    await expect(n.create('p')).rejects.toMatchObject({ message: 'translated: HTTP 500' });
  });
});

describe('SwarmNetworks.remove', () => {
  afterEach(() => jest.useRealTimers());

  it('deletes the network, forgets it, and waits until this engine no longer has it', async () => {
    jest.useFakeTimers();
    const api = fakeApi();
    const n = networks(api);
    await n.ensure('p');
    let copies = 2; // the engine still shows it on the first two looks
    api.find.mockImplementation(async () => (copies-- > 0 ? { Scope: 'swarm' } : null));
    let done = false;
    const p = n.remove('p').then(() => (done = true));
    expect(n.known('p')).toBe(false);
    await jest.advanceTimersByTimeAsync(0);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(600);
    await p;
    expect(api.del).toHaveBeenCalledTimes(1);
    expect(api.del).toHaveBeenCalledWith('/networks/p_shipit');
    expect(api.find).toHaveBeenCalledTimes(1 + 3);
  });

  it('a network already gone (404 or "not found") is removed', async () => {
    const api = fakeApi();
    const n = networks(api);
    api.del.mockRejectedValueOnce(httpErr(404, 'network p_shipit not found'));
    await n.remove('p');
    api.del.mockRejectedValueOnce(new Error('Error: No such network: Not Found'));
    await n.remove('p');
    expect(api.del).toHaveBeenCalledTimes(2);
    expect(api.translate).not.toHaveBeenCalled();
  });

  it('retries while tasks still hold endpoints, then succeeds', async () => {
    jest.useFakeTimers();
    const api = fakeApi();
    const n = networks(api);
    api.del
      .mockRejectedValueOnce(
        httpErr(403, 'error while removing network: network has active endpoints'),
      )
      .mockRejectedValueOnce(httpErr(403, 'network is in use by task x'));
    const p = n.remove('p');
    await jest.advanceTimersByTimeAsync(1000);
    await p;
    expect(api.del).toHaveBeenCalledTimes(3);
  });

  it('gives up after 30 s of "in use", and fails at once on other errors', async () => {
    jest.useFakeTimers();
    const api = fakeApi();
    const n = networks(api);
    api.del.mockRejectedValue(httpErr(403, 'network has active endpoints'));
    const p = n.remove('p').catch((e: unknown) => e);
    await jest.advanceTimersByTimeAsync(31_000);
    expect(await p).toMatchObject({ message: 'translated: HTTP 403' });
    const tries = api.del.mock.calls.length;
    expect(tries).toBeGreaterThan(100);

    api.del.mockReset();
    api.del.mockRejectedValue(httpErr(500, 'rpc error'));
    await expect(n.remove('p')).rejects.toMatchObject({ message: 'translated: HTTP 500' });
    expect(api.del).toHaveBeenCalledTimes(1);
  });
});

describe('SwarmNetworks.gateway / bridgeIp', () => {
  it("answers docker_gwbridge's gateway, asked once, after ensuring the project's network", async () => {
    const api = fakeApi();
    api.get.mockResolvedValue({ IPAM: { Config: [{ Subnet: 'x' }, { Gateway: '172.18.0.1' }] } });
    const n = networks(api);
    await expect(n.gateway('p')).resolves.toBe('172.18.0.1');
    await expect(n.gateway('q')).resolves.toBe('172.18.0.1');
    expect(api.get).toHaveBeenCalledTimes(1);
    expect(api.get).toHaveBeenCalledWith('/networks/docker_gwbridge');
    expect(n.known('p') && n.known('q')).toBe(true);
  });

  it('fails when docker_gwbridge has no gateway', async () => {
    for (const net of [{}, { IPAM: {} }, { IPAM: { Config: [{}] } }]) {
      const api = fakeApi();
      api.get.mockResolvedValue(net);
      await expect(networks(api).gateway('p')).rejects.toMatchObject({
        code: 'runtime',
        message: 'network docker_gwbridge has no gateway address',
      });
    }
  });

  it("gives a container's docker_gwbridge address without its prefix, cached; null when absent", async () => {
    const api = fakeApi();
    api.get.mockResolvedValue({
      Containers: {
        c1: { IPv4Address: '172.18.0.5/16' },
        c2: { IPv4Address: '' },
        c3: {},
      },
    });
    const n = networks(api);
    await expect(n.bridgeIp('c1')).resolves.toBe('172.18.0.5');
    await expect(n.bridgeIp('c1')).resolves.toBe('172.18.0.5');
    expect(api.get).toHaveBeenCalledTimes(1);
    await expect(n.bridgeIp('c2')).resolves.toBeNull();
    await expect(n.bridgeIp('c3')).resolves.toBeNull();
    expect(api.get).toHaveBeenCalledTimes(3);
    api.get.mockResolvedValue({});
    await expect(n.bridgeIp('c4')).resolves.toBeNull();
  });

  it('bounds its cache: past 5000 containers it starts over', async () => {
    const api = fakeApi();
    const many: Record<string, { IPv4Address: string }> = {};
    for (let i = 0; i < 5001; i++) many[`c${i}`] = { IPv4Address: `10.0.${i >> 8}.${i & 255}/16` };
    api.get.mockResolvedValue({ Containers: many });
    const n = networks(api);
    // Cleared after filling, so even a listed container is not answered from this look.
    await expect(n.bridgeIp('c1')).resolves.toBeNull();
    api.get.mockResolvedValue({ Containers: { c1: { IPv4Address: '10.0.0.1/16' } } });
    await expect(n.bridgeIp('c1')).resolves.toBe('10.0.0.1');
  });
});

describe('SwarmNetworks.ownAddress: shipit on the overlay network itself', () => {
  const nic = (address: string, family = 'IPv4', internal = false) =>
    ({ address, family, internal, netmask: '', mac: '', cidr: null }) as never;
  const overlay = {
    Scope: 'swarm',
    IPAM: { Config: [{ Subnet: '10.0.1.0/24' }] },
    Containers: { task1: { IPv4Address: '10.0.1.3/24' }, self: { IPv4Address: '10.0.1.7/24' } },
  };

  it("finds this process's address in the network's subnet, asked once; links then point at it", async () => {
    const api = fakeApi();
    api.find.mockResolvedValue(overlay);
    const n = new SwarmNetworks(api as unknown as SwarmApi, () => ({
      lo: [nic('127.0.0.1', 'IPv4', true)],
      eth1: [nic('172.18.0.3'), nic('fe80::1', 'IPv6')],
      eth0: [nic('10.0.1.7')],
    }));
    await expect(n.ownAddress('p')).resolves.toBe('10.0.1.7');
    await expect(n.ownAddress('p')).resolves.toBe('10.0.1.7');
    expect(api.find).toHaveBeenCalledTimes(1);
    expect(api.find).toHaveBeenCalledWith('/networks/p_shipit');
    await expect(n.gateway('p')).resolves.toBe('10.0.1.7');
    // docker_gwbridge is not asked.
    expect(api.get).not.toHaveBeenCalled();
  });

  it('is null on the host (no interface in the subnet): links point at docker_gwbridge', async () => {
    const api = fakeApi();
    api.find.mockResolvedValue(overlay);
    api.get.mockResolvedValue({ IPAM: { Config: [{ Gateway: '172.18.0.1' }] } });
    const n = new SwarmNetworks(api as unknown as SwarmApi, () => ({
      eth0: [nic('192.168.1.4')],
      lo: [nic('10.0.1.7', 'IPv4', true)],
      none: undefined,
    }));
    await expect(n.ownAddress('p')).resolves.toBeNull();
    await expect(n.gateway('p')).resolves.toBe('172.18.0.1');
    // A network without IPAM config has no subnet to be in.
    api.find.mockResolvedValue({ Scope: 'swarm' });
    await expect(
      new SwarmNetworks(api as unknown as SwarmApi, () => ({})).ownAddress('q'),
    ).resolves.toBeNull();
    await expect(n.ownAddress('')).resolves.toBeNull();
  });

  it('asks again while the network does not exist, after a failed lookup, and after remove', async () => {
    const api = fakeApi();
    const n = new SwarmNetworks(api as unknown as SwarmApi, () => ({ eth0: [nic('10.0.1.7')] }));
    await expect(n.ownAddress('p')).resolves.toBeNull();
    api.find.mockRejectedValueOnce(new Error('engine down'));
    await expect(n.ownAddress('p')).rejects.toThrow('engine down');
    api.find.mockResolvedValue(overlay);
    await expect(n.ownAddress('p')).resolves.toBe('10.0.1.7');
    expect(api.find).toHaveBeenCalledTimes(3);
    // Gone from this engine at once (remove waits until it is).
    api.find.mockResolvedValue(null);
    await n.remove('p');
    api.find.mockResolvedValue({ Scope: 'swarm', IPAM: { Config: [{ Subnet: '10.0.9.0/24' }] } });
    await expect(n.ownAddress('p')).resolves.toBeNull();
  });

  it('does not count an address that is in the subnet but not an endpoint of the network, nor a local network', async () => {
    const api = fakeApi();
    // A LAN address that happens to fall in the overlay's range: not on the network.
    api.find.mockResolvedValue({
      ...overlay,
      Containers: { task1: { IPv4Address: '10.0.1.3/24' } },
    });
    const lan = () => ({ eth0: [nic('10.0.1.7')] });
    await expect(
      new SwarmNetworks(api as unknown as SwarmApi, lan).ownAddress('p'),
    ).resolves.toBeNull();
    // A bridge of that name left by runtime: docker, whose gateway is this host's address.
    api.find.mockResolvedValue({ ...overlay, Scope: 'local' });
    await expect(
      new SwarmNetworks(api as unknown as SwarmApi, lan).ownAddress('p'),
    ).resolves.toBeNull();
  });
});

describe('inSubnet', () => {
  it.each([
    ['10.0.1.7', '10.0.1.0/24', true],
    ['10.0.2.7', '10.0.1.0/24', false],
    ['10.0.1.255', '10.0.0.0/23', true],
    ['10.0.2.0', '10.0.0.0/23', false],
    ['192.168.5.5', '0.0.0.0/0', true],
    ['10.0.1.7', '10.0.1.7/32', true],
    ['10.0.1.8', '10.0.1.7/32', false],
    ['10.0.1.7', '10.0.1.0', false],
    ['10.0.1.7', '10.0.1.0/33', false],
    ['10.0.1', '10.0.1.0/24', false],
    ['10.0.1.256', '10.0.1.0/24', false],
    ['fe80::1', '10.0.1.0/24', false],
    ['10.0.1.7', 'x/24', false],
    ['10.0.1.7', '10.0.1.0/', false],
    ['10.0.1.7', '10.0.1.0/ 24', false],
  ])('%s in %s: %s', (ip, cidr, want) => {
    expect(inSubnet(ip, cidr)).toBe(want);
  });
});
