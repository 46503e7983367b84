// The Prometheus export (SPEC §6). Proxy series are read at scrape time from
// the proxy's own counters, so a request pays no label lookup; engine events
// use prom-client's counters and histograms directly.

import {
  collectDefaultMetrics,
  Counter,
  Histogram,
  Registry,
  type Metric,
  type MetricValue,
} from 'prom-client';
import type { ReleaseCountersEntry } from '../proxy/router';
import { BUCKET_BOUNDS_MS } from '../proxy/stats';
import type { ContainerSample } from './usage-sampler';
import type { AlertStatus } from './alerts';

export interface MetricsSources {
  counters(): ReleaseCountersEntry[];
  services(): string[];
  weights(service: string): Record<number, number>;
  containers(): ContainerSample[];
  alerts(): AlertStatus[];
}

type Labels = Record<string, string | number>;
type Value = MetricValue<string> & { metricName?: string };

/** A metric whose values are computed when scraped (prom-client's registry only calls get()). */
function scraped(
  name: string,
  help: string,
  type: 'counter' | 'gauge' | 'histogram',
  collect: () => Value[],
): Metric {
  return {
    name,
    help,
    type,
    get: () => ({ name, help, type, values: collect(), aggregator: 'sum' }),
  } as unknown as Metric;
}

const releaseLabel = (r: number | null): string => (r === null ? 'none' : String(r));

export class ShipitMetrics {
  readonly registry = new Registry();
  private readonly deploys: Counter<'service' | 'strategy' | 'result'>;
  private readonly deployDuration: Histogram<'service' | 'strategy'>;

  constructor(src: MetricsSources, opts: { processMetrics?: boolean } = {}) {
    const r = this.registry;
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: r });
    const byRelease = (e: ReleaseCountersEntry): Labels => ({
      service: e.service,
      release: releaseLabel(e.release),
    });
    r.registerMetric(
      scraped(
        'shipit_http_requests_total',
        'Requests answered through the proxy, by service, release and status code.',
        'counter',
        () =>
          src.counters().flatMap((e) =>
            e.stats.codeCounts().map(([code, value]) => ({
              labels: { ...byRelease(e), code },
              value,
            })),
          ),
      ),
    );
    r.registerMetric(
      scraped(
        'shipit_http_request_duration_seconds',
        'Time from request to the end of the response, through the proxy.',
        'histogram',
        () => src.counters().flatMap((e) => histogram('shipit_http_request_duration_seconds', e)),
      ),
    );
    r.registerMetric(
      scraped(
        'shipit_http_inflight_requests',
        'Requests in flight to the containers of a release (WebSockets included).',
        'gauge',
        () =>
          src
            .counters()
            .filter((e) => e.release !== null)
            .map((e) => ({ labels: byRelease(e), value: e.inflight })),
      ),
    );
    r.registerMetric(
      scraped(
        'shipit_upstream_errors_total',
        'Failed attempts to reach a container (refused, reset, timeout, unreachable, other).',
        'counter',
        () =>
          src.counters().flatMap((e) =>
            [...e.stats.upstreamErrors].map(([reason, value]) => ({
              labels: { ...byRelease(e), reason },
              value,
            })),
          ),
      ),
    );
    r.registerMetric(
      scraped('shipit_release_weight', 'Traffic weight of a release, percent.', 'gauge', () =>
        src.services().flatMap((service) =>
          Object.entries(src.weights(service)).map(([release, value]) => ({
            labels: { service, release },
            value,
          })),
        ),
      ),
    );
    r.registerMetric(
      scraped('shipit_replicas', 'Running containers of a release.', 'gauge', () => {
        const counts = new Map<string, Value>();
        for (const c of src.containers()) {
          const key = `${c.service}/${c.release}`;
          const v = counts.get(key) ?? {
            labels: { service: c.service, release: String(c.release) },
            value: 0,
          };
          v.value++;
          counts.set(key, v);
        }
        return [...counts.values()];
      }),
    );
    const perContainer = (c: ContainerSample): Labels => ({
      service: c.service,
      release: String(c.release),
      container: c.name,
    });
    r.registerMetric(
      scraped(
        'shipit_container_cpu_ratio',
        'CPU used by a container, in cores over its CPU limit (1 core when it has none).',
        'gauge',
        () =>
          src
            .containers()
            .filter((c) => c.cpuRatio !== null)
            .map((c) => ({ labels: perContainer(c), value: c.cpuRatio as number })),
      ),
    );
    r.registerMetric(
      scraped(
        'shipit_container_memory_bytes',
        'Memory used by a container, without reclaimable page cache.',
        'gauge',
        () => src.containers().map((c) => ({ labels: perContainer(c), value: c.memoryBytes })),
      ),
    );
    r.registerMetric(
      scraped('shipit_alerts_firing', 'Alert rules firing now (1) or not (0).', 'gauge', () =>
        src.alerts().map((a) => ({
          labels: { alert: a.name },
          value: a.state === 'firing' ? 1 : 0,
        })),
      ),
    );
    this.deploys = new Counter({
      name: 'shipit_deploys_total',
      help: 'Deploys and rollbacks that finished, by result.',
      labelNames: ['service', 'strategy', 'result'],
      registers: [r],
    });
    this.deployDuration = new Histogram({
      name: 'shipit_deploy_duration_seconds',
      help: 'Wall time of deploys and rollbacks, start to live (or failed).',
      labelNames: ['service', 'strategy'],
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
      registers: [r],
    });
  }

  deployFinished(service: string, strategy: string, result: string, seconds: number): void {
    this.deploys.inc({ service, strategy, result });
    this.deployDuration.observe({ service, strategy }, seconds);
  }

  /** Exports shipit_tls_cert_expiry_seconds from the certificates served (read at scrape). */
  tlsCertificates(read: () => { host: string; notAfter: number }[], now = Date.now): void {
    this.registry.registerMetric(
      scraped(
        'shipit_tls_cert_expiry_seconds',
        'Seconds until the certificate served for a host expires (negative once expired).',
        'gauge',
        () => read().map((c) => ({ labels: { host: c.host }, value: (c.notAfter - now()) / 1000 })),
      ),
    );
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

function histogram(name: string, e: ReleaseCountersEntry): Value[] {
  const s = e.stats;
  if (s.requests === 0) return [];
  const labels = { service: e.service, release: releaseLabel(e.release) };
  const out: Value[] = [];
  let cumulative = 0;
  BUCKET_BOUNDS_MS.forEach((ms, i) => {
    cumulative += s.buckets[i];
    out.push({
      metricName: `${name}_bucket`,
      labels: { ...labels, le: ms / 1000 },
      value: cumulative,
    });
  });
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: s.requests });
  out.push({ metricName: `${name}_sum`, labels, value: s.sumMs / 1000 });
  out.push({ metricName: `${name}_count`, labels, value: s.requests });
  return out;
}
