import type { RouteTargetInput } from '../ports/router';
import { ProxyRouter } from '../proxy/router';
import { BUCKET_BOUNDS_MS } from '../proxy/stats';
import type { AlertStatus } from './alerts';
import { ShipitMetrics } from './metrics';
import type { ContainerSample } from './usage-sampler';

function tgt(id: string, n = 2): RouteTargetInput {
  return { id, name: `app-web-${id}`, host: `10.0.0.${n}`, port: 8080 };
}

function container(over: Partial<ContainerSample>): ContainerSample {
  return {
    id: 'c1',
    name: 'app-web-r1-0',
    service: 'web',
    release: 1,
    cpuRatio: 0.25,
    memoryBytes: 1000,
    at: 0,
    ...over,
  };
}

function alert(name: string, state: AlertStatus['state']): AlertStatus {
  return {
    name,
    service: 'web',
    metric: 'error_rate',
    op: 'above',
    threshold: 0.05,
    state,
    value: null,
    since: 0,
  };
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
// Prometheus parses values with Go's ParseFloat: special values are case-insensitive
// (prom-client writes NaN as "Nan", e.g. the event loop lag before its first sample).
const VALUE =
  '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]?[iI][nN][fF]|[nN][aA][nN])';
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?\\})? (${VALUE})$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const HELP_LINE = new RegExp(`^# HELP (${NAME}) .*$`);

/**
 * Parses the Prometheus text format strictly enough to catch a malformed export: every line is
 * a HELP, a TYPE or a sample; every sample belongs to the family typed before it.
 */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  let family = '';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = TYPE_LINE.exec(line);
    if (type) {
      expect(types.has(type[1])).toBe(false); // a family appears once
      types.set(type[1], type[2]);
      family = type[1];
      continue;
    }
    if (HELP_LINE.test(line)) continue;
    const m = SAMPLE_LINE.exec(line);
    if (!m) throw new Error(`not a valid exposition line: ${JSON.stringify(line)}`);
    const suffixes = types.get(family) === 'histogram' ? ['_bucket', '_sum', '_count'] : [''];
    if (!suffixes.some((s) => m[1] === family + s)) {
      throw new Error(`sample ${m[1]} outside its family ${family}`);
    }
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2];
    }
    const value = /inf/i.test(m[3]) ? (m[3].startsWith('-') ? -Infinity : Infinity) : Number(m[3]);
    samples.push({ name: m[1], labels, value });
  }
  return { samples, types };
}

