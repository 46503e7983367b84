// An in-memory ContainerRuntime for unit tests: deterministic ids and ips,
// no I/O, every call recorded. Passes the same contract as DockerRuntime
// (see runtime-contract.ts).

import type { ContainerInfo } from '../domain/types';
import { failed, notFound, runtimeError, unreachable } from '../domain/errors';
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

export interface FakeCall {
  op:
    | 'ping'
    | 'ensureNetwork'
    | 'removeNetwork'
    | 'imageExists'
    | 'start'
    | 'list'
    | 'inspect'
    | 'stop'
    | 'remove'
    | 'logs'
    | 'followLogs'
    | 'usage';
  args: unknown[];
}

export interface FakeRuntimeOptions {
  /** Images that "exist locally". Default: none. */
  images?: Iterable<string>;
  /** Exit code a container gets when stopped. Default 0 (a graceful app). */
  stopExitCode?: number;
  /** Clock (ms) that stamps log lines written with writeLog. Default Date.now. */
  logClock?: () => number;
}

interface FakeContainer {
  info: ContainerInfo;
  spec: ContainerSpec;
  logs: RuntimeLogLine[];
  usage?: ContainerUsage;
}

/** `app` and `app:latest` are the same image; digests and explicit tags are kept as written. */
function normalizeImage(image: string): string {
  if (image.includes('@')) return image;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  return lastSegment.includes(':') ? image : `${image}:latest`;
}

export class FakeRuntime implements ContainerRuntime {
  /** Images that exist; add to it freely. Unknown images make imageExists false and start fail. */
  readonly images: Set<string>;
  /** Every call, in order, with its arguments (including calls that threw). */
  readonly calls: FakeCall[] = [];
  /** Names of the projects whose network exists (`<project>_shipit`). */
  readonly networks = new Set<string>();
  /** When false, every call throws ShipitError('unreachable'), like a stopped engine. */
  reachable = true;
  private readonly watchers = new Set<{ project: string; onEvent: (e: ContainerEvent) => void }>();
  private readonly followers = new Set<LogFollower>();
  private readonly logClock: () => number;
  private lastLogNs = 0n;
  stopExitCode: number;

  private readonly containers = new Map<string, FakeContainer>();
  private readonly startFailures = new Map<string, Error>();
  private nextId = 1;
  private nextIp = 0;

  constructor(opts: FakeRuntimeOptions = {}) {
    this.images = new Set(opts.images ?? []);
    this.stopExitCode = opts.stopExitCode ?? 0;
    this.logClock = opts.logClock ?? Date.now;
  }

  // ---- test controls -------------------------------------------------------

  addImage(...images: string[]): this {
    images.forEach((i) => this.images.add(i));
    return this;
  }

  /** Makes every later start() of this image fail (after the image check) with `error`. */
  failStartFor(image: string, error?: Error): this {
    this.startFailures.set(
      normalizeImage(image),
      error ?? runtimeError(`cannot start container: simulated failure for image "${image}"`),
    );
    return this;
  }

  clearStartFailures(): this {
    this.startFailures.clear();
    return this;
  }

  /** Simulates a crash: the container stops with `exitCode` (default 137, SIGKILL). */
  kill(id: string, exitCode = 137): void {
    const c = this.mustGet(id);
    this.exit(c, exitCode);
  }

  /** Sets what usage() reports for a container (default: 1 MiB and no CPU time). */
  setUsage(id: string, usage: ContainerUsage): void {
    this.mustGet(id).usage = { ...usage };
  }

  /**
   * Appends lines to a container's log (what logs() returns and followLogs streams), each
   * stamped by `logClock` like the engine does, nanoseconds strictly increasing.
   */
  writeLog(id: string, text: string, stream: RuntimeLogLine['stream'] = 'stdout'): void {
    const c = this.mustGet(id);
    for (const line of text.replace(/\n$/, '').split('\n')) {
      const ns = BigInt(Math.floor(this.logClock())) * 1_000_000n;
      this.lastLogNs = ns > this.lastLogNs ? ns : this.lastLogNs + 1n;
      const l: RuntimeLogLine = { stream, ts: formatNs(this.lastLogNs), text: line };
      c.logs.push(l);
      for (const f of this.followers) if (f.id === id) f.emit(l);
    }
  }

