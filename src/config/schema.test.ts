import { configJsonSchema, configSchema } from './schema';

const minimal = { project: 'demo', services: { web: { image: 'demo-web:v1', port: 8080 } } };

describe('configSchema defaults', () => {
  const cfg = configSchema.parse(minimal);
  const web = cfg.services.web;

  it('fills the top-level defaults of the spec example', () => {
    expect(cfg.runtime).toBe('docker');
    expect(cfg.proxy).toEqual({
      listen: '0.0.0.0:8080',
      upstreamTimeout: 30_000,
      maxBodySize: 10 * 1024 * 1024,
    });
    expect(cfg.api).toEqual({ listen: 'unix:.shipit/daemon.sock' });
    expect(cfg.alerts).toEqual([]);
    expect(cfg.logs).toEqual({ retention: 7 * 86_400_000, maxLines: 1_000_000 });
  });

  it('fills the service defaults', () => {
    expect(web.hosts).toEqual(['*']);
    expect(web.replicas).toBe(1);
    expect(web.env).toEqual({});
    expect(web.command).toBeUndefined();
    expect(web.resources).toBeUndefined();
    expect(web.autoscale).toBeUndefined();
    expect(web.links).toEqual([]);
    expect(web.acceptance).toEqual({ header: 'X-Shipit-Track', cookie: 'shipit-track' });
    expect(web.healthcheck).toEqual({
      path: '/',
      tcp: false,
      interval: 1000,
      timeout: 2000,
      healthyThreshold: 1,
      unhealthyThreshold: 3,
    });
  });

  it('fills the deploy defaults, including every strategy block', () => {
    expect(web.deploy).toEqual({
      strategy: 'blue-green',
      deployTimeout: 60_000,
      drainTimeout: 30_000,
      keepPrevious: 600_000,
      rolling: { maxSurge: 1, maxUnavailable: 0 },
      canary: {
        steps: [
          { weight: 5, pause: 30_000 },
          { weight: 50, pause: 'manual' },
        ],
        sticky: 'cookie',
        analysis: { interval: 5000, minRequests: 20, maxErrorRate: 0.05 },
      },
      rainbow: { maxLive: 3 },
    });
  });

  it('leaves path out of a tcp healthcheck', () => {
    const tcp = configSchema.parse({
      ...minimal,
      services: { web: { image: 'x', port: 1, healthcheck: { tcp: true } } },
    });
    expect(tcp.services.web.healthcheck.path).toBeUndefined();
    expect(tcp.services.web.healthcheck.tcp).toBe(true);
  });
});

