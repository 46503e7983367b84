// The Docker Swarm adapter of the ContainerRuntime port (`runtime: swarm`).
// A shipit "container" is a Swarm service with one task (see swarm-spec.ts);
// its id is the service id. Talks to a swarm manager through dockerode.

import './lean-load'; // first: keeps gRPC and ssh2 out of the start
import Docker from 'dockerode';
import type { ContainerInfo } from '../domain/types';
import { configError, failed, notFound, runtimeError, type ShipitError } from '../domain/errors';
import type {
  ContainerEvent,
  ContainerRuntime,
  ContainerSpec,
  ContainerUsage,
  FollowLogsOptions,
  ListFilter,
  LogFollow,
  RuntimeLogLine,
} from '../ports/runtime';
import {
  containerName,
  defaultSocketPath,
  dockerMessage,
  DockerRuntime,
  LABEL,
  statusOf,
} from './runtime';
import {
  currentTask,
  isTerminal,
  overlayAddress,
  serviceSpec,
  toContainerInfo,
  type SwarmService,
  type SwarmTask,
} from './swarm-spec';
import { watchSwarm } from './swarm-watch';
import { SwarmNetworks } from './swarm-network';
import { SwarmApi } from './swarm-api';
import { serviceLogs, followServiceLogs } from './swarm-logs';

export interface SwarmRuntimeOptions {
  /** Unix socket of a swarm manager's engine; defaults to DOCKER_HOST (unix://…) or /var/run/docker.sock. */
  socketPath?: string;
  /** How long start() waits for the task to run (scheduling, image, container start). */
  startTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A task and where it runs, as the adapter resolves a shipit container id. */
interface Resolved {
  svc: SwarmService;
  task: SwarmTask | undefined;
  /** The task's container on this node's engine, when it runs here. */
  localContainer: string | null;
}

export class SwarmRuntime implements ContainerRuntime {
  readonly socketPath: string;
  private readonly api: SwarmApi;
  /** This node's engine, for what only the engine running a task can do (stop, stats, logs). */
  private readonly local: DockerRuntime;
  private readonly startTimeoutMs: number;
  private nodeId: string | null = null;
  private readonly networks: SwarmNetworks;
  private downNodes: { at: number; ids: Set<string> } | null = null;

  constructor(opts: SwarmRuntimeOptions = {}) {
    this.socketPath = opts.socketPath ?? defaultSocketPath();
    this.api = new SwarmApi(new Docker({ socketPath: this.socketPath }), this.socketPath);
    this.local = new DockerRuntime({ socketPath: this.socketPath });
    this.networks = new SwarmNetworks(this.api);
    this.startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  }

  /** Whether the engine at socketPath is a swarm manager (false when it does not answer). */
  static async isManager(socketPath: string): Promise<boolean> {
    const api = new SwarmApi(new Docker({ socketPath }), socketPath);
    try {
      const info = await api.get<{ Swarm?: { ControlAvailable?: boolean } }>('/info');
      return info.Swarm?.ControlAvailable === true;
    } catch {
      return false;
    }
  }

  /** Also checks that the engine is a swarm manager: `runtime: swarm` needs one. */
  async ping(): Promise<void> {
    await this.local.ping();
    await this.localNode();
  }

  private async localNode(): Promise<string> {
    if (this.nodeId) return this.nodeId;
    const info = await this.api.get<{
      Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string };
    }>('/info');
    const sw = info.Swarm ?? {};
    if (sw.LocalNodeState !== 'active' || !sw.ControlAvailable || !sw.NodeID) {
      throw configError(
        `runtime: swarm needs a Docker engine that is a swarm manager; the one at ${this.socketPath} is not (swarm state: ${sw.LocalNodeState ?? 'unknown'}${sw.LocalNodeState === 'active' ? ', worker' : ''})`,
        'run `docker swarm init` on this engine (or point DOCKER_HOST at a manager), or set runtime: docker',
      );
    }
    this.nodeId = sw.NodeID;
    return sw.NodeID;
  }

  ensureNetwork(project: string): Promise<void> {
    return this.networks.ensure(project);
  }

  removeNetwork(project: string): Promise<void> {
    return this.networks.remove(project);
  }

  networkGateway(project: string): Promise<string> {
    return this.networks.gateway(project);
  }

  /** Local images only: there is no registry, so every node needs the image loaded. */
  imageExists(image: string): Promise<boolean> {
    return this.local.imageExists(image);
  }

