// The Docker adapter of the ContainerRuntime port. The only module that talks
// to dockerode: everything else sees ContainerInfo and ShipitErrors.

import './lean-load'; // first: keeps gRPC and ssh2 out of the start
import Docker from 'dockerode';
import type { ContainerInfo } from '../domain/types';
import {
  failed,
  isShipitError,
  notFound,
  runtimeError,
  ShipitError,
  unreachable,
} from '../domain/errors';
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
import { demuxLogs, FrameDecoder, TimestampedLineSplitter } from './demux';

export const LABEL = {
  managed: 'io.shipit.managed',
  project: 'io.shipit.project',
  service: 'io.shipit.service',
  release: 'io.shipit.release',
  index: 'io.shipit.index',
  port: 'io.shipit.port',
} as const;

export interface DockerRuntimeOptions {
  /** Unix socket of the engine; defaults to DOCKER_HOST (unix://…) or /var/run/docker.sock. */
  socketPath?: string;
}

export const networkName = (project: string): string => `${project}_shipit`;

export const containerName = (
  spec: Pick<ContainerSpec, 'project' | 'service' | 'release' | 'index'>,
): string => `${spec.project}-${spec.service}-r${spec.release}-${spec.index}`;

export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  if (host && host.startsWith('unix://') && host.length > 'unix://'.length) {
    return host.slice('unix://'.length);
  }
  return '/var/run/docker.sock';
}

interface DockerodeError extends Error {
  statusCode?: number;
  code?: string;
  json?: unknown;
}

/** Usage minus inactive page cache, like the docker CLI (cgroup v1 and v2 name it differently). */
function memoryInUse(m: Docker.ContainerStats['memory_stats'] | undefined): number {
  if (!m?.usage) return 0;
  const s = (m.stats ?? {}) as Record<string, number | undefined>;
  const inactive = s.total_inactive_file ?? s.inactive_file ?? 0;
  return inactive < m.usage ? m.usage - inactive : m.usage;
}

export function statusOf(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null ? (e as DockerodeError).statusCode : undefined;
}

/** Docker's own message ("No such container: …") when it sent one, else the error's. */
export function dockerMessage(e: unknown): string {
  const err = e as DockerodeError;
  const json = err?.json;
  if (
    json &&
    typeof json === 'object' &&
    typeof (json as { message?: unknown }).message === 'string'
  ) {
    return (json as { message: string }).message;
  }
  if (Buffer.isBuffer(json) && json.length) return json.toString('utf8').trim();
  if (typeof json === 'string' && json) return json.trim();
  return err instanceof Error ? err.message : String(e);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Follows an engine event stream (JSON lines) opened by `open`, line by line, opening it
 * again a second after it ends or the engine is unreachable, until the returned stop is called.
 */
export function followEventLines(
  open: () => Promise<NodeJS.ReadableStream>,
  onLine: (line: string) => void,
): () => void {
  let stopped = false;
  let stream: NodeJS.ReadableStream | null = null;
  const follow = async (): Promise<void> => {
    while (!stopped) {
      try {
        stream = await open();
        let buf = '';
        stream.on('data', (chunk: Buffer) => {
          buf += chunk.toString('utf8');
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) onLine(line);
          }
        });
        await new Promise<void>((resolve) => {
          stream?.once('end', resolve);
          stream?.once('close', resolve);
          stream?.once('error', () => resolve());
        });
      } catch {
        /* engine unreachable: retry below */
      }
      if (!stopped) await sleep(1000);
    }
  };
  void follow();
  return () => {
    stopped = true;
    (stream as { destroy?: () => void } | null)?.destroy?.();
  };
}

function emitEvent(line: string, onEvent: (e: ContainerEvent) => void): void {
  let ev: {
    id?: string;
    Action?: string;
    status?: string;
    Actor?: { Attributes?: Record<string, string> };
  };
  try {
    ev = JSON.parse(line);
  } catch {
    return;
  }
  const attrs = ev.Actor?.Attributes ?? {};
  if (!ev.id) return;
  onEvent({
    id: ev.id,
    action: ev.Action ?? ev.status ?? '',
    service: attrs[LABEL.service] ?? '',
    release: Number(attrs[LABEL.release] ?? 0),
  });
}