describe('configSchema on the full spec example', () => {
  const full = configSchema.parse({
    project: 'demo',
    runtime: 'swarm',
    proxy: { listen: ':9090', upstreamTimeout: 1500, maxBodySize: '1g' },
    api: { listen: '127.0.0.1:7070' },
    services: {
      web: {
        image: 'demo-web:v1',
        port: 8080,
        hosts: ['App.Example.com', 'app.example.com', 'www.example.com:8080'],
        replicas: 2,
        env: { KEY: 'value', PORT: 8080, DEBUG: false },
        command: ['optional', 'override'],
        resources: { memory: '128m', cpus: 0.5 },
        healthcheck: {
          path: '/healthz',
          interval: '1s',
          timeout: '2s',
          healthyThreshold: 1,
          unhealthyThreshold: 3,
        },
        deploy: {
          strategy: 'canary',
          deployTimeout: '60s',
          drainTimeout: '30s',
          keepPrevious: '10m',
          rolling: { maxSurge: 1, maxUnavailable: 0 },
          canary: {
            steps: [{ weight: 5, pause: '30s' }, { weight: 50, pause: 'manual' }, { weight: 100 }],
            sticky: 'header:X-User',
            analysis: { interval: '5s', minRequests: 20, maxErrorRate: 0.05, maxP99: '1s' },
          },
          rainbow: { maxLive: 3, maxAge: '1h' },
        },
        acceptance: { header: 'X-Shipit-Track', cookie: 'shipit-track' },
        autoscale: {
          min: 0,
          max: 10,
          target: { rpsPerReplica: 50 },
          scaleDownDelay: '60s',
          idleTimeout: '5m',
          schedule: [{ from: '07:00', to: '19:00', min: 5 }],
        },
        links: ['api'],
      },
      api: { image: 'demo-api:v1', port: 3000, hosts: [] },
    },
    alerts: [
      {
        name: 'web-errors',
        service: 'web',
        when: { metric: 'error_rate', above: 0.05, for: '1m' },
        notify: { webhook: 'http://127.0.0.1:9999/hook' },
      },
      {
        name: 'web-slow',
        service: 'web',
        when: { metric: 'p99', above: '750ms' },
        notify: { webhook: 'https://x.test/h' },
      },
      {
        name: 'web-mem',
        service: 'web',
        when: { metric: 'memory', above: '512m' },
        notify: { webhook: 'https://x.test/h' },
      },
    ],
    logs: { retention: '7d', maxLines: 1000000 },
  });
  const web = full.services.web;

  it('normalises durations, sizes, hosts and env', () => {
    expect(full.proxy.upstreamTimeout).toBe(1500);
    expect(full.proxy.maxBodySize).toBe(1024 ** 3);
    expect(web.hosts).toEqual(['app.example.com', 'www.example.com:8080']);
    expect(web.env).toEqual({ KEY: 'value', PORT: '8080', DEBUG: 'false' });
    expect(web.resources).toEqual({ memory: 128 * 1024 * 1024, cpus: 0.5 });
    expect(web.deploy.canary.steps).toEqual([
      { weight: 5, pause: 30_000 },
      { weight: 50, pause: 'manual' },
      { weight: 100, pause: 0 },
    ]);
    expect(web.deploy.canary.analysis.maxP99).toBe(1000);
    expect(web.deploy.rainbow).toEqual({ maxLive: 3, maxAge: 3_600_000 });
    expect(web.autoscale).toEqual({
      min: 0,
      max: 10,
      target: { rpsPerReplica: 50 },
      scaleDownDelay: 60_000,
      idleTimeout: 300_000,
      schedule: [{ from: '07:00', to: '19:00', min: 5 }],
    });
  });

  it('normalises alert thresholds by metric', () => {
    expect(full.alerts.map((a) => [a.when.metric, a.when.above, a.when.for])).toEqual([
      ['error_rate', 0.05, 60_000],
      ['p99', 750, 0],
      ['memory', 512 * 1024 * 1024, 0],
    ]);
  });

  it('defaults the autoscale target', () => {
    const cfg = configSchema.parse({
      ...minimal,
      services: { web: { image: 'x', port: 1, autoscale: { max: 3 } } },
    });
    expect(cfg.services.web.autoscale?.target).toEqual({ inflightPerReplica: 10 });
    expect(cfg.services.web.autoscale?.min).toBe(1);
  });
});

describe('configJsonSchema', () => {
  const schema = configJsonSchema() as {
    type: string;
    additionalProperties: boolean;
    required: string[];
    properties: Record<string, Record<string, unknown>>;
  };

  it('is an object schema with services and no additional properties', () => {
    expect(schema.type).toBe('object');
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.services).toBeDefined();
    expect(schema.required).toEqual(expect.arrayContaining(['project', 'services']));
    expect(Object.keys(schema.properties).sort()).toEqual(
      ['alerts', 'api', 'logs', 'project', 'proxy', 'runtime', 'services'].sort(),
    );
  });

  it('describes durations by their input: a string pattern or integer milliseconds', () => {
    const proxy = schema.properties.proxy as {
      properties: Record<string, { anyOf: { type: string }[]; default: unknown }>;
    };
    const timeout = proxy.properties.upstreamTimeout;
    expect(timeout.anyOf.map((s) => s.type)).toEqual(['string', 'integer']);
    expect(timeout.default).toBe('30s');
  });

  it('is strict inside services too', () => {
    const services = schema.properties.services as {
      additionalProperties: { additionalProperties: boolean; properties: object };
    };
    expect(services.additionalProperties.additionalProperties).toBe(false);
    expect(Object.keys(services.additionalProperties.properties)).toEqual(
      expect.arrayContaining(['image', 'port', 'healthcheck', 'deploy', 'autoscale', 'links']),
    );
  });

  it('returns a fresh copy each call', () => {
    const a = configJsonSchema();
    a.title = 'changed';
    expect(configJsonSchema().title).toBe('shipit.yml');
  });
});