  /** Containers currently running, optionally narrowed like list(). Synchronous. */
  running(filter?: Partial<ListFilter>): ContainerInfo[] {
    return this.all(filter).filter((c) => c.running);
  }

  /** Every container the fake holds (running or not), optionally narrowed. Synchronous. */
  all(filter: Partial<ListFilter> = {}): ContainerInfo[] {
    return [...this.containers.values()]
      .map((c) => c.info)
      .filter(
        (i) =>
          (filter.project === undefined || i.project === filter.project) &&
          (filter.service === undefined || i.service === filter.service) &&
          (filter.release === undefined || i.release === filter.release),
      )
      .sort(byPosition)
      .map((i) => ({ ...i }));
  }

  /** The spec a container was started from. */
  specOf(id: string): ContainerSpec | undefined {
    const c = this.containers.get(id);
    return c ? structuredClone(c.spec) : undefined;
  }

  /** Calls of one operation, e.g. `callsOf('stop')`. */
  callsOf(op: FakeCall['op']): unknown[][] {
    return this.calls.filter((c) => c.op === op).map((c) => c.args);
  }

  // ---- ContainerRuntime ----------------------------------------------------

  async ping(): Promise<void> {
    this.record('ping');
  }

  async ensureNetwork(project: string): Promise<void> {
    this.record('ensureNetwork', project);
    this.networks.add(project);
  }

  async removeNetwork(project: string): Promise<void> {
    this.record('removeNetwork', project);
    if (this.running({ project }).length) {
      throw runtimeError(
        `error while removing network: network ${project}_shipit has active endpoints`,
      );
    }
    this.networks.delete(project);
  }

  async networkGateway(project: string): Promise<string> {
    this.networks.add(project);
    return '10.99.0.1';
  }

  async imageExists(image: string): Promise<boolean> {
    this.record('imageExists', image);
    return this.hasImage(image);
  }

  async start(spec: ContainerSpec): Promise<ContainerInfo> {
    this.record('start', structuredClone(spec));
    if (!this.hasImage(spec.image)) {
      throw failed(
        `image "${spec.image}" not found locally`,
        'build it or check the tag: docker images',
      );
    }
    this.networks.add(spec.project);
    const name = `${spec.project}-${spec.service}-r${spec.release}-${spec.index}`;
    for (const [id, c] of this.containers) {
      if (c.info.name === name) {
        this.containers.delete(id);
        this.endFollowers(id);
      }
    }
    const failure = this.startFailures.get(normalizeImage(spec.image));
    if (failure) throw failure;

    const id = `fake${String(this.nextId++).padStart(8, '0')}`;
    const info: ContainerInfo = {
      id,
      name,
      project: spec.project,
      service: spec.service,
      release: spec.release,
      index: spec.index,
      image: spec.image,
      running: true,
      state: 'running',
      ip: this.allocateIp(),
      port: spec.port,
      exitCode: null,
    };
    this.containers.set(id, { info, spec: structuredClone(spec), logs: [] });
    this.notify(info, 'start');
    return { ...info };
  }

  async list(filter: ListFilter): Promise<ContainerInfo[]> {
    this.record('list', { ...filter });
    return this.all(filter);
  }

  async inspect(id: string): Promise<ContainerInfo | null> {
    this.record('inspect', id);
    const c = this.containers.get(id);
    return c ? { ...c.info } : null;
  }

  async stop(id: string, graceMs: number): Promise<void> {
    this.record('stop', id, graceMs);
    const c = this.containers.get(id);
    if (c && c.info.running) this.exit(c, this.stopExitCode);
  }

  watch(project: string, onEvent: (e: ContainerEvent) => void): () => void {
    const w = { project, onEvent };
    this.watchers.add(w);
    return () => void this.watchers.delete(w);
  }

  async remove(id: string): Promise<void> {
    this.record('remove', id);
    const c = this.containers.get(id);
    this.containers.delete(id);
    this.endFollowers(id);
    if (c) this.notify(c.info, 'destroy');
  }

  async usage(id: string): Promise<ContainerUsage | null> {
    this.record('usage', id);
    const c = this.containers.get(id);
    if (!c || !c.info.running) return null;
    return { ...(c.usage ?? { cpuNs: 0, systemNs: 1, onlineCpus: 1, memoryBytes: 1 << 20 }) };
  }

