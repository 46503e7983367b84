import { splitOf, type ReleaseSplit } from './picker';
import type { Target } from './target';

export interface StickySpec {
  /** cookie | ip | header:<Name> */
  mode: 'cookie' | 'ip' | 'header';
  header?: string;
}

export interface AcceptanceSpec {
  header: string;
  cookie: string;
}

export interface ReleaseRoute {
  number: number;
  weight: number;
  targets: Target[];
}

export interface ServiceRoute {
  name: string;
  hosts: string[];
  releases: Map<number, ReleaseRoute>;
  split: ReleaseSplit;
  sticky: StickySpec;
  acceptance: AcceptanceSpec | null;
  /** True when more than one release takes traffic: only then is a sticky key needed. */
  splitting: boolean;
  /**
   * Rainbow: a user stays on the release that first served them (cookie
   * `shipit-release`) for as long as it lives; new users go to the newest.
   */
  pin: boolean;
}

/** Immutable once built: the router swaps a whole new table in one assignment. */
export class RoutingTable {
  private readonly byHost = new Map<string, ServiceRoute>();
  /** `*.example.com` patterns by suffix (".example.com"). */
  private readonly bySuffix = new Map<string, ServiceRoute>();
  private fallback: ServiceRoute | null = null;
  readonly services: ReadonlyMap<string, ServiceRoute>;

  constructor(services: Map<string, ServiceRoute>) {
    this.services = services;
    for (const s of services.values()) {
      for (const h of s.hosts) {
        if (h === '*') this.fallback = s;
        else if (h.startsWith('*.')) this.bySuffix.set(h.slice(1).toLowerCase(), s);
        else this.byHost.set(h.toLowerCase(), s);
      }
    }
  }

  /** Discovery: a Host header that names a service (`api`, `api:8080`). */
  byName(hostHeader: string | undefined): ServiceRoute | null {
    if (!hostHeader) return null;
    const colon = hostHeader.indexOf(':');
    const name = (colon > 0 ? hostHeader.slice(0, colon) : hostHeader).toLowerCase();
    return this.services.get(name) ?? null;
  }

  /**
   * Host header (port stripped, case-insensitive) to service: an exact host,
   * else the most specific `*.` pattern (any depth), else the `*` default.
   */
  lookup(hostHeader: string | undefined): ServiceRoute | null {
    if (hostHeader) {
      const colon = hostHeader.lastIndexOf(':');
      let host =
        colon > 0 && hostHeader.indexOf(']') < colon ? hostHeader.slice(0, colon) : hostHeader;
      const hit = this.byHost.get(host) ?? this.byHost.get((host = host.toLowerCase()));
      if (hit) return hit;
      if (this.bySuffix.size) {
        for (let dot = host.indexOf('.'); dot > 0; dot = host.indexOf('.', dot + 1)) {
          const w = this.bySuffix.get(host.slice(dot));
          if (w) return w;
        }
      }
    }
    return this.fallback;
  }
}

export function buildServiceRoute(
  name: string,
  hosts: string[],
  releases: ReleaseRoute[],
  sticky: StickySpec = { mode: 'cookie' },
  acceptance: AcceptanceSpec | null = null,
  pin = false,
): ServiceRoute {
  const split = splitOf(releases);
  return {
    name,
    hosts,
    releases: new Map(releases.map((r) => [r.number, r])),
    split,
    sticky,
    acceptance,
    splitting: split.ranges.length > 1,
    pin,
  };
}
