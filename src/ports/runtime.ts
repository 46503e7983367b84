import type { ContainerInfo } from '../domain/types';

export interface ContainerSpec {
  project: string;
  service: string;
  release: number;
  index: number;
  image: string;
  port: number;
  env: Record<string, string>;
  command?: string[];
  memoryBytes?: number;
  cpus?: number;
  /**
   * Service names this container calls by name: each resolves (in the
   * container's /etc/hosts) to the host side of the project network, where
   * shipit's proxy listens for them.
   */
  links?: string[];
  /** Extra labels, on top of the io.shipit.* ones the runtime always sets. */
  labels?: Record<string, string>;
}

export interface ContainerEvent {
  id: string;
  /** Docker's action: start, die, oom, stop, destroy... */
  action: string;
  service: string;
  release: number;
}

/** One reading of a container's resource use (cumulative CPU counters: rates come from two readings). */
export interface ContainerUsage {
  /** CPU time the container has used, ns. */
  cpuNs: number;
  /** CPU time the host has spent (all cores), ns. */
  systemNs: number;
  onlineCpus: number;
  /** Memory in use, without the reclaimable page cache (as `docker stats` shows it). */
  memoryBytes: number;
}

/** One line of a container's output, as the engine recorded it. */
export interface RuntimeLogLine {
  stream: 'stdout' | 'stderr';
  /**
   * When the engine received the line, fixed width so strings sort in time order:
   * epoch seconds (10 digits, zero-padded) '.' nanoseconds (9 digits), e.g. "1700000000.000000042".
   */
  ts: string;
  /** The line without its newline (and without a trailing \r). */
  text: string;
}

export interface FollowLogsOptions {
  /** Only lines recorded at or after this `ts` (inclusive, nanosecond precision). */
  since?: string;
  /** Keep streaming new lines until the container stops; false: what is recorded now, then end. */
  follow: boolean;
}

export interface LogFollow {
  /** Stops streaming; `done` then resolves. A partial last line is dropped (it comes again later). */
  stop(): void;
  /**
   * Delivers no more lines until resume(); the engine keeps them meanwhile (a consumer's
   * back-pressure). Lines of the chunk being delivered may still arrive.
   */
  pause(): void;
  resume(): void;
  /**
   * Resolves when the stream ended (the container stopped, `follow` was false, or stop()),
   * after every line was delivered, a last line without newline included. Rejects with a
   * ShipitError when the engine refused (unknown container: 'not-found').
   */
  done: Promise<void>;
}

export interface ListFilter {
  project: string;
  service?: string;
  release?: number;
}

/** The narrow port between shipit and a container engine. */
export interface ContainerRuntime {
  /** Throws a ShipitError('unreachable') with a how-to-fix hint when the engine does not answer. */
  ping(): Promise<void>;
  /** Creates the project's bridge network `<project>_shipit` if missing. */
  ensureNetwork(project: string): Promise<void>;
  removeNetwork(project: string): Promise<void>;
  /** The host's address on the project network (its gateway): where linked names point. */
  networkGateway(project: string): Promise<string>;
  imageExists(image: string): Promise<boolean>;
  /** Creates and starts one container named `<project>-<service>-r<release>-<index>`, on the project network. */
  start(spec: ContainerSpec): Promise<ContainerInfo>;
  /** Every managed container of the project (running or not), optionally narrowed. */
  list(filter: ListFilter): Promise<ContainerInfo[]>;
  inspect(id: string): Promise<ContainerInfo | null>;
  /** Stops with SIGTERM, then SIGKILL after graceMs; no error if already stopped or gone. */
  stop(id: string, graceMs: number): Promise<void>;
  /** Force-removes; no error if already gone. */
  remove(id: string): Promise<void>;
  /** Current resource use of a running container; null when it is not running or gone. */
  usage(id: string): Promise<ContainerUsage | null>;
  /** Last lines of the container's stdout+stderr, demultiplexed, as text. */
  logs(id: string, tail: number): Promise<string>;
  /**
   * Streams a container's stdout and stderr line by line, demultiplexed, in the order the
   * engine recorded them. `onLine` is never called after `done` settled.
   */
  followLogs(id: string, opts: FollowLogsOptions, onLine: (l: RuntimeLogLine) => void): LogFollow;
  /**
   * Follows lifecycle events of the project's managed containers until the
   * returned function is called; reconnects by itself when the stream breaks.
   */
  watch(project: string, onEvent: (e: ContainerEvent) => void): () => void;
}