function find(samples: Sample[], name: string, labels: Record<string, string>): Sample[] {
  return samples.filter(
    (s) =>
      s.name === name &&
      Object.keys(labels).length === Object.keys(s.labels).length &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

function valueOf(samples: Sample[], name: string, labels: Record<string, string>): number {
  const found = find(samples, name, labels);
  if (found.length !== 1) {
    throw new Error(`${found.length} samples of ${name}${JSON.stringify(labels)}`);
  }
  return found[0].value;
}

function setup(opts: { processMetrics?: boolean } = {}) {
  const router = new ProxyRouter();
  router.setService(
    'web',
    ['web.test'],
    [
      { number: 1, weight: 90, targets: [tgt('a'), tgt('b', 3)] },
      { number: 2, weight: 10, targets: [tgt('c', 4)] },
    ],
  );
  const containers: ContainerSample[] = [];
  const alerts: AlertStatus[] = [];
  const metrics = new ShipitMetrics(
    {
      counters: () => router.counters(),
      services: () => router.services(),
      weights: (s) => router.weights(s),
      containers: () => containers,
      alerts: () => alerts,
    },
    opts,
  );
  const stats = (id: string) => {
    const t = router.target(id);
    if (!t) throw new Error(`no target ${id}`);
    return t.stats;
  };
  const scrape = async () => parse(await metrics.text());
  return { router, metrics, containers, alerts, stats, scrape };
}

describe('ShipitMetrics', () => {
  it('counts requests by service, release and status code', async () => {
    const { stats, scrape } = setup({ processMetrics: false });
    for (let i = 0; i < 7; i++) stats('a').record(200, 3);
    stats('b').record(200, 5); // same release: shares the counters
    stats('a').record(404, 1);
    stats('c').record(502, 10);
    const { samples } = await scrape();
    expect(
      valueOf(samples, 'shipit_http_requests_total', { service: 'web', release: '1', code: '200' }),
    ).toBe(8);
    expect(
      valueOf(samples, 'shipit_http_requests_total', { service: 'web', release: '1', code: '404' }),
    ).toBe(1);
    expect(
      valueOf(samples, 'shipit_http_requests_total', { service: 'web', release: '2', code: '502' }),
    ).toBe(1);
    // No line for codes that never happened.
    expect(
      find(samples, 'shipit_http_requests_total', { service: 'web', release: '2', code: '200' }),
    ).toEqual([]);
  });

  it('writes the exact SPEC line for N requests on a routed target', async () => {
    const { stats, metrics } = setup({ processMetrics: false });
    for (let i = 0; i < 12; i++) stats('a').record(200, 20);
    const text = await metrics.text();
    expect(text).toContain('shipit_http_requests_total{service="web",release="1",code="200"} 12\n');
    expect(text).toContain('# TYPE shipit_http_requests_total counter');
    expect(text).toContain('# TYPE shipit_http_request_duration_seconds histogram');
    expect(text).toContain(
      'shipit_http_request_duration_seconds_count{service="web",release="1"} 12',
    );
    expect(text).toContain(
      'shipit_http_request_duration_seconds_bucket{service="web",release="1",le="+Inf"} 12',
    );
  });

  it('exports a cumulative latency histogram in seconds', async () => {
    const { stats, scrape } = setup({ processMetrics: false });
    const s = stats('a');
    s.record(200, 1); // le 0.001
    s.record(200, 3); // le 0.004
    s.record(200, 3);
    s.record(200, 100); // le 0.128
    s.record(200, 100_000); // past the last bound: only +Inf
    const { samples, types } = await scrape();
    expect(types.get('shipit_http_request_duration_seconds')).toBe('histogram');
    const labels = { service: 'web', release: '1' };
    const bucket = (le: string) =>
      valueOf(samples, 'shipit_http_request_duration_seconds_bucket', { ...labels, le });
    expect(bucket('0.001')).toBe(1);
    expect(bucket('0.002')).toBe(1);
    expect(bucket('0.004')).toBe(3);
    expect(bucket('0.064')).toBe(3);
    expect(bucket('0.128')).toBe(4);
    expect(bucket(String(BUCKET_BOUNDS_MS.at(-1)! / 1000))).toBe(4);
    expect(bucket('+Inf')).toBe(5);
    expect(valueOf(samples, 'shipit_http_request_duration_seconds_count', labels)).toBe(5);
    expect(valueOf(samples, 'shipit_http_request_duration_seconds_sum', labels)).toBeCloseTo(
      100.107,
    );

    // Every bound is there, in order, and the counts never go down.
    const series = samples.filter(
      (x) => x.name === 'shipit_http_request_duration_seconds_bucket' && x.labels.release === '1',
    );
    expect(series.map((x) => x.labels.le)).toEqual([
      ...BUCKET_BOUNDS_MS.map((ms) => String(ms / 1000)),
      '+Inf',
    ]);
    for (let i = 1; i < series.length; i++) {
      expect(series[i].value).toBeGreaterThanOrEqual(series[i - 1].value);
    }
  });

  it('has no histogram series for a release without requests', async () => {
    const { stats, scrape } = setup({ processMetrics: false });
    stats('a').record(200, 1);
    const { samples } = await scrape();
    expect(
      samples.some(
        (x) => x.name.startsWith('shipit_http_request_duration') && x.labels.release === '2',
      ),
    ).toBe(false);
    expect(
      samples.some(
        (x) => x.name.startsWith('shipit_http_request_duration') && x.labels.release === '1',
      ),
    ).toBe(true);
  });

  it('counts upstream errors by reason', async () => {
    const { stats, scrape } = setup({ processMetrics: false });
    stats('a').upstreamError('refused');
    stats('b').upstreamError('refused');
    stats('a').upstreamError('timeout');
    stats('c').upstreamError('reset');
    const { samples, types } = await scrape();
    expect(types.get('shipit_upstream_errors_total')).toBe('counter');
    const v = (release: string, reason: string) =>
      valueOf(samples, 'shipit_upstream_errors_total', { service: 'web', release, reason });
    expect(v('1', 'refused')).toBe(2);
    expect(v('1', 'timeout')).toBe(1);
    expect(v('2', 'reset')).toBe(1);
  });

  it('labels the proxy own answers (no release picked) release="none"', async () => {
    const { router, scrape } = setup({ processMetrics: false });
    router.unrouted('web').record(503, 0.5);
    router.unrouted('web').record(503, 0.5);
    router.unrouted('web').record(413, 0.5);
    const { samples } = await scrape();
    expect(
      valueOf(samples, 'shipit_http_requests_total', {
        service: 'web',
        release: 'none',
        code: '503',
      }),
    ).toBe(2);
    expect(
      valueOf(samples, 'shipit_http_requests_total', {
        service: 'web',
        release: 'none',
        code: '413',
      }),
    ).toBe(1);
    expect(
      valueOf(samples, 'shipit_http_request_duration_seconds_count', {
        service: 'web',
        release: 'none',
      }),
    ).toBe(3);
    // The proxy's own answers have nothing in flight to a container: no inflight series.
    expect(
      find(samples, 'shipit_http_inflight_requests', { service: 'web', release: 'none' }),
    ).toEqual([]);
    expect(samples.some((x) => x.labels.release === '0')).toBe(false);
  });

  it('reports in-flight requests per release', async () => {
    const { router, stats, scrape } = setup({ processMetrics: false });
    stats('a'); // exists
    router.target('a')!.inflight = 2;
    router.target('b')!.inflight = 3;
    const { samples } = await scrape();
    expect(
      valueOf(samples, 'shipit_http_inflight_requests', { service: 'web', release: '1' }),
    ).toBe(5);
    expect(
      valueOf(samples, 'shipit_http_inflight_requests', { service: 'web', release: '2' }),
    ).toBe(0);
  });

  it('reports release weights of every routed service', async () => {
    const { router, scrape } = setup({ processMetrics: false });
    router.setService('api', ['api.test'], [{ number: 4, weight: 100, targets: [tgt('x', 9)] }]);
    const { samples, types } = await scrape();
    expect(types.get('shipit_release_weight')).toBe('gauge');
    expect(valueOf(samples, 'shipit_release_weight', { service: 'web', release: '1' })).toBe(90);
    expect(valueOf(samples, 'shipit_release_weight', { service: 'web', release: '2' })).toBe(10);
    expect(valueOf(samples, 'shipit_release_weight', { service: 'api', release: '4' })).toBe(100);
  });

  it('reports replicas, CPU and memory from the sampled containers, at scrape time', async () => {
    const { containers, scrape } = setup({ processMetrics: false });
    expect(
      find((await scrape()).samples, 'shipit_replicas', { service: 'web', release: '1' }),
    ).toEqual([]);

    containers.push(
      container({ id: 'a', name: 'app-web-r1-0', cpuRatio: 0.5, memoryBytes: 100 }),
      container({ id: 'b', name: 'app-web-r1-1', cpuRatio: null, memoryBytes: 200 }),
      container({ id: 'c', name: 'app-web-r2-0', release: 2, cpuRatio: 1.5, memoryBytes: 300 }),
      container({ id: 'd', name: 'app-api-r7-0', service: 'api', release: 7, memoryBytes: 400 }),
    );
    const { samples } = await scrape();
    expect(valueOf(samples, 'shipit_replicas', { service: 'web', release: '1' })).toBe(2);
    expect(valueOf(samples, 'shipit_replicas', { service: 'web', release: '2' })).toBe(1);
    expect(valueOf(samples, 'shipit_replicas', { service: 'api', release: '7' })).toBe(1);

    const per = (service: string, release: string, c: string) => ({
      service,
      release,
      container: c,
    });
    expect(valueOf(samples, 'shipit_container_cpu_ratio', per('web', '1', 'app-web-r1-0'))).toBe(
      0.5,
    );
    expect(valueOf(samples, 'shipit_container_cpu_ratio', per('web', '2', 'app-web-r2-0'))).toBe(
      1.5,
    );
    // No CPU reading yet (first round): no series rather than a made-up 0.
    expect(find(samples, 'shipit_container_cpu_ratio', per('web', '1', 'app-web-r1-1'))).toEqual(
      [],
    );
    expect(valueOf(samples, 'shipit_container_memory_bytes', per('web', '1', 'app-web-r1-1'))).toBe(
      200,
    );
    expect(valueOf(samples, 'shipit_container_memory_bytes', per('api', '7', 'app-api-r7-0'))).toBe(
      400,
    );
  });

  it('reports each alert rule as firing (1) or not (0)', async () => {
    const { alerts, scrape } = setup({ processMetrics: false });
    alerts.push(alert('web-errors', 'firing'), alert('web-slow', 'pending'), alert('quiet', 'ok'));
    const { samples } = await scrape();
    expect(valueOf(samples, 'shipit_alerts_firing', { alert: 'web-errors' })).toBe(1);
    expect(valueOf(samples, 'shipit_alerts_firing', { alert: 'web-slow' })).toBe(0);
    expect(valueOf(samples, 'shipit_alerts_firing', { alert: 'quiet' })).toBe(0);
    alerts[0] = alert('web-errors', 'ok');
    expect(valueOf((await scrape()).samples, 'shipit_alerts_firing', { alert: 'web-errors' })).toBe(
      0,
    );
  });

  it('deployFinished counts deploys by result and observes their duration', async () => {
    const { metrics, scrape } = setup({ processMetrics: false });
    metrics.deployFinished('web', 'canary', 'success', 12.5);
    metrics.deployFinished('web', 'canary', 'success', 3);
    metrics.deployFinished('web', 'canary', 'rolled-back', 40);
    metrics.deployFinished('api', 'rolling', 'success', 0.2);
    const { samples, types } = await scrape();
    expect(types.get('shipit_deploys_total')).toBe('counter');
    expect(types.get('shipit_deploy_duration_seconds')).toBe('histogram');
    const deploys = (service: string, strategy: string, result: string) =>
      valueOf(samples, 'shipit_deploys_total', { service, strategy, result });
    expect(deploys('web', 'canary', 'success')).toBe(2);
    expect(deploys('web', 'canary', 'rolled-back')).toBe(1);
    expect(deploys('api', 'rolling', 'success')).toBe(1);

    const web = { service: 'web', strategy: 'canary' };
    expect(valueOf(samples, 'shipit_deploy_duration_seconds_count', web)).toBe(3);
    expect(valueOf(samples, 'shipit_deploy_duration_seconds_sum', web)).toBeCloseTo(55.5);
    expect(valueOf(samples, 'shipit_deploy_duration_seconds_bucket', { ...web, le: '5' })).toBe(1);
    expect(valueOf(samples, 'shipit_deploy_duration_seconds_bucket', { ...web, le: '20' })).toBe(2);
    expect(valueOf(samples, 'shipit_deploy_duration_seconds_bucket', { ...web, le: '60' })).toBe(3);
    expect(valueOf(samples, 'shipit_deploy_duration_seconds_bucket', { ...web, le: '+Inf' })).toBe(
      3,
    );
    expect(
      valueOf(samples, 'shipit_deploy_duration_seconds_bucket', {
        service: 'api',
        strategy: 'rolling',
        le: '0.5',
      }),
    ).toBe(1);
  });

  it('includes Node process metrics unless asked not to', async () => {
    const m = setup();
    // prom-client counts CPU from registration on; the kernel may account it in 4 ms ticks
    for (const end = Date.now() + 30; Date.now() < end;);
    const withProcess = await m.scrape();
    expect(withProcess.types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(withProcess.types.has('nodejs_heap_size_used_bytes')).toBe(true);
    expect(
      withProcess.samples.find((s) => s.name === 'process_cpu_user_seconds_total')?.value,
    ).toBeGreaterThan(0);

    const without = await setup({ processMetrics: false }).scrape();
    expect(without.types.has('process_cpu_user_seconds_total')).toBe(false);
  });

  it('the whole export, with every family populated, is valid exposition text', async () => {
    const { metrics, router, stats, containers, alerts } = setup();
    stats('a').record(200, 3);
    stats('c').record(500, 7000);
    stats('c').upstreamError('refused');
    router.unrouted('web').record(503, 0);
    containers.push(container({}));
    alerts.push(alert('web-errors', 'firing'));
    metrics.deployFinished('web', 'rolling', 'success', 4);
    const text = await metrics.text();
    const { types, samples } = parse(text); // throws on any malformed line
    for (const family of [
      'shipit_http_requests_total',
      'shipit_http_request_duration_seconds',
      'shipit_http_inflight_requests',
      'shipit_upstream_errors_total',
      'shipit_deploys_total',
      'shipit_deploy_duration_seconds',
      'shipit_release_weight',
      'shipit_replicas',
      'shipit_container_cpu_ratio',
      'shipit_container_memory_bytes',
      'shipit_alerts_firing',
    ]) {
      expect(types.has(family)).toBe(true);
      expect(samples.some((s) => s.name === family || s.name.startsWith(`${family}_`))).toBe(true);
    }
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('rejects a malformed line (the parser used above can fail)', () => {
    expect(() => parse('# TYPE x counter\nx{a="1"} one')).toThrow(/not a valid exposition line/);
    expect(() => parse('# TYPE x counter\ny 1')).toThrow(/outside its family/);
  });
});