  followLogs(id: string, opts: FollowLogsOptions, onLine: (l: RuntimeLogLine) => void): LogFollow {
    let settle!: (e?: Error) => void;
    const done = new Promise<void>((resolve, reject) => {
      settle = (e) => (e ? reject(e) : resolve());
    });
    let active = true;
    let paused = false;
    let ending = false;
    const queue: RuntimeLogLine[] = []; // held while paused, like the engine does
    const close = (e?: Error) => {
      if (!active) return;
      active = false;
      this.followers.delete(f);
      settle(e);
    };
    const drain = () => {
      while (active && !paused && queue.length) onLine({ ...queue.shift()! });
      if (ending && !queue.length) close();
    };
    const f: LogFollower = {
      id,
      emit: (l) => {
        if (!active || ending) return;
        queue.push(l);
        drain();
      },
      // The stream's natural end: after whatever is still held back was delivered.
      end: (e) => {
        if (e) return close(e);
        ending = true;
        drain();
      },
    };
    const handle: LogFollow = {
      stop: () => close(),
      pause: () => {
        paused = true;
      },
      resume: () => {
        paused = false;
        drain();
      },
      done,
    };
    try {
      this.record('followLogs', id, { ...opts });
    } catch (e) {
      close(e as Error);
      return handle;
    }
    // Asynchronous like a real engine: nothing is delivered before followLogs returns.
    queueMicrotask(() => {
      if (!active) return;
      const c = this.containers.get(id);
      if (!c) return f.end(notFound(`container ${id} not found`));
      for (const l of c.logs) if (!opts.since || l.ts >= opts.since) f.emit(l);
      if (opts.follow && c.info.running) this.followers.add(f);
      else f.end();
    });
    return handle;
  }

  async logs(id: string, tail: number): Promise<string> {
    this.record('logs', id, tail);
    const c = this.containers.get(id);
    if (!c) throw notFound(`container ${id} not found`);
    const n = Math.max(0, Math.floor(tail));
    const lines = n === 0 ? [] : c.logs.slice(-n).map((l) => l.text);
    return lines.length ? `${lines.join('\n')}\n` : '';
  }

  // ---- internals -----------------------------------------------------------

  private record(op: FakeCall['op'], ...args: unknown[]): void {
    this.calls.push({ op, args });
    if (!this.reachable) {
      throw unreachable(
        'Docker engine not reachable at /var/run/docker.sock (fake)',
        'start it: bash scripts/docker-bootstrap.sh (or systemctl start docker)',
      );
    }
  }

  private hasImage(image: string): boolean {
    const wanted = normalizeImage(image);
    for (const i of this.images) if (normalizeImage(i) === wanted) return true;
    return false;
  }

  private allocateIp(): string {
    // 10.0.0.2, 10.0.0.3, … 10.0.0.251, then 10.0.1.2, …
    const n = this.nextIp++;
    return `10.0.${Math.floor(n / 250)}.${(n % 250) + 2}`;
  }

  private exit(c: FakeContainer, exitCode: number): void {
    c.info = { ...c.info, running: false, state: 'exited', ip: null, exitCode };
    // Like the engine: a followed log stream ends when its container stops.
    this.endFollowers(c.info.id);
    this.notify(c.info, 'die');
  }

  private notify(info: ContainerInfo, action: string): void {
    for (const w of this.watchers) {
      if (w.project === info.project) {
        w.onEvent({ id: info.id, action, service: info.service, release: info.release });
      }
    }
  }

  private endFollowers(id: string): void {
    for (const f of [...this.followers]) if (f.id === id) f.end();
  }

  private mustGet(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new Error(`FakeRuntime: no container ${id}`);
    return c;
  }
}

interface LogFollower {
  id: string;
  emit(l: RuntimeLogLine): void;
  end(e?: Error): void;
}

/** Nanoseconds since the epoch as the port's fixed-width "ssssssssss.nnnnnnnnn". */
function formatNs(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  return `${String(s).padStart(10, '0')}.${String(frac).padStart(9, '0')}`;
}

function byPosition(a: ContainerInfo, b: ContainerInfo): number {
  return (
    a.service.localeCompare(b.service) ||
    a.release - b.release ||
    a.index - b.index ||
    a.id.localeCompare(b.id)
  );
}
