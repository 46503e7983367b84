import type { Plan, ReleaseRecord, ServiceSpec } from '../domain/types';

/** What the engine found before planning. */
export interface Observed {
  service: string;
  /** The release serving traffic now, if any. */
  live: ReleaseRecord | null;
  /** Earlier releases whose containers are kept running out of routing, newest first. */
  kept: ReleaseRecord[];
  /** Every release serving users (several with rainbow), newest first; defaults to [live]. */
  serving?: ReleaseRecord[];
}

export interface Desired {
  release: number;
  spec: ServiceSpec;
}

export type Planner = (observed: Observed, desired: Desired) => Plan;
