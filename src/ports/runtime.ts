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
  /** Last lines of the container's stdout+stderr, demultiplexed, as text. */
  logs(id: string, tail: number): Promise<string>;
  /**
   * Follows lifecycle events of the project's managed containers until the
   * returned function is called; reconnects by itself when the stream breaks.
   */
  watch(project: string, onEvent: (e: ContainerEvent) => void): () => void;
}
