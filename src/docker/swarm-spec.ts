// Pure mapping between shipit's port types and the Swarm API's JSON (no I/O):
// the service spec a ContainerSpec becomes, and the ContainerInfo a service and
// its newest task read back as.

import type { ContainerInfo } from '../domain/types';
import type { ContainerSpec } from '../ports/runtime';
import { containerLabels, containerName, LABEL, networkName } from './runtime';

/** The parts of a Swarm service the adapter reads (GET /services). */
export interface SwarmService {
  ID: string;
  Version: { Index: number };
  CreatedAt?: string;
  Spec: SwarmServiceSpec;
}

export interface SwarmServiceSpec {
  Name: string;
  Labels?: Record<string, string>;
  TaskTemplate: {
    ContainerSpec: {
      Image: string;
      Labels?: Record<string, string>;
      Args?: string[];
      Env?: string[];
      Hosts?: string[];
      StopGracePeriod?: number;
    };
    Resources?: { Limits?: { MemoryBytes?: number; NanoCPUs?: number } };
    RestartPolicy?: { Condition: 'none' | 'on-failure' | 'any' };
    Networks?: { Target: string }[];
  };
  Mode: { Replicated: { Replicas: number } };
  EndpointSpec?: { Mode: 'dnsrr' | 'vip' };
}

/** The parts of a Swarm task the adapter reads (GET /tasks). */
export interface SwarmTask {
  ID: string;
  ServiceID: string;
  NodeID?: string;
  Slot?: number;
  Version: { Index: number };
  CreatedAt?: string;
  DesiredState: string;
  Status: {
    State: string;
    Err?: string;
    Message?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
  };
  NetworksAttachments?: { Network: { Spec?: { Name?: string } }; Addresses?: string[] }[];
}

/** Task states after which the task never runs again. */
const TERMINAL = new Set(['complete', 'shutdown', 'failed', 'rejected', 'orphaned', 'remove']);

export const isTerminal = (t: SwarmTask): boolean => TERMINAL.has(t.Status.State);

/**
 * One Swarm service per container (replicas 1, named like a container):
 * start/stop/remove of one indexed replica map one to one onto the port, so
 * the planners, the healer and the contract suite stay unchanged; Swarm
 * chooses the node. Restart policy `none`: a task that dies is replaced by
 * shipit's healer (it re-probes before routing), not behind the router's back.
 */
export function serviceSpec(spec: ContainerSpec, gateway: string | null): SwarmServiceSpec {
  const labels = containerLabels(spec);
  const limits: { MemoryBytes?: number; NanoCPUs?: number } = {};
  if (spec.memoryBytes !== undefined) limits.MemoryBytes = spec.memoryBytes;
  if (spec.cpus !== undefined) limits.NanoCPUs = Math.round(spec.cpus * 1e9);
  return {
    Name: containerName(spec),
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: spec.image,
        // The same labels on the task's container: engine events carry them.
        Labels: labels,
        ...(spec.command && spec.command.length ? { Args: spec.command } : {}),
        Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        // Swarm's hosts format is "IP name"; linked names point at shipit (see networkGateway).
        ...(gateway && spec.links?.length
          ? { Hosts: spec.links.map((l) => `${gateway} ${l}`) }
          : {}),
        // A removal is a force-removal; stop() sets the grace it is given.
        StopGracePeriod: 0,
      },
      ...(Object.keys(limits).length ? { Resources: { Limits: limits } } : {}),
      RestartPolicy: { Condition: 'none' },
      Networks: [{ Target: networkName(spec.project) }],
    },
    Mode: { Replicated: { Replicas: 1 } },
    // No VIP: the routing mesh needs IPVS, and shipit's proxy routes to tasks itself.
    EndpointSpec: { Mode: 'dnsrr' },
  };
}

/** The task that stands for the service now: the newest one (a service has one slot). */
export function currentTask(tasks: SwarmTask[]): SwarmTask | undefined {
  let best: SwarmTask | undefined;
  for (const t of tasks) {
    if (!best || t.Version.Index > best.Version.Index) best = t;
  }
  return best;
}

function intLabel(labels: Record<string, string>, key: string): number {
  const n = Number.parseInt(labels[key] ?? '', 10);
  return Number.isFinite(n) ? n : 0;
}

/** Docker's container vocabulary for a task state. */
function stateOf(task: SwarmTask | undefined, replicas: number): string {
  // Scaled to 0 (a stop on another node): Swarm deleted the task.
  if (!task) return replicas === 0 ? 'exited' : 'created';
  const s = task.Status.State;
  if (s === 'running') return task.DesiredState === 'running' ? 'running' : 'stopping';
  if (TERMINAL.has(s)) return 'exited';
  return 'created'; // new, pending, assigned, accepted, preparing, starting
}

/** The task's address on the project's overlay network. */
export function overlayAddress(task: SwarmTask, project: string): string | null {
  const att = task.NetworksAttachments?.find((a) => a.Network.Spec?.Name === networkName(project));
  const cidr = att?.Addresses?.[0];
  return cidr ? cidr.split('/')[0] : null;
}

/**
 * `address` is where shipit reaches the running task (see SwarmRuntime.addressOf);
 * `nodeUp` false marks a task whose node left: it counts as dead.
 */
export function toContainerInfo(
  svc: SwarmService,
  task: SwarmTask | undefined,
  address: string | null,
  nodeUp: boolean,
): ContainerInfo {
  const labels = svc.Spec.Labels ?? {};
  let state = stateOf(task, svc.Spec.Mode.Replicated.Replicas);
  if (!nodeUp && state !== 'exited') state = 'exited';
  const running = state === 'running';
  const exited = state === 'exited';
  return {
    id: svc.ID,
    name: svc.Spec.Name,
    project: labels[LABEL.project] ?? '',
    service: labels[LABEL.service] ?? '',
    release: intLabel(labels, LABEL.release),
    index: intLabel(labels, LABEL.index),
    image: svc.Spec.TaskTemplate.ContainerSpec.Image,
    running,
    state,
    ip: running ? address : null,
    port: intLabel(labels, LABEL.port),
    // A task lost with its node has no exit code of its own: 137, as for a killed container.
    exitCode: exited ? (nodeUp ? (task?.Status.ContainerStatus?.ExitCode ?? 0) : 137) : null,
  };
}
