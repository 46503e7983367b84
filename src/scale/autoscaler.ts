import type { Logger } from 'pino';
import type { AutoscaleSpec, ReleaseRecord } from '../domain/types';
import type { Clock } from '../ports/clock';
import type { StateStore } from '../ports/store';
import type { TargetState } from '../ports/router';
import type { ServiceLocks } from '../engine/locks';
import { AutoscaleDecider, type Decision, type Observation } from './policy';
import { localTime, scheduleFloor } from './schedule';
import type { Scaler } from './scaler';

export interface AutoscalerDeps {
  store: StateStore;
  locks: ServiceLocks;
  scaler: Scaler;
  clock: Clock;
  log: Logger;
  /** Routed targets of a service (in-flight counts, draining flags). */
  targets(service: string): TargetState[];
  /** Requests answered for a service so far (monotonic). */
  requests(service: string): number;
  /** Requests per second to a service over the last few seconds. */
  rps(service: string): number;
  /** Mean CPU ratio of a release's containers, null before two readings. */
  cpu(service: string, release: number): number | null;
  tickMs?: number;
}

export interface AutoscaleStatus {
  release: number;
  replicas: number;
  desired: number;
  reason: string;
  inputs: Omit<Observation, 'now'>;
  at: number;
  /** A scale started by the autoscaler is running. */
  acting: boolean;
}

/** In-flight is sampled each tick; the decision uses the mean of the last few. */
const INFLIGHT_SAMPLES = 3;

interface ServiceState {
  key: string;
  decider: AutoscaleDecider;
  inflight: number[];
  requests: number;
  lastRequestAt: number;
  status: AutoscaleStatus | null;
  acting: Promise<void> | null;
}

/**
 * The control loop: once per tick, for each service whose serving release has
 * `autoscale`, observe the load, ask the decider, and scale when it says so.
 * It never fights a deploy: while another operation holds the service's lock
 * it only observes.
 */
export class Autoscaler {
  private states = new Map<string, ServiceState>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly d: AutoscalerDeps) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.d.tickMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** A request is waiting for a cold start: the service is not idle. */
  touch(service: string): void {
    const s = this.states.get(service);
    if (s) s.lastRequestAt = this.d.clock.now();
  }

  status(service: string): AutoscaleStatus | null {
    const s = this.states.get(service);
    // `acting` is read now: the tick that starts a scale records its status before the scale.
    return s?.status ? { ...s.status, acting: s.acting !== null } : null;
  }

  /** Resolves when no scale started by the autoscaler is running. */
  async idle(): Promise<void> {
    await Promise.all([...this.states.values()].map((s) => s.acting));
  }

  /** One round over every autoscaled service. Public for tests (with an injected clock). */
  tick(): void {
    const now = this.d.clock.now();
    const serving = new Map<string, ReleaseRecord>();
    for (const r of this.d.store.releasesWithStatus(['live'])) {
      if (!serving.has(r.service)) serving.set(r.service, r); // newest first
    }
    for (const name of this.states.keys()) {
      if (!serving.get(name)?.spec.autoscale) this.states.delete(name);
    }
    for (const [service, live] of serving) {
      const spec = live.spec.autoscale;
      if (spec) this.observe(service, live, spec, now);
    }
  }

  private observe(service: string, live: ReleaseRecord, spec: AutoscaleSpec, now: number): void {
    const key = JSON.stringify(spec);
    let s = this.states.get(service);
    if (!s || s.key !== key) {
      s = {
        key,
        decider: new AutoscaleDecider(spec),
        inflight: [],
        requests: this.d.requests(service),
        lastRequestAt: s?.lastRequestAt ?? now,
        status: null,
        acting: null,
      };
      this.states.set(service, s);
    }
    const mine = this.d.targets(service).filter((t) => t.release === live.number && !t.draining);
    const inflightNow = mine.reduce((sum, t) => sum + t.inflight, 0);
    s.inflight.push(inflightNow);
    if (s.inflight.length > INFLIGHT_SAMPLES) s.inflight.shift();
    const requests = this.d.requests(service);
    if (requests !== s.requests || inflightNow > 0) s.lastRequestAt = now;
    s.requests = requests;
    const obs: Observation = {
      now,
      replicas: mine.length,
      inflight: s.inflight.reduce((a, b) => a + b, 0) / s.inflight.length,
      rps: this.d.rps(service),
      cpu: this.d.cpu(service, live.number),
      lastRequestAt: s.lastRequestAt,
      floor: scheduleFloor(spec.schedule, localTime(now)),
    };
    const busy = s.acting !== null || this.d.locks.holder(service) !== undefined;
    // Always decided, so the scale-down delay counts what the load asked for meanwhile;
    // but while something else changes the service, its replica count is in motion: only watch.
    const decided = s.decider.decide(obs);
    const decision: Decision = busy
      ? { ...decided, desired: obs.replicas, reason: `busy (${decided.reason})` }
      : decided;
    const { now: _now, ...inputs } = obs;
    s.status = {
      release: live.number,
      replicas: obs.replicas,
      desired: decision.desired,
      reason: decision.reason,
      inputs,
      at: now,
      acting: s.acting !== null,
    };
    if (busy || decision.desired === obs.replicas) return;
    this.d.log.info(
      { service, release: live.number, from: obs.replicas, to: decision.desired, ...inputs },
      `autoscale: ${decision.reason}`,
    );
    const state = s;
    state.acting = this.d.scaler
      .scale(service, decision.desired, { source: 'autoscaler', reason: decision.reason })
      .then(
        () => undefined,
        (e: Error) =>
          this.d.log.warn({ service, to: decision.desired, err: e.message }, 'autoscale failed'),
      )
      .finally(() => {
        state.acting = null;
      });
  }
}