export class DockerRuntime implements ContainerRuntime {
  readonly socketPath: string;
  private readonly docker: Docker;
  /** Networks this instance created or saw, so start() does not inspect them every time. */
  private readonly knownNetworks = new Set<string>();
  private readonly gateways = new Map<string, string>();
  /** In-flight ensureNetwork calls, so concurrent starts create a network once. */
  private readonly ensuring = new Map<string, Promise<void>>();

  constructor(opts: DockerRuntimeOptions = {}) {
    this.socketPath = opts.socketPath ?? defaultSocketPath();
    // No `version`: the engine answers with its own API version.
    this.docker = new Docker({ socketPath: this.socketPath });
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (e) {
      throw this.translate(e);
    }
  }

  /** Whether this engine is a swarm manager (false when it cannot tell). */
  async isSwarmManager(): Promise<boolean> {
    try {
      const info = (await this.docker.info()) as { Swarm?: { ControlAvailable?: boolean } };
      return info.Swarm?.ControlAvailable === true;
    } catch {
      return false;
    }
  }

  async ensureNetwork(project: string): Promise<void> {
    const inflight = this.ensuring.get(project);
    if (inflight) return inflight;
    const p = this.doEnsureNetwork(project).finally(() => this.ensuring.delete(project));
    this.ensuring.set(project, p);
    return p;
  }

