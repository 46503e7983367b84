// A pure model of the containers a plan acts on, for the planner tests (the contract
// grid and the fuzz test): each step applied as the executor would, with no I/O.
import type { ReleaseRecord, ReleaseStatus, Step, Weights } from '../domain/types';

export interface SimBox {
  healthy: boolean;
  draining: boolean;
}

export class PlanSim {
  readonly containers = new Map<number, Map<number, SimBox>>();
  weights: Weights = {};
  status = new Map<number, ReleaseStatus>();

  /** These releases, each with its recorded status and `replicas` healthy containers; no weights. */
  static running(releases: ReleaseRecord[]): PlanSim {
    const sim = new PlanSim();
    for (const r of releases) {
      sim.status.set(r.number, r.status);
      const m = new Map<number, SimBox>();
      for (let i = 1; i <= r.replicas; i++) m.set(i, { healthy: true, draining: false });
      sim.containers.set(r.number, m);
    }
    return sim;
  }

  clone(): PlanSim {
    const c = new PlanSim();
    for (const [r, m] of this.containers)
      c.containers.set(r, new Map([...m].map(([i, b]) => [i, { ...b }])));
    c.weights = { ...this.weights };
    c.status = new Map(this.status);
    return c;
  }

  of(release: number): Map<number, SimBox> {
    let m = this.containers.get(release);
    if (!m) this.containers.set(release, (m = new Map()));
    return m;
  }

  count(release: number): number {
    return this.of(release).size;
  }

  /** Containers that get users: healthy, not draining, of a release routed with weight > 0 (of `releases`, if given). */
  serving(releases?: number[]): number {
    let n = 0;
    for (const r of releases ?? Object.keys(this.weights).map(Number)) {
      if (!((this.weights[r] ?? 0) > 0)) continue;
      for (const b of this.of(r).values()) if (b.healthy && !b.draining) n++;
    }
    return n;
  }

  apply(s: Step): void {
    const pick = (release: number, indices?: number[]) =>
      [...this.of(release).entries()].filter(([i]) => !indices || indices.includes(i));
    switch (s.kind) {
      case 'start': {
        const m = this.of(s.release);
        for (const i of s.indices ?? Array.from({ length: s.count }, (_, k) => k + 1)) {
          if (s.ensure && m.has(i)) continue;
          m.set(i, { healthy: false, draining: false });
        }
        return;
      }
      case 'wait-healthy':
        for (const [, b] of pick(s.release, s.indices)) b.healthy = true;
        return;
      case 'set-weights':
        this.weights = { ...s.weights };
        // the executor publishes every running container of a routed release
        for (const r of Object.keys(s.weights).map(Number))
          for (const b of this.of(r).values()) b.draining = false;
        return;
      case 'drain':
        for (const [, b] of pick(s.release, s.indices)) b.draining = true;
        return;
      case 'remove':
        for (const [i] of pick(s.release, s.indices)) this.of(s.release).delete(i);
        return;
      case 'mark':
        this.status.set(s.release, s.status);
        return;
      case 'pause':
        return;
    }
  }
}
