import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ShipitError } from '../domain/errors';
import {
  loadConfig,
  locateConfig,
  parseConfig,
  pickService,
  resolveConfigPath,
  serviceSpecFromRaw,
} from './load';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-config-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const MINIMAL = `project: demo
services:
  web:
    image: demo-web:v1
    port: 8080
`;

function write(text: string, name = 'shipit.yml'): string {
  const file = path.join(tmp, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

/** The ShipitError thrown by loading `text` from <tmp>/shipit.yml. */
function loadError(text: string): ShipitError {
  write(text);
  try {
    loadConfig({ cwd: tmp, env: {} });
  } catch (e) {
    if (e instanceof ShipitError) return e;
    throw e;
  }
  throw new Error('expected loadConfig to throw');
}

describe('resolveConfigPath / loadConfig file resolution', () => {
  it('prefers an explicit path, relative to cwd', () => {
    const file = write(MINIMAL, 'conf/prod.yml');
    write('not: valid'); // <cwd>/shipit.yml must not be read
    const cfg = loadConfig({ path: 'conf/prod.yml', cwd: tmp, env: { SHIPIT_CONFIG: 'nope.yml' } });
    expect(cfg.path).toBe(file);
    expect(cfg.dir).toBe(path.join(tmp, 'conf'));
  });

  it('then SHIPIT_CONFIG, then <cwd>/shipit.yml', () => {
    expect(resolveConfigPath({ cwd: tmp, env: { SHIPIT_CONFIG: 'x/y.yml' } })).toEqual({
      path: path.join(tmp, 'x/y.yml'),
      source: 'SHIPIT_CONFIG',
    });
    expect(resolveConfigPath({ cwd: tmp, env: {} })).toEqual({
      path: path.join(tmp, 'shipit.yml'),
      source: 'default',
    });
    const file = write(MINIMAL, 'other.yml');
    expect(loadConfig({ cwd: tmp, env: { SHIPIT_CONFIG: file } }).path).toBe(file);
    write(MINIMAL);
    expect(loadConfig({ cwd: tmp, env: {} }).path).toBe(path.join(tmp, 'shipit.yml'));
  });

  it('reads shipit.yml inside a directory given as the path', () => {
    write(MINIMAL, 'app/shipit.yml');
    expect(loadConfig({ path: 'app', cwd: tmp, env: {} }).path).toBe(
      path.join(tmp, 'app/shipit.yml'),
    );
  });

  it('defaults cwd and env to the process', () => {
    expect(resolveConfigPath().path).toBe(
      process.env.SHIPIT_CONFIG
        ? path.resolve(process.env.SHIPIT_CONFIG)
        : path.resolve('shipit.yml'),
    );
  });
});

describe('loadConfig errors', () => {
  it('names the missing file and says to run shipit init', () => {
    const err = (() => {
      try {
        loadConfig({ cwd: tmp, env: {} });
      } catch (e) {
        return e as ShipitError;
      }
      throw new Error('not thrown');
    })();
    expect(err.code).toBe('config');
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(
      `no config file at ${path.join(tmp, 'shipit.yml')}: run \`shipit init\` to create one`,
    );
    expect(err.hint).toMatch(/shipit init/);
  });

  it('says where a missing path came from', () => {
    expect(() => loadConfig({ cwd: tmp, env: { SHIPIT_CONFIG: 'gone.yml' } })).toThrow(
      `no config file at ${path.join(tmp, 'gone.yml')} (from SHIPIT_CONFIG)`,
    );
    expect(() => loadConfig({ path: 'gone.yml', cwd: tmp, env: {} })).toThrow('(from --config)');
  });

  it('reports other read errors', () => {
    write('x');
    expect(() => loadConfig({ path: 'shipit.yml/inner.yml', cwd: tmp, env: {} })).toThrow(
      /cannot read config file .*inner\.yml/,
    );
  });

  it('reports YAML syntax errors with line and column', () => {
    const err = loadError('project: demo\nservices:\n  web: [unclosed\n');
    expect(err.code).toBe('config');
    expect(err.message).toContain(`invalid YAML in ${path.join(tmp, 'shipit.yml')}:`);
    expect(err.message).toMatch(/line \d+, column \d+: /);
  });

  it('reports duplicate keys as YAML errors', () => {
    const err = loadError('project: demo\nproject: other\n');
    expect(err.message).toMatch(/line 2, column 1: Map keys must be unique/);
  });

  it('rejects an empty file', () => {
    expect(loadError('# nothing here\n').message).toContain('the file is empty');
  });

  it('names the key path and the expectation of a bad duration', () => {
    const err = loadError(`${MINIMAL}    healthcheck:\n      interval: fast\n`);
    expect(err.message).toContain(`invalid config ${path.join(tmp, 'shipit.yml')}:`);
    expect(err.message).toContain(
      'services.web.healthcheck.interval: expected a duration like "5s", got "fast" (line 7)',
    );
    expect(err.hint).toMatch(/shipit schema/);
  });

  it('names an unknown key and the allowed ones, at every level', () => {
    const err = loadError(
      `${MINIMAL}    foo: 1\n    deploy:\n      strategy: rolling\n      bar: 2\nextra: true\n`,
    );
    expect(err.message).toContain(
      '  - services.web.foo: unknown key (allowed: image, port, hosts, replicas, env, command, resources, healthcheck, deploy, acceptance, autoscale, links) (line 6)',
    );
    expect(err.message).toContain(
      'services.web.deploy.bar: unknown key (allowed: strategy, deployTimeout, drainTimeout, keepPrevious, rolling, canary, rainbow) (line 9)',
    );
    expect(err.message).toContain(
      'extra: unknown key (allowed: project, runtime, proxy, api, services, alerts, logs) (line 10)',
    );
  });

  it('reports every problem at once, in file order', () => {
    const err = loadError(`project: Demo!
runtime: kubernetes
proxy:
  listen: "nowhere"
  maxBodySize: huge
services:
  web:
    port: 99999
    replicas: 0
    env: { "BAD KEY": x, OK: null }
    resources: { memory: lots, cpus: 0 }
    healthcheck: { path: healthz, tcp: yes }
    deploy:
      strategy: yolo
      canary:
        steps: [{ weight: 50 }, { weight: 10, pause: later }]
        sticky: session
      rolling: { maxSurge: 0, maxUnavailable: 0 }
    autoscale: { min: 5, max: 2, target: { cpu: 2, rpsPerReplica: 3 }, schedule: [{ from: "7am", to: "19:00", min: 9 }] }
    links: [api]
alerts:
  - { name: a, service: wbe, when: { metric: p99, above: 0.5 }, notify: { webhook: "ftp://x" } }
  - { name: a, service: web, when: { metric: latency, above: 1 }, notify: {} }
`);
    const lines = err.message.split('\n').slice(1);
    expect(lines).toEqual([
      '  - project: expected a project name of lowercase letters, digits and "-", 1 to 32 characters, got "Demo!" (line 1)',
      '  - runtime: expected one of docker, swarm, got "kubernetes" (line 2)',
      '  - proxy.listen: expected an address like "0.0.0.0:8080", got "nowhere" (line 4)',
      '  - proxy.maxBodySize: expected a size like "128m", got "huge" (line 5)',
      '  - services.web.image: is required (expected an image like "demo-web:v1") (line 7)',
      '  - services.web.port: expected an integer from 1 to 65535, got 99999 (line 8)',
      '  - services.web.replicas: expected an integer >= 1, got 0 (line 9)',
      '  - services.web.env.BAD KEY: invalid environment variable name (expected a name without "=" or spaces) (line 10)',
      '  - services.web.env.OK: expected a string, number or boolean, got null (an empty value) (line 10)',
      '  - services.web.resources.memory: expected a size like "128m", got "lots" (line 11)',
      '  - services.web.resources.cpus: expected a number of CPUs above 0, like 0.5, got 0 (line 11)',
      '  - services.web.healthcheck.path: expected an HTTP path like "/healthz", got "healthz" (line 12)',
      '  - services.web.healthcheck.tcp: expected true or false, got "yes" (line 12)',
      '  - services.web.deploy.strategy: expected one of rolling, blue-green, canary, rainbow, got "yolo" (line 14)',
      "  - services.web.deploy.canary.steps[1].weight: expected a weight above the previous step's 50, got 10 (line 16)",
      '  - services.web.deploy.canary.steps[1].pause: expected a duration like "5s" or "manual", got "later" (line 16)',
      '  - services.web.deploy.canary.sticky: expected "cookie", "ip" or "header:<Name>", got "session" (line 17)',
      '  - services.web.deploy.rolling.maxSurge: maxSurge and maxUnavailable cannot both be 0 (the rollout could not make progress) (line 18)',
      '  - services.web.autoscale.min: expected at most max (2), got 5 (line 19)',
      '  - services.web.autoscale.target: expected exactly one of inflightPerReplica, rpsPerReplica, cpu, got rpsPerReplica, cpu (line 19)',
      '  - services.web.autoscale.target.cpu: expected a CPU ratio above 0, up to 1, got 2 (line 19)',
      '  - services.web.autoscale.schedule[0].from: expected a local time like "07:00", got "7am" (line 19)',
      '  - services.web.autoscale.schedule[0].min: expected at most max (2), got 9 (line 19)',
      '  - services.web.links[0]: unknown service "api" (services: web) (line 20)',
      '  - alerts[0].service: unknown service "wbe" (services: web) (line 22)',
      '  - alerts[0].when.above: expected a duration like "5s", got 0.5 (line 22)',
      '  - alerts[0].notify.webhook: expected an http(s) URL, got "ftp://x" (line 22)',
      '  - alerts[1].name: duplicate alert name "a" (line 23)',
      '  - alerts[1].when.metric: expected one of error_rate, p99, rps, cpu, memory, got "latency" (line 23)',
      '  - alerts[1].notify.webhook: is required (expected an http(s) URL) (line 23)',
    ]);
  });

  it('rejects a host claimed by two services, naming both', () => {
    const err = loadError(`${MINIMAL}    hosts: [app.example.com]
  api:
    image: demo-api:v1
    port: 3000
    hosts: [APP.example.com]
`);
    expect(err.message).toContain(
      'services.api.hosts: host "app.example.com" is claimed by two services, web and api',
    );
  });

  it('treats two services without hosts as both claiming "*"', () => {
    const err = loadError(`${MINIMAL}  api: { image: demo-api:v1, port: 3000 }\n`);
    expect(err.message).toContain(
      'services.api.hosts: host "*" is claimed by two services, web and api',
    );
    expect(err.message).toContain('hosts: []');
  });

  it('rejects a missing services map and zero services', () => {
    expect(loadError('project: demo\n').message).toContain(
      '  - services: is required (expected a mapping of service names to settings) (line 1)',
    );
    expect(loadError('project: demo\nservices: {}\n').message).toContain(
      '  - services: expected at least one service, got none (line 2)',
    );
    expect(loadError('project: demo\nservices: [web]\n').message).toContain(
      '  - services: expected a mapping of service names to settings, got a list (line 2)',
    );
  });

  it('rejects a bad service name and a file that is not a mapping', () => {
    expect(
      loadError(`project: demo\nservices:\n  Web_1: { image: x, port: 1 }\n`).message,
    ).toContain(
      '  - services.Web_1: invalid service name (expected lowercase letters, digits and "-", 1 to 32 characters) (line 3)',
    );
    expect(loadError('- a\n- b\n').message).toContain(
      '  - (top level): expected a mapping of settings, got a list (line 1)',
    );
  });

  it('rejects path and tcp together in a healthcheck', () => {
    expect(loadError(`${MINIMAL}    healthcheck: { path: /h, tcp: true }\n`).message).toContain(
      'services.web.healthcheck.path: set either path (HTTP check) or tcp: true, not both',
    );
  });

  it('says "fix the key above" for a single problem', () => {
    expect(loadError(`${MINIMAL}    replicas: two\n`).hint).toMatch(/^fix the key above; /);
    expect(
      loadError(`${MINIMAL}    replicas: two\n    port: x\n`.replace('    port: 8080\n', '')).hint,
    ).toMatch(/^fix the keys above; /);
  });
});

describe('LoadedConfig', () => {
  it('builds the skeleton from the minimal config', () => {
    const file = write(MINIMAL);
    const cfg = loadConfig({ cwd: tmp, env: {} });
    expect(cfg.path).toBe(file);
    expect(cfg.dir).toBe(tmp);
    expect(cfg.stateDir).toBe(path.join(tmp, '.shipit'));
    expect(cfg.project).toBe('demo');
    expect(cfg.runtime).toBe('docker');
    expect(cfg.proxy).toEqual({
      host: '0.0.0.0',
      port: 8080,
      upstreamTimeoutMs: 30_000,
      maxBodyBytes: 10 * 1024 * 1024,
    });
    expect(cfg.api).toEqual({ socketPath: path.join(tmp, '.shipit', 'daemon.sock') });
    expect(cfg.services).toEqual({
      web: {
        name: 'web',
        image: 'demo-web:v1',
        port: 8080,
        hosts: ['*'],
        replicas: 1,
        env: {},
        healthcheck: {
          path: '/',
          intervalMs: 1000,
          timeoutMs: 2000,
          healthyThreshold: 1,
          unhealthyThreshold: 3,
        },
        deploy: {
          strategy: 'blue-green',
          deployTimeoutMs: 60_000,
          drainTimeoutMs: 30_000,
          keepPreviousMs: 600_000,
          rolling: { maxSurge: 1, maxUnavailable: 0 },
          rainbow: { maxLive: 3 },
          canary: {
            steps: [
              { weight: 5, pauseMs: 30_000 },
              { weight: 50, pauseMs: 'manual' },
            ],
            sticky: 'cookie',
            analysis: { intervalMs: 5000, minRequests: 20, maxErrorRate: 0.05 },
          },
        },
        acceptance: { header: 'X-Shipit-Track', cookie: 'shipit-track' },
      },
    });
    expect(cfg.raw.services.web.deploy.canary.sticky).toBe('cookie');
  });

  it('puts state and the default socket under SHIPIT_HOME (relative to cwd)', () => {
    write(MINIMAL);
    const cfg = loadConfig({ cwd: tmp, env: { SHIPIT_HOME: 'state' } });
    expect(cfg.stateDir).toBe(path.join(tmp, 'state'));
    expect(cfg.api.socketPath).toBe(path.join(tmp, 'state', 'daemon.sock'));
  });

  it('resolves an explicit unix socket relative to the config directory', () => {
    write(`${MINIMAL}api:\n  listen: unix:run/api.sock\n`, 'deep/shipit.yml');
    const cfg = loadConfig({
      path: 'deep/shipit.yml',
      cwd: tmp,
      env: { SHIPIT_HOME: '/elsewhere' },
    });
    expect(cfg.api).toEqual({ socketPath: path.join(tmp, 'deep', 'run', 'api.sock') });
  });

  it.each([
    ['127.0.0.1:7070', { host: '127.0.0.1', port: 7070 }],
    [':7070', { host: '127.0.0.1', port: 7070 }],
    ['"[::1]:7070"', { host: '::1', port: 7070 }],
    ['unix:/run/shipit.sock', { socketPath: '/run/shipit.sock' }],
  ])('api.listen %s', (listen, api) => {
    write(`${MINIMAL}api: { listen: ${listen} }\n`);
    expect(loadConfig({ cwd: tmp, env: {} }).api).toEqual(api);
  });

  it.each([
    ['127.0.0.1:9000', '127.0.0.1', 9000],
    ['":9000"', '0.0.0.0', 9000],
    ['9000', '0.0.0.0', 9000],
    ['"9000"', '0.0.0.0', 9000],
    ['localhost:0', 'localhost', 0],
  ])('proxy.listen %s', (listen, host, port) => {
    write(`${MINIMAL}proxy: { listen: ${listen}, upstreamTimeout: 5s, maxBodySize: 1k }\n`);
    expect(loadConfig({ cwd: tmp, env: {} }).proxy).toEqual({
      host,
      port,
      upstreamTimeoutMs: 5000,
      maxBodyBytes: 1024,
    });
  });

  it.each(['unix:', '70000', 'a b:1', 'host:'])('rejects the listen address %p', (listen) => {
    expect(loadError(`${MINIMAL}api: { listen: "${listen}" }\n`).message).toContain(
      `api.listen: expected "unix:PATH" or an address like "127.0.0.1:7070", got "${listen}"`,
    );
  });

  it('builds full service specs', () => {
    write(`project: shop
runtime: swarm
services:
  web:
    image: demo-web:v2
    port: 8080
    hosts: [shop.example.com]
    replicas: 3
    env: { A: 1, B: "two" }
    command: [node, server.js]
    resources: { memory: 128m, cpus: 0.5 }
    healthcheck: { tcp: true, interval: 500ms }
    deploy: { strategy: rolling, deployTimeout: 2m, drainTimeout: 5000, keepPrevious: 0 }
  worker:
    image: worker:v1
    port: 9000
    hosts: []
    resources: { cpus: 2 }
`);
    const cfg = loadConfig({ cwd: tmp, env: {} });
    expect(cfg.runtime).toBe('swarm');
    expect(cfg.services.web).toEqual({
      name: 'web',
      image: 'demo-web:v2',
      port: 8080,
      hosts: ['shop.example.com'],
      replicas: 3,
      env: { A: '1', B: 'two' },
      command: ['node', 'server.js'],
      resources: { memoryBytes: 128 * 1024 * 1024, cpus: 0.5 },
      healthcheck: {
        tcp: true,
        intervalMs: 500,
        timeoutMs: 2000,
        healthyThreshold: 1,
        unhealthyThreshold: 3,
      },
      deploy: {
        strategy: 'rolling',
        deployTimeoutMs: 120_000,
        drainTimeoutMs: 5000,
        keepPreviousMs: 0,
        rolling: { maxSurge: 1, maxUnavailable: 0 },
        rainbow: { maxLive: 3 },
        canary: expect.objectContaining({ sticky: 'cookie' }),
      },
      acceptance: { header: 'X-Shipit-Track', cookie: 'shipit-track' },
    });
    expect(cfg.services.worker.resources).toEqual({ cpus: 2 });
    expect(cfg.services.worker.hosts).toEqual([]);
    expect(
      serviceSpecFromRaw('x', { ...cfg.raw.services.worker, resources: {} }).resources,
    ).toBeUndefined();
  });

  it('supports YAML anchors and merge keys', () => {
    write(`project: demo
services:
  web: &base
    image: demo-web:v1
    port: 8080
    healthcheck: { path: /healthz }
  admin:
    <<: *base
    hosts: [admin.local]
`);
    const cfg = loadConfig({ cwd: tmp, env: {} });
    expect(cfg.services.admin.image).toBe('demo-web:v1');
    expect(cfg.services.admin.healthcheck.path).toBe('/healthz');
  });

  it('parseConfig validates text without a file', () => {
    const cfg = parseConfig(MINIMAL, { path: 'virtual.yml', cwd: tmp, env: {} });
    expect(cfg.path).toBe(path.join(tmp, 'virtual.yml'));
  });
});

describe('pickService', () => {
  const one = parseConfig(MINIMAL, { path: '/x/shipit.yml', env: {} });
  const two = parseConfig(
    `${MINIMAL}    hosts: [web.local]\n  api: { image: a, port: 1, hosts: [api.local] }\n`,
    {
      path: '/x/shipit.yml',
      env: {},
    },
  );

  it('returns the named service, or the only one', () => {
    expect(pickService(one).name).toBe('web');
    expect(pickService(one, 'web').name).toBe('web');
    expect(pickService(two, 'api').name).toBe('api');
  });

  it('asks for a name when there are several', () => {
    expect(() => pickService(two)).toThrow('name a service: this config has 2 (web, api)');
    try {
      pickService(two);
    } catch (e) {
      expect((e as ShipitError).code).toBe('usage');
    }
  });

  it('suggests a close misspelling', () => {
    expect(() => pickService(two, 'wbe')).toThrow(
      'unknown service "wbe" in /x/shipit.yml (services: web, api); did you mean "web"?',
    );
    expect(() => pickService(two, 'API')).toThrow('did you mean "api"?');
    expect(() => pickService(two, 'webb')).toThrow('did you mean "web"?');
  });

  it('lists the services when nothing is close', () => {
    let err: ShipitError | undefined;
    try {
      pickService({ services: two.services }, 'database');
    } catch (e) {
      err = e as ShipitError;
    }
    expect(err?.message).toBe('unknown service "database" (services: web, api)');
    expect(err?.hint).toMatch(/services:/);
    expect(() => pickService(two, 'constructor')).toThrow('unknown service "constructor"');
  });
});

describe('YAML aliases', () => {
  it('locates problems inside aliased nodes', () => {
    const err = loadError(`project: demo
hc: &hc { interval: soon }
services:
  web:
    image: x
    port: 1
    healthcheck: *hc
`);
    expect(err.message).toContain('  - hc: unknown key');
    expect(err.message).toContain(
      'services.web.healthcheck.interval: expected a duration like "5s", got "soon" (line 2)',
    );
  });

  it('refuses alias bombs', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 6; i++)
      levels.push(
        `l${i}: &l${i} [${Array(10)
          .fill(i === 1 ? '*a' : `*l${i - 1}`)
          .join(', ')}]`,
      );
    expect(loadError(levels.join('\n')).message).toMatch(/invalid YAML in .*alias/i);
  });
});