  async start(spec: ContainerSpec): Promise<ContainerInfo> {
    if (!(await this.imageExists(spec.image))) throw imageMissing(spec.image);
    await this.localNode();
    if (!this.networks.known(spec.project)) await this.ensureNetwork(spec.project);
    const name = containerName(spec);
    const gateway = spec.links?.length ? await this.networkGateway(spec.project) : null;
    // A leftover with the same name (crashed daemon, interrupted deploy) is replaced.
    await this.remove(name);
    let id: string;
    for (let attempt = 0; ; attempt++) {
      try {
        // No X-Registry-Auth header: the engine uses the image as named, without asking a registry.
        id = (await this.api.post<{ ID: string }>('/services/create', serviceSpec(spec, gateway)))
          .ID;
        break;
      } catch (e) {
        const msg = dockerMessage(e);
        if (attempt < 3 && statusOf(e) === 409) {
          await sleep(100 * (attempt + 1));
          await this.remove(name);
          continue;
        }
        if (attempt < 40 && /network .* not found/i.test(msg)) {
          // Removed behind our back; this engine's copy of it may not have gone yet,
          // so create it on the manager without asking the engine first.
          await this.networks.create(spec.project);
          await sleep(250);
          continue;
        }
        const t = this.api.translate(e);
        if (t.code === 'unreachable' || t.code === 'config') throw t;
        throw runtimeError(`cannot create service ${name}: ${msg}`);
      }
    }
    return this.waitRunning(id, name, spec.image);
  }

  /** Waits for the service's task to run with an address; on failure removes the service. */
  private async waitRunning(id: string, name: string, image: string): Promise<ContainerInfo> {
    const deadline = Date.now() + this.startTimeoutMs;
    let last = 'no task yet';
    for (;;) {
      const r = await this.resolve(id);
      if (!r) throw runtimeError(`service ${name} disappeared right after it was created`);
      const t = r.task;
      if (t && isTerminal(t)) {
        await this.remove(id);
        const why = t.Status.Err || t.Status.Message || t.Status.State;
        if (/no such image/i.test(why)) throw imageMissing(image);
        throw runtimeError(`cannot start container ${name}: ${why}`);
      }
      if (t) last = `${t.Status.State}${t.Status.Err ? `: ${t.Status.Err}` : ''}`;
      const info = await this.infoOf(r);
      if (info.running && info.ip) return info;
      if (Date.now() > deadline) {
        await this.remove(id);
        throw runtimeError(
          `the task of ${name} did not run within ${this.startTimeoutMs / 1000}s (${last})`,
          'docker service ps --no-trunc shows why (no node with the image, resources, constraints)',
        );
      }
      await sleep(100);
    }
  }

  async list(filter: ListFilter): Promise<ContainerInfo[]> {
    const label = [`${LABEL.managed}=true`, `${LABEL.project}=${filter.project}`];
    if (filter.service !== undefined) label.push(`${LABEL.service}=${filter.service}`);
    if (filter.release !== undefined) label.push(`${LABEL.release}=${filter.release}`);
    const services = await this.api.get<SwarmService[]>('/services', { filters: { label } });
    if (!services.length) return [];
    const tasks = await this.api.get<SwarmTask[]>('/tasks', {
      filters: { service: services.map((s) => s.ID) },
    });
    const infos = await Promise.all(
      services.map((svc) => {
        const task = currentTask(tasks.filter((t) => t.ServiceID === svc.ID));
        return this.infoOf({ svc, task, localContainer: this.localContainerOf(task) });
      }),
    );
    return infos.sort(byPosition);
  }

  async inspect(id: string): Promise<ContainerInfo | null> {
    const r = await this.resolve(id);
    return r ? this.infoOf(r) : null;
  }

  private async resolve(id: string): Promise<Resolved | null> {
    const svc = await this.api.find<SwarmService>(`/services/${encodeURIComponent(id)}`);
    if (!svc || svc.Spec.Labels?.[LABEL.managed] !== 'true') return null;
    const tasks = await this.api.get<SwarmTask[]>('/tasks', { filters: { service: [svc.ID] } });
    const task = currentTask(tasks);
    return { svc, task, localContainer: this.localContainerOf(task) };
  }

  private localContainerOf(task: SwarmTask | undefined): string | null {
    const cid = task?.Status.ContainerStatus?.ContainerID;
    return cid && task?.NodeID === this.nodeId ? cid : null;
  }

  private async infoOf(r: Resolved): Promise<ContainerInfo> {
    const { svc, task } = r;
    const project = svc.Spec.Labels?.[LABEL.project] ?? '';
    const remote = !!task?.NodeID && task.NodeID !== this.nodeId;
    const nodeUp = !remote || !(await this.nodesDown()).has(task.NodeID as string);
    let address: string | null = null;
    if (task && task.Status.State === 'running') {
      // On the overlay network itself, shipit reaches every task there; from the host, the
      // tasks on this node at their docker_gwbridge address (see SwarmNetworks).
      address =
        r.localContainer && !(await this.networks.ownAddress(project))
          ? await this.networks.bridgeIp(r.localContainer)
          : overlayAddress(task, project);
    }
    return toContainerInfo(svc, task, address, nodeUp);
  }