  private async doEnsureNetwork(project: string): Promise<void> {
    const name = networkName(project);
    try {
      await this.docker.getNetwork(name).inspect();
      this.knownNetworks.add(project);
      return;
    } catch (e) {
      if (statusOf(e) !== 404) throw this.translate(e);
    }
    try {
      await this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: { [LABEL.managed]: 'true', [LABEL.project]: project },
      });
    } catch (e) {
      // 409: someone else created it between our inspect and create.
      if (statusOf(e) !== 409) throw this.translate(e);
    }
    this.knownNetworks.add(project);
  }

  async removeNetwork(project: string): Promise<void> {
    this.knownNetworks.delete(project);
    this.gateways.delete(project);
    try {
      await this.docker.getNetwork(networkName(project)).remove();
    } catch (e) {
      if (statusOf(e) === 404) return;
      throw this.translate(e);
    }
  }

  async imageExists(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      throw this.translate(e);
    }
  }

  async start(spec: ContainerSpec): Promise<ContainerInfo> {
    if (!(await this.imageExists(spec.image))) throw imageMissing(spec.image);
    if (!this.knownNetworks.has(spec.project)) await this.ensureNetwork(spec.project);

    const name = containerName(spec);
    const gateway = spec.links?.length ? await this.networkGateway(spec.project) : null;
    // A leftover with the same name (crashed daemon, interrupted deploy) is replaced.
    await this.removeQuietly(name);
    for (let attempt = 0; ; attempt++) {
      const retry = attempt < 3;
      let container: Docker.Container;
      try {
        container = await this.docker.createContainer(this.createOptions(name, spec, gateway));
      } catch (e) {
        const status = statusOf(e);
        if (status === 409 && retry) {
          // Name still taken (removal in progress, or a concurrent start): clear it and retry.
          await sleep(100 * (attempt + 1));
          await this.removeQuietly(name);
          continue;
        }
        if (status === 404 && isMissingNetwork(e) && retry) {
          await this.recreateNetwork(spec.project);
          continue;
        }
        if (status === 404 && /image/i.test(dockerMessage(e))) throw imageMissing(spec.image);
        throw this.translate(e);
      }

      try {
        await container.start();
      } catch (e) {
        // Start failed (bad command, network gone…): leave nothing half-made behind.
        await this.removeQuietly(container.id);
        if (isMissingNetwork(e) && retry) {
          // The engine accepts a container on a missing network and fails at start:
          // the network was removed behind our back.
          await this.recreateNetwork(spec.project);
          continue;
        }
        const t = this.translate(e);
        if (t.code === 'unreachable') throw t;
        throw runtimeError(`cannot start container ${name}: ${dockerMessage(e)}`);
      }
      const info = await this.inspect(container.id);
      if (!info) throw runtimeError(`container ${name} disappeared right after it started`);
      return info;
    }
  }

  async networkGateway(project: string): Promise<string> {
    const known = this.gateways.get(project);
    if (known) return known;
    await this.ensureNetwork(project);
    let info: { IPAM?: { Config?: { Gateway?: string; Subnet?: string }[] } };
    try {
      info = await this.docker.getNetwork(networkName(project)).inspect();
    } catch (e) {
      throw this.translate(e);
    }
    const gw = info.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
    if (!gw) throw runtimeError(`network ${networkName(project)} has no gateway address`);
    this.gateways.set(project, gw);
    return gw;
  }

  private async recreateNetwork(project: string): Promise<void> {
    this.knownNetworks.delete(project);
    this.gateways.delete(project);
    await this.ensureNetwork(project);
  }

  private createOptions(
    name: string,
    spec: ContainerSpec,
    gateway: string | null,
  ): Docker.ContainerCreateOptions {
    const labels = containerLabels(spec);
    const hostConfig: Docker.HostConfig = {
      RestartPolicy: { Name: 'no' },
      NetworkMode: networkName(spec.project),
    };
    // Linked names point at the proxy on the host side of the network (see README: discovery).
    if (gateway && spec.links?.length)
      hostConfig.ExtraHosts = spec.links.map((l) => `${l}:${gateway}`);
    if (spec.memoryBytes !== undefined) hostConfig.Memory = spec.memoryBytes;
    if (spec.cpus !== undefined) hostConfig.NanoCpus = Math.round(spec.cpus * 1e9);
    return {
      name,
      Image: spec.image,
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      ...(spec.command && spec.command.length ? { Cmd: spec.command } : {}),
      Labels: labels,
      ExposedPorts: { [`${spec.port}/tcp`]: {} },
      HostConfig: hostConfig,
      NetworkingConfig: {
        EndpointsConfig: { [networkName(spec.project)]: {} },
      },
    };
  }

  async list(filter: ListFilter): Promise<ContainerInfo[]> {
    const labels = [`${LABEL.managed}=true`, `${LABEL.project}=${filter.project}`];
    if (filter.service !== undefined) labels.push(`${LABEL.service}=${filter.service}`);
    if (filter.release !== undefined) labels.push(`${LABEL.release}=${filter.release}`);
    let summaries: Docker.ContainerInfo[];
    try {
      summaries = await this.docker.listContainers({ all: true, filters: { label: labels } });
    } catch (e) {
      throw this.translate(e);
    }
    // Inspect each one: the summary lacks the exit code and shows image ids for retagged images.
    // Not a container still being created or started: inspecting it waits for the engine's
    // lock on it, which a start holds for up to seconds (a daemon restarted mid-deploy would
    // not serve until then); the summary says all there is to know about it.
    const infos = await Promise.all(
      summaries.map((s) => (s.State === 'created' ? fromSummary(s) : this.inspect(s.Id))),
    );
    return infos.filter((i): i is ContainerInfo => i !== null).sort(byPosition);
  }

  async inspect(id: string): Promise<ContainerInfo | null> {
    try {
      return toContainerInfo(await this.docker.getContainer(id).inspect());
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw this.translate(e);
    }
  }

  async stop(id: string, graceMs: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) });
    } catch (e) {
      const status = statusOf(e);
      if (status === 304 || status === 404) return;
      throw this.translate(e);
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (e) {
      if (statusOf(e) === 404) return;
      // 409 "removal already in progress": someone else is doing it.
      if (statusOf(e) === 409 && /in progress/i.test(dockerMessage(e))) return;
      throw this.translate(e);
    }
  }

  async usage(id: string): Promise<ContainerUsage | null> {
    let st: Docker.ContainerStats;
    try {
      // one-shot: no second sample inside the engine (a plain stream=false waits ~1 s for it).
      st = await this.docker.getContainer(id).stats({ stream: false, 'one-shot': true });
    } catch (e) {
      if (statusOf(e) === 404 || statusOf(e) === 409) return null;
      throw this.translate(e);
    }
    const cpu = st.cpu_stats;
    if (!cpu?.system_cpu_usage) return null; // not running: the engine sends zeros
    return {
      cpuNs: cpu.cpu_usage.total_usage,
      systemNs: cpu.system_cpu_usage,
      onlineCpus: cpu.online_cpus || cpu.cpu_usage.percpu_usage?.length || 1,
      memoryBytes: memoryInUse(st.memory_stats),
    };
  }

  async logs(id: string, tail: number): Promise<string> {
    try {
      const container = this.docker.getContainer(id);
      const tty = (await container.inspect()).Config?.Tty === true;
      const data: unknown = await container.logs({
        follow: false,
        stdout: true,
        stderr: true,
        timestamps: false,
        tail: Math.max(0, Math.floor(tail)),
      });
      return demuxLogs(toBuffer(data), tty);
    } catch (e) {
      if (statusOf(e) === 404) throw notFound(`container ${id} not found`);
      throw this.translate(e);
    }
  }

  followLogs(id: string, opts: FollowLogsOptions, onLine: (l: RuntimeLogLine) => void): LogFollow {
    let stopped = false;
    let paused = false;
    let stream: NodeJS.ReadableStream | null = null;
    const read = async (): Promise<void> => {
      const container = this.docker.getContainer(id);
      let tty: boolean;
      let data: NodeJS.ReadableStream;
      try {
        tty = (await container.inspect()).Config?.Tty === true;
        if (stopped) return;
        data = await this.logStream(id, {
          follow: opts.follow,
          stdout: true,
          stderr: true,
          timestamps: true,
          // "seconds.nanoseconds"; the engine keeps lines at or after it.
          ...(opts.since ? { since: opts.since.replace(/^0+(?=\d)/, '') } : {}),
        });
      } catch (e) {
        if (statusOf(e) === 404) throw notFound(`container ${id} not found`);
        throw this.translate(e);
      }
      stream = data;
      if (stopped) return destroy(data);
      const decoder = new FrameDecoder(tty);
      const lines = new TimestampedLineSplitter(!tty, (l) => {
        if (!stopped) onLine(l);
      });
      await new Promise<void>((resolve, reject) => {
        data.on('data', (chunk: Buffer) => {
          for (const f of decoder.push(chunk)) lines.push(f);
        });
        data.once('end', resolve);
        data.once('close', resolve);
        data.once('error', (e: Error) => (stopped ? resolve() : reject(this.translate(e))));
        if (paused) data.pause();
      });
      if (stopped) return;
      for (const f of decoder.end()) lines.push(f);
      lines.end();
    };
    return {
      stop: () => {
        stopped = true;
        if (stream) destroy(stream);
      },
      pause: () => {
        paused = true;
        stream?.pause();
      },
      resume: () => {
        paused = false;
        stream?.resume();
      },
      done: read(),
    };
  }

  /**
   * GET /containers/{id}/logs as a stream, also without `follow` (dockerode would buffer the
   * whole log in memory then): a long log is read chunk by chunk, with back-pressure.
   */
  private logStream(id: string, query: Record<string, unknown>): Promise<NodeJS.ReadableStream> {
    return new Promise((resolve, reject) => {
      this.docker.modem.dial(
        {
          path: `/containers/${encodeURIComponent(id)}/logs?`,
          method: 'GET',
          isStream: true,
          statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
          options: query,
        },
        (err, data) => (err ? reject(err) : resolve(data as NodeJS.ReadableStream)),
      );
    });
  }

  watch(project: string, onEvent: (e: ContainerEvent) => void): () => void {
    const filters = JSON.stringify({
      type: ['container'],
      label: [`${LABEL.managed}=true`, `${LABEL.project}=${project}`],
      event: ['start', 'die', 'oom', 'stop', 'destroy'],
    });
    return followEventLines(
      async () => (await this.docker.getEvents({ filters })) as NodeJS.ReadableStream,
      (line) => emitEvent(line, onEvent),
    );
  }

  private async removeQuietly(idOrName: string): Promise<void> {
    try {
      await this.remove(idOrName);
    } catch {
      // best effort: the next step reports the real problem
    }
  }

  /** Maps a dockerode / socket error to a ShipitError. */
  private translate(e: unknown): ShipitError {
    return engineError(e, this.socketPath);
  }
}

