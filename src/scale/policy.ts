// The autoscaler's decision, as a pure function of what was observed: how
// many replicas the live release should have. Up at once; down only to the
// highest recommendation of the last scaleDownDelay, and only as far as keeps
// the rest 10% under the target (no flapping); to zero only after
// idleTimeout without a request.

export interface AutoscalePolicy {
  min: number;
  max: number;
  target: { inflightPerReplica?: number; rpsPerReplica?: number; cpu?: number };
  scaleDownDelayMs: number;
  idleTimeoutMs: number;
}

export interface Observation {
  now: number;
  /** Replicas of the live release now. */
  replicas: number;
  /** In-flight requests on the live release (summed over its containers, averaged over a few ticks). */
  inflight: number;
  /** Requests per second to the service. */
  rps: number;
  /** Mean CPU ratio of the live release's containers; null before the first two readings. */
  cpu: number | null;
  /** When the service last received a request (ms). */
  lastRequestAt: number;
  /** The floor set by the schedule now (0 outside every window). */
  floor: number;
}

export interface Decision {
  desired: number;
  /** What the load alone asks for, before the floor, max and stabilisation. */
  recommended: number;
  reason: string;
}

/** Within this fraction of the target, the replica count is left alone. */
export const TOLERANCE = 0.1;

export class AutoscaleDecider {
  private history: { at: number; n: number }[] = [];

  constructor(private readonly p: AutoscalePolicy) {}

  decide(o: Observation): Decision {
    const { p } = this;
    const floor = Math.min(p.max, Math.max(p.min, o.floor));
    const [byLoad, why] = this.byLoad(o);
    const idle = o.now - o.lastRequestAt >= p.idleTimeoutMs;
    if (floor === 0 && idle && o.inflight === 0) {
      this.history = [];
      return {
        desired: 0,
        recommended: 0,
        reason: `idle for ${Math.round((o.now - o.lastRequestAt) / 1000)}s (idleTimeout ${p.idleTimeoutMs / 1000}s)`,
      };
    }
    // A service that took a request within idleTimeout keeps at least one replica.
    const recommended = Math.min(p.max, Math.max(floor, byLoad, 1));
    this.history.push({ at: o.now, n: recommended });
    this.history = this.history.filter((h) => o.now - h.at < p.scaleDownDelayMs);
    if (recommended >= o.replicas) {
      const reason =
        recommended === o.replicas
          ? `steady: ${why}`
          : recommended === floor && floor > byLoad
            ? `floor ${floor} (min ${p.min}, schedule ${o.floor})`
            : `up: ${why}`;
      return { desired: recommended, recommended, reason };
    }
    const held = Math.max(recommended, ...this.history.map((h) => h.n));
    if (held >= o.replicas)
      return {
        desired: o.replicas,
        recommended,
        reason: `holding ${o.replicas}: load asked for ${recommended} less than scaleDownDelay ago`,
      };
    return {
      desired: held,
      recommended,
      reason: `down: ${why}, lower for ${p.scaleDownDelayMs / 1000}s`,
    };
  }

  /** Replicas the load needs, and why. Near the target (within TOLERANCE), the current count. */
  private byLoad(o: Observation): [number, string] {
    const t = this.p.target;
    let load: number;
    let per: number;
    let what: string;
    if (t.cpu !== undefined) {
      if (o.cpu === null) return [o.replicas, 'no CPU reading yet'];
      // cpu is a per-replica mean: the total is what the current replicas use.
      load = o.cpu * o.replicas;
      per = t.cpu;
      what = `cpu ${o.cpu.toFixed(2)} per replica, target ${t.cpu}`;
    } else if (t.rpsPerReplica !== undefined) {
      load = o.rps;
      per = t.rpsPerReplica;
      what = `${o.rps.toFixed(1)} req/s, target ${per} per replica`;
    } else {
      load = o.inflight;
      per = t.inflightPerReplica ?? 10;
      what = `${o.inflight.toFixed(1)} in flight, target ${per} per replica`;
    }
    if (o.replicas > 0 && Math.abs(load / (o.replicas * per) - 1) <= TOLERANCE)
      return [o.replicas, what];
    const up = Math.ceil(load / per - 1e-9);
    if (up >= o.replicas) return [up, what];
    // Down only as far as leaves the rest below the target by the tolerance (hysteresis):
    // a load sitting on a boundary does not flip between two counts.
    return [Math.min(o.replicas, Math.ceil(load / (per * (1 - TOLERANCE)) - 1e-9)), what];
  }
}