  /** Nodes that are not ready (down, disconnected), read at most once a second. */
  private async nodesDown(): Promise<Set<string>> {
    if (this.downNodes && Date.now() - this.downNodes.at < 1000) return this.downNodes.ids;
    const nodes = await this.api.get<{ ID: string; Status?: { State?: string } }[]>('/nodes');
    const ids = new Set(nodes.filter((n) => n.Status?.State !== 'ready').map((n) => n.ID));
    this.downNodes = { at: Date.now(), ids };
    return ids;
  }

  /**
   * On this node: `docker stop` of the task's container (Swarm, restart policy none,
   * keeps the exited task and its container, like a stopped container). On another
   * node: the service is scaled to 0 with the grace as its stop period; Swarm then
   * deletes the task, so no exit code survives (reported as 0).
   */
  async stop(id: string, graceMs: number): Promise<void> {
    const r = await this.resolve(id);
    if (!r?.task || isTerminal(r.task)) return;
    if (r.localContainer) {
      await this.local.stop(r.localContainer, graceMs);
    } else if (r.svc.Spec.Mode.Replicated.Replicas > 0) {
      const spec = structuredClone(r.svc.Spec);
      spec.Mode.Replicated.Replicas = 0;
      spec.TaskTemplate.ContainerSpec.StopGracePeriod = Math.max(0, graceMs) * 1e6;
      try {
        await this.api.post(`/services/${r.svc.ID}/update`, spec, { version: r.svc.Version.Index });
      } catch (e) {
        if (statusOf(e) === 404) return;
        throw this.api.translate(e);
      }
    }
    // The manager learns of the stop from the node's agent a moment later.
    const deadline = Date.now() + graceMs + 15_000;
    while (Date.now() < deadline) {
      const again = await this.resolve(id);
      if (!again?.task || isTerminal(again.task)) return;
      await sleep(200);
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.api.del(`/services/${encodeURIComponent(id)}`);
    } catch (e) {
      if (statusOf(e) === 404) return;
      throw this.api.translate(e);
    }
  }

  async usage(id: string): Promise<ContainerUsage | null> {
    const r = await this.resolve(id);
    // Stats come from the engine running the task: tasks on other nodes have none here.
    return r?.localContainer ? this.local.usage(r.localContainer) : null;
  }

  async logs(id: string, tail: number): Promise<string> {
    const r = await this.resolve(id);
    if (!r) throw notFound(`container ${id} not found`);
    if (r.localContainer) return this.local.logs(r.localContainer, tail);
    return serviceLogs(this.api, r.svc.ID, tail);
  }

  followLogs(id: string, opts: FollowLogsOptions, onLine: (l: RuntimeLogLine) => void): LogFollow {
    let inner: LogFollow | null = null;
    let stopped = false;
    let paused = false;
    const run = async (): Promise<void> => {
      const r = await this.resolve(id);
      if (!r) throw notFound(`container ${id} not found`);
      if (stopped) return;
      inner = r.localContainer
        ? this.local.followLogs(r.localContainer, opts, onLine)
        : followServiceLogs(this.api, r.svc.ID, opts, onLine, () => this.taskGone(id, r.task));
      if (paused) inner.pause();
      if (stopped) inner.stop();
      await inner.done;
    };
    return {
      stop: () => {
        stopped = true;
        inner?.stop();
      },
      pause: () => {
        paused = true;
        inner?.pause();
      },
      resume: () => {
        paused = false;
        inner?.resume();
      },
      done: run(),
    };
  }

  /** True once the task followed is no longer the service's running task. */
  private async taskGone(id: string, task: SwarmTask | undefined): Promise<boolean> {
    const r = await this.resolve(id).catch(() => undefined);
    if (r === undefined) return false; // manager unreachable: keep following
    return !r?.task || r.task.ID !== task?.ID || !(await this.infoOf(r)).running;
  }

  watch(project: string, onEvent: (e: ContainerEvent) => void): () => void {
    return watchSwarm(
      {
        events: (filters) => this.api.events(filters),
        snapshot: async (p) => {
          const label = [`${LABEL.managed}=true`, `${LABEL.project}=${p}`];
          const services = await this.api.get<SwarmService[]>('/services', { filters: { label } });
          const tasks = services.length
            ? await this.api.get<SwarmTask[]>('/tasks', {
                filters: { service: services.map((s) => s.ID) },
              })
            : [];
          const remote = tasks.some((t) => t.NodeID && t.NodeID !== this.nodeId);
          return { services, tasks, downNodes: remote ? await this.nodesDown() : new Set() };
        },
      },
      project,
      onEvent,
    );
  }
}

function imageMissing(image: string): ShipitError {
  return failed(
    `image "${image}" not found locally`,
    'build it or check the tag: docker images (with runtime: swarm, load it on every node)',
  );
}

function byPosition(a: ContainerInfo, b: ContainerInfo): number {
  return (
    a.service.localeCompare(b.service) ||
    a.release - b.release ||
    a.index - b.index ||
    a.id.localeCompare(b.id)
  );
}