/**
 * A dockerode / socket error as a ShipitError: the engine's socket missing, refusing or not
 * permitted is `unreachable` (exit 3) with how to fix it; anything else a runtime error
 * worded by `message`.
 */
export function engineError(e: unknown, socketPath: string): ShipitError {
  if (isShipitError(e)) return e;
  const code = (e as DockerodeError)?.code;
  if (code === 'ENOENT' || code === 'ECONNREFUSED') {
    return unreachable(
      `Docker engine not reachable at ${socketPath}`,
      'start it: bash scripts/docker-bootstrap.sh (or systemctl start docker)',
    );
  }
  if (code === 'EACCES') {
    return unreachable(
      `permission denied on the Docker socket ${socketPath}`,
      'run as root or add your user to the docker group',
    );
  }
  return runtimeError(dockerMessage(e));
}

function isMissingNetwork(e: unknown): boolean {
  return /network \S+ not found/i.test(dockerMessage(e));
}

function imageMissing(image: string): ShipitError {
  return failed(`image "${image}" not found locally`, 'build it or check the tag: docker images');
}

function destroy(stream: NodeJS.ReadableStream): void {
  (stream as { destroy?: () => void }).destroy?.();
}

/** docker-modem parses JSON-looking bodies: turn whatever came back into bytes again. */
function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data === null || data === undefined) return Buffer.alloc(0);
  return Buffer.from(JSON.stringify(data), 'utf8');
}

