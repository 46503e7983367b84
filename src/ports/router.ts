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

/** How a request picks among several releases of a service. */
export interface RoutingOptions {
  /** cookie | ip | header:<Name> */
  sticky?: string;
  /** Requests with this header or cookie set to "next" reach the newest release. */
  acceptance?: { header: string; cookie: string };
  /** Rainbow: users stay on the release that first served them while it lives. */
  pin?: boolean;
}

export interface ReleaseCounters {
  requests: number;
  /** 5xx answers. */
  errors: number;
  /** Sum of request durations, ms. */
  sumMs: number;
  /** Counts per latency bucket (see proxy/stats.ts). */
  buckets: number[];
}

/** What the engine needs from the proxy's routing. */
export interface Router {
  /** Replaces the routes of one service in a single swap; known targets keep their counters. */
  setService(
    service: string,
    hosts: string[],
    releases: RouteReleaseInput[],
    options?: RoutingOptions,
  ): void;
  /** Requests answered by one release so far (monotonic counters). */
  releaseStats(service: string, release: number): ReleaseCounters;
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