describe('configSchema edge errors', () => {
  function messages(input: unknown): string[] {
    const r = configSchema.safeParse(input);
    if (r.success) return [];
    return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  }
  const svc = (extra: object) => ({
    project: 'demo',
    services: { web: { image: 'x', port: 1, ...extra } },
  });

  it('needs exactly one autoscale target', () => {
    expect(messages(svc({ autoscale: { max: 2, target: {} } }))).toEqual([
      'services.web.autoscale.target: expected exactly one of inflightPerReplica, rpsPerReplica, cpu, got none',
    ]);
  });

  it('checks alert thresholds by metric', () => {
    const alert = (metric: string, above: unknown) => ({
      ...svc({}),
      alerts: [
        { name: 'a', service: 'web', when: { metric, above }, notify: { webhook: 'http://h' } },
      ],
    });
    expect(messages(alert('rps', -1))).toEqual([
      'alerts.0.when.above: expected a number >= 0, got -1',
    ]);
    expect(messages(alert('cpu', 'high'))).toEqual([
      'alerts.0.when.above: expected a number >= 0, got "high"',
    ]);
    expect(messages(alert('memory', 'lots'))).toEqual([
      'alerts.0.when.above: expected a size like "128m", got "lots"',
    ]);
    expect(messages(alert('rps', null))).toEqual([
      'alerts.0.when.above: expected a number, got null (an empty value)',
    ]);
  });

  it('takes exactly one of above / below, and a window (10s by default)', () => {
    const alert = (when: Record<string, unknown>) => ({
      ...svc({}),
      alerts: [{ name: 'a', service: 'web', when, notify: { webhook: 'http://h' } }],
    });
    const ok = configSchema.parse(alert({ metric: 'rps', below: 5, window: '30s' }));
    expect(ok.alerts[0].when).toEqual({ metric: 'rps', below: 5, for: 0, window: 30_000 });
    expect(configSchema.parse(alert({ metric: 'p99', above: '250ms' })).alerts[0].when).toEqual({
      metric: 'p99',
      above: 250,
      for: 0,
      window: 10_000,
    });
    expect(messages(alert({ metric: 'rps', above: 1, below: 5 }))).toEqual([
      'alerts.0.when.below: expected either above or below, not both',
    ]);
    expect(messages(alert({ metric: 'rps' }))).toEqual([
      'alerts.0.when: expected a threshold: above or below',
    ]);
    expect(messages(alert({ metric: 'memory', below: 'x' }))).toEqual([
      'alerts.0.when.below: expected a size like "128m", got "x"',
    ]);
  });

  it('accepts "*.domain" wildcard hosts and refuses other uses of *', () => {
    expect(configSchema.parse(svc({ hosts: ['*.Apps.test'] })).services.web.hosts).toEqual([
      '*.apps.test',
    ]);
    for (const bad of ['*.', 'a.*.test', '**.test', '*test'])
      expect(messages(svc({ hosts: [bad] }))).toEqual([
        `services.web.hosts.0: expected a host name like "app.example.com", "*.example.com" or "*", got "${bad}"`,
      ]);
  });

  it('reports wrong types without crashing the cross-field checks', () => {
    expect(messages(svc({ hosts: 'web.local', links: 'api' }))).toEqual([
      'services.web.hosts: expected a list of hosts like ["app.example.com"], got "web.local"',
      'services.web.links: expected a list of service names, got "api"',
    ]);
    expect(messages({ ...svc({ hosts: [1] }), alerts: {} })).toEqual([
      'services.web.hosts.0: expected a host name like "app.example.com", "*.example.com" or "*", got 1',
      'alerts: expected a list of alerts, got an empty mapping',
    ]);
    expect(messages({ ...svc({}), alerts: [null, { name: 3 }] })).toEqual(
      expect.arrayContaining([
        'alerts.0: expected a mapping, got null (an empty value)',
        'alerts.1.name: expected an alert name, got 3',
      ]),
    );
    expect(
      messages(
        svc({
          deploy: { canary: { steps: 'fast' } },
          autoscale: { max: 'x', schedule: 'all day' },
        }),
      ),
    ).toEqual([
      'services.web.deploy.canary.steps: expected a list of steps like { weight: 5, pause: 30s }, got "fast"',
      'services.web.autoscale.max: expected an integer >= 1, got "x"',
      'services.web.autoscale.schedule: expected a list of windows like { from: "07:00", to: "19:00", min: 20 }, got "all day"',
    ]);
    expect(messages({ project: 'demo', services: { web: null } })).toEqual([
      'services.web: expected a mapping of service settings, got null (an empty value)',
    ]);
  });

  it('rejects durations and sizes too large to represent', () => {
    expect(
      messages({
        ...svc({}),
        proxy: { upstreamTimeout: '99999999999999999999d', maxBodySize: '99999999999999t' },
      }),
    ).toEqual([
      'proxy.upstreamTimeout: expected a duration like "5s", got "99999999999999999999d"',
      'proxy.maxBodySize: expected a size like "128m", got "99999999999999t"',
    ]);
  });

  it('rejects empty lists where one item is needed', () => {
    expect(messages(svc({ command: [], deploy: { canary: { steps: [] } } }))).toEqual([
      'services.web.command: expected a non-empty list of strings, got an empty list',
      'services.web.deploy.canary.steps: expected at least one step, got an empty list',
    ]);
  });
});
