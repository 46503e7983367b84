import { ReleaseStats } from './stats';

/** One upstream container as the proxy sees it; mutable runtime counters live here. */
export class Target {
  inflight = 0;
  healthy = true;
  draining = false;
  readonly url: string;
  private parsed?: URL;
  constructor(
    readonly id: string,
    readonly name: string,
    readonly service: string,
    readonly release: number,
    readonly host: string,
    readonly port: number,
    /** Shared by every target of the same release. */
    readonly stats: ReleaseStats = new ReleaseStats(),
  ) {
    this.url = `http://${host}:${port}`;
  }
  /** The url parsed once: http-proxy-3 parses a string target on every request. */
  get urlObject(): URL {
    return (this.parsed ??= new URL(this.url));
  }
  get available(): boolean {
    return this.healthy && !this.draining;
  }
}

let rr = 0;

/** The available target with the fewest in-flight requests; ties rotate. */
export function leastInflight(targets: readonly Target[], exclude?: Target): Target | null {
  const n = targets.length;
  if (n === 0) return null;
  let best: Target | null = null;
  const start = rr++ % n;
  for (let i = 0; i < n; i++) {
    const t = targets[(start + i) % n];
    if (!t.available || t === exclude) continue;
    if (best === null || t.inflight < best.inflight) best = t;
  }
  return best;
}