function byPosition(a: ContainerInfo, b: ContainerInfo): number {
  return (
    a.service.localeCompare(b.service) ||
    a.release - b.release ||
    a.index - b.index ||
    a.id.localeCompare(b.id)
  );
}

/** The labels of SPEC §1 on what shipit starts (a container, or a Swarm service and its task). */
export function containerLabels(spec: ContainerSpec): Record<string, string> {
  return {
    ...(spec.labels ?? {}),
    [LABEL.managed]: 'true',
    [LABEL.project]: spec.project,
    [LABEL.service]: spec.service,
    [LABEL.release]: String(spec.release),
    [LABEL.index]: String(spec.index),
    [LABEL.port]: String(spec.port),
  };
}

function intLabel(labels: Record<string, string>, key: string): number {
  const n = Number.parseInt(labels[key] ?? '', 10);
  return Number.isFinite(n) ? n : 0;
}

/** A container that has not run yet, from the list's summary. */
function fromSummary(c: Docker.ContainerInfo): ContainerInfo {
  const labels = c.Labels ?? {};
  return {
    id: c.Id,
    name: (c.Names?.[0] ?? '').replace(/^\//, ''),
    project: labels[LABEL.project] ?? '',
    service: labels[LABEL.service] ?? '',
    release: intLabel(labels, LABEL.release),
    index: intLabel(labels, LABEL.index),
    image: c.Image,
    running: false,
    state: c.State,
    ip: null,
    port: intLabel(labels, LABEL.port),
    exitCode: null,
  };
}

export function toContainerInfo(c: Docker.ContainerInspectInfo): ContainerInfo {
  const labels = c.Config?.Labels ?? {};
  const project = labels[LABEL.project] ?? '';
  const running = c.State?.Running === true;
  const state = c.State?.Status ?? 'unknown';
  const networks = c.NetworkSettings?.Networks ?? {};
  const ip = running ? networks[networkName(project)]?.IPAddress || null : null;
  const exited = !running && (state === 'exited' || state === 'dead');
  return {
    id: c.Id,
    name: (c.Name ?? '').replace(/^\//, ''),
    project,
    service: labels[LABEL.service] ?? '',
    release: intLabel(labels, LABEL.release),
    index: intLabel(labels, LABEL.index),
    image: c.Config?.Image ?? c.Image,
    running,
    state,
    ip,
    port: intLabel(labels, LABEL.port),
    exitCode: exited ? (c.State?.ExitCode ?? null) : null,
  };
}
