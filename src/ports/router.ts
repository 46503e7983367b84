import type { Weights } from '../domain/types';

export interface RouteTargetInput {
  id: string;
  name: string;
  host: string;
  port: number;
}

export interface RouteReleaseInput {
  number: number;
  weight: number;
  targets: RouteTargetInput[];
}

export interface TargetState {
  id: string;
  name: string;
  release: number;
  address: string;
  healthy: boolean;
  draining: boolean;
  inflight: number;
}

/** What the engine needs from the proxy's routing. */
export interface Router {
  /** Replaces the routes of one service in a single swap; known targets keep their counters. */
  setService(service: string, hosts: string[], releases: RouteReleaseInput[]): void;
  removeService(service: string): void;
  weights(service: string): Weights;
  /**
   * Takes the targets out of routing and waits until none has a request in
   * flight, or timeoutMs passes. Resolves with what is still in flight.
   */
  drain(ids: string[], timeoutMs: number): Promise<number>;
  /** Drops targets from the registry once their containers are gone. */
  forget(ids: string[]): void;
  setHealth(id: string, healthy: boolean): void;
  targets(service?: string): TargetState[];
}
