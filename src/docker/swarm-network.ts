// The project's overlay network and the host's way to the tasks on this node
// (docker_gwbridge), for SwarmRuntime.

import os from 'node:os';
import { configError, runtimeError } from '../domain/errors';
import { dockerMessage, LABEL, networkName, statusOf } from './runtime';
import type { SwarmApi } from './swarm-api';

const GWBRIDGE = 'docker_gwbridge';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class SwarmNetworks {
  private readonly knownNetworks = new Set<string>();
  private readonly ensuring = new Map<string, Promise<void>>();
  private gw: string | null = null;
  /** Container id -> its address on docker_gwbridge (fixed for the container's life). */
  private readonly bridgeIps = new Map<string, string>();
  /** Project -> shipit's own address on its overlay network, or null when not on it. */
  private readonly own = new Map<string, Promise<string | null | undefined>>();

  constructor(
    private readonly api: SwarmApi,
    /** This process's network interfaces (os.networkInterfaces; replaced in unit tests). */
    private readonly interfaces: () => NodeJS.Dict<
      os.NetworkInterfaceInfo[]
    > = os.networkInterfaces,
  ) {}

  known(project: string): boolean {
    return this.knownNetworks.has(project);
  }

  async ensure(project: string): Promise<void> {
    const inflight = this.ensuring.get(project);
    if (inflight) return inflight;
    const p = this.doEnsure(project).finally(() => this.ensuring.delete(project));
    this.ensuring.set(project, p);
    return p;
  }

  private async doEnsure(project: string): Promise<void> {
    const name = networkName(project);
    const found = await this.api.find<{ Scope?: string; Driver?: string }>(`/networks/${name}`);
    if (found && found.Scope !== 'swarm') {
      throw configError(
        `network ${name} exists as a ${found.Driver ?? '?'} network of one engine (left by runtime: docker?); runtime: swarm needs an overlay network of that name`,
        `remove it once no container uses it: shipit down --remove with runtime: docker, or docker network rm ${name}`,
      );
    }
    if (!found) await this.create(project);
    this.knownNetworks.add(project);
  }

  async create(project: string): Promise<void> {
    try {
      await this.api.post('/networks/create', {
        Name: networkName(project),
        Driver: 'overlay',
        // Attachable: a shipit running in a container (or a one-off debug container) can join it.
        Attachable: true,
        CheckDuplicate: true,
        Labels: { [LABEL.managed]: 'true', [LABEL.project]: project },
      });
    } catch (e) {
      if (statusOf(e) !== 409) throw this.api.translate(e);
    }
  }

  async remove(project: string): Promise<void> {
    this.knownNetworks.delete(project);
    this.own.delete(project);
    // Removed services' tasks leave the network a moment after the service is gone.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await this.api.del(`/networks/${networkName(project)}`);
        // This engine keeps its copy a moment after the manager removed it: a
        // create meanwhile would be refused ("already exists").
        while (Date.now() < deadline && (await this.api.find(`/networks/${networkName(project)}`)))
          await sleep(250);
        return;
      } catch (e) {
        if (statusOf(e) === 404 || /not found/i.test(dockerMessage(e))) return;
        if (!/active endpoints|in use/i.test(dockerMessage(e)) || Date.now() > deadline)
          throw this.api.translate(e);
      }
      await sleep(250);
    }
  }

  /**
   * shipit's own address on the project's overlay network, when this process runs
   * attached to it (shipit as a Swarm service or container on that network, see
   * docker-stack.yml); null otherwise. Then every task, on any node, is reached at
   * its overlay address, and linked names point at this address. Found by matching
   * this process's interfaces against the network's endpoints on this node (an
   * address merely inside the subnet, e.g. a LAN address, does not count); asked
   * once per project (again after a failed lookup, or while the network does not
   * exist yet).
   */
  ownAddress(project: string): Promise<string | null> {
    let p = this.own.get(project);
    if (!p) {
      const asked = this.findOwnAddress(project);
      p = asked;
      this.own.set(project, asked);
      const forget = () => {
        if (this.own.get(project) === asked) this.own.delete(project);
      };
      asked.then((found) => found === undefined && forget(), forget);
    }
    return p.then((found) => found ?? null);
  }

  /** undefined: the network does not exist (yet). */
  private async findOwnAddress(project: string): Promise<string | null | undefined> {
    if (!project) return null;
    const net = await this.api.find<{
      Scope?: string;
      IPAM?: { Config?: { Subnet?: string }[] };
      Containers?: Record<string, { IPv4Address?: string }>;
    }>(`/networks/${networkName(project)}`);
    if (!net) return undefined;
    if (net.Scope !== 'swarm') return null;
    const subnets = (net.IPAM?.Config ?? []).map((c) => c.Subnet).filter(Boolean) as string[];
    const endpoints = new Set(
      Object.values(net.Containers ?? {}).map((c) => (c.IPv4Address ?? '').split('/')[0]),
    );
    for (const addrs of Object.values(this.interfaces())) {
      for (const a of addrs ?? []) {
        if (
          a.family === 'IPv4' &&
          !a.internal &&
          endpoints.has(a.address) &&
          subnets.some((s) => inSubnet(a.address, s))
        )
          return a.address;
      }
    }
    return null;
  }

  /**
   * Where linked names point: shipit's own overlay address when it runs on the
   * overlay network; otherwise the host side of docker_gwbridge (every task
   * container has its default route there), so links work for tasks on this node.
   */
  async gateway(project: string): Promise<string> {
    const own = await this.ownAddress(project);
    if (own) return own;
    await this.ensure(project);
    if (this.gw) return this.gw;
    const net = await this.api.get<{ IPAM?: { Config?: { Gateway?: string }[] } }>(
      `/networks/${GWBRIDGE}`,
    );
    const gw = net.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
    if (!gw) throw runtimeError(`network ${GWBRIDGE} has no gateway address`);
    this.gw = gw;
    return gw;
  }

  /**
   * Where shipit, on this node's host, reaches a local task: its address on
   * docker_gwbridge. The overlay's addresses live in a namespace the host has
   * no route into (measured: they are not reachable from the host). Tasks on
   * other nodes are given by their overlay address (reachable from inside the
   * overlay, or with a route into it: see docs/swarm.md).
   */
  async bridgeIp(containerId: string): Promise<string | null> {
    const known = this.bridgeIps.get(containerId);
    if (known) return known;
    const net = await this.api.get<{ Containers?: Record<string, { IPv4Address?: string }> }>(
      `/networks/${GWBRIDGE}`,
    );
    for (const [cid, c] of Object.entries(net.Containers ?? {})) {
      if (c.IPv4Address) this.bridgeIps.set(cid, c.IPv4Address.split('/')[0]);
    }
    if (this.bridgeIps.size > 5000) this.bridgeIps.clear();
    return this.bridgeIps.get(containerId) ?? null;
  }
}

function ipv4(ip: string): number | null {
  const parts = ip.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    const v = Number(p);
    if (!/^\d{1,3}$/.test(p) || v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

/** Whether an IPv4 address lies in a CIDR subnet ("10.0.1.0/24"). */
export function inSubnet(ip: string, cidr: string): boolean {
  const [base, bitsText = ''] = cidr.split('/');
  if (!/^\d{1,2}$/.test(bitsText)) return false;
  const bits = Number(bitsText);
  const a = ipv4(ip);
  const b = ipv4(base);
  if (a === null || b === null || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const size = 2 ** (32 - bits);
  return Math.floor(a / size) === Math.floor(b / size);
}