describe('locateConfig', () => {
  const cache = () => path.join(tmp, '.shipit', 'locate.json');

  it('reads where the daemon is and which services exist, without validating the whole file', () => {
    write(`${MINIMAL}  api:\n    image: x\n    port: 1\napi: { listen: 127.0.0.1:7171 }\n`);
    const l = locateConfig({ cwd: tmp, env: {} });
    expect(l.api).toMatchObject({ host: '127.0.0.1', port: 7171 });
    expect(l.serviceNames).toEqual(['web', 'api']);
    expect(l.stateDir).toBe(path.join(tmp, '.shipit'));
    expect(fs.existsSync(cache())).toBe(false); // no state dir yet: nothing written
  });

  it('keeps what it read beside the daemon state, and reads the file again once it changed', () => {
    fs.mkdirSync(path.join(tmp, '.shipit'));
    write(MINIMAL);
    const first = locateConfig({ cwd: tmp, env: {} });
    expect(first.api.socketPath).toBe(path.join(tmp, '.shipit', 'daemon.sock'));
    const stored = JSON.parse(fs.readFileSync(cache(), 'utf8'));
    expect(stored.location).toEqual(first);
    // a hit: the stored answer is what comes back (proved by planting a different one)
    fs.writeFileSync(
      cache(),
      JSON.stringify({ key: stored.key, location: { ...first, serviceNames: ['planted'] } }),
    );
    expect(locateConfig({ cwd: tmp, env: {} }).serviceNames).toEqual(['planted']);
    // the file changed: read again, and the cache follows
    write(`${MINIMAL}api: { listen: 127.0.0.1:7272 }\n`);
    const second = locateConfig({ cwd: tmp, env: {} });
    expect(second.api).toMatchObject({ host: '127.0.0.1', port: 7272 });
    expect(second.serviceNames).toEqual(['web']);
    // a corrupt cache is ignored
    fs.writeFileSync(cache(), '{not json');
    expect(locateConfig({ cwd: tmp, env: {} }).api).toMatchObject({ port: 7272 });
  });

  it('a SHIPIT_HOME elsewhere has a cache of its own', () => {
    write(MINIMAL);
    const home = path.join(tmp, 'home');
    fs.mkdirSync(home);
    const l = locateConfig({ cwd: tmp, env: { SHIPIT_HOME: home } });
    expect(l.stateDir).toBe(home);
    expect(fs.existsSync(path.join(home, 'locate.json'))).toBe(true);
  });
});
