import * as fs from 'fs';
import * as path from 'path';
import { createHash } from 'crypto';
import type * as Yaml from 'yaml';
import { configError, usageError, type ShipitError } from '../domain/errors';
import { suggest } from '../domain/suggest';
import type { ServiceSpec } from '../domain/types';
import { parseApiListen, parseHostPort } from './listen';
import type { ServiceConfig, ShipitConfig } from './schema';

export const CONFIG_FILE = 'shipit.yml';
/** Where `locateConfig` keeps what it read, so commands that only talk to the daemon skip YAML. */
const LOCATE_CACHE = 'locate.json';

// Loaded on first use: the YAML parser is most of a CLI start-up (see locateConfig's cache).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = (): typeof Yaml => require('yaml') as typeof Yaml;
const SCHEMA_HINT = '`shipit schema` prints the JSON Schema of shipit.yml';

export interface LoadedConfig {
  /** Absolute path of the config file. */
  path: string;
  /** Directory of the config file. */
  dir: string;
  /** SHIPIT_HOME when set, else `<dir>/.shipit`. */
  stateDir: string;
  project: string;
  runtime: 'docker' | 'swarm';
  proxy: { host: string; port: number; upstreamTimeoutMs: number; maxBodyBytes: number };
  api: { socketPath?: string; host?: string; port?: number };
  services: Record<string, ServiceSpec>;
  /** The whole validated config (durations in ms, sizes in bytes) for keys beyond the skeleton. */
  raw: ShipitConfig;
}

export interface LoadOptions {
  /** Explicit config path (`--config`), relative to cwd. */
  path?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Where the config is read from: explicit path, else SHIPIT_CONFIG, else `<cwd>/shipit.yml`. */
export function resolveConfigPath(opts: LoadOptions = {}): { path: string; source: string } {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  if (opts.path) return { path: path.resolve(cwd, opts.path), source: '--config' };
  if (env.SHIPIT_CONFIG)
    return { path: path.resolve(cwd, env.SHIPIT_CONFIG), source: 'SHIPIT_CONFIG' };
  return { path: path.resolve(cwd, CONFIG_FILE), source: 'default' };
}

/** Reads, parses and validates shipit.yml; throws a config error (exit 2) naming every problem. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const file = readConfigFile(opts);
  return parseConfig(file.text, { path: file.path, cwd: opts.cwd, env: opts.env });
}

function readConfigFile(opts: LoadOptions): { path: string; text: string } {
  const resolved = resolveConfigPath(opts);
  let file = resolved.path;
  if (isDirectory(file)) file = path.join(file, CONFIG_FILE);
  try {
    return { path: file, text: fs.readFileSync(file, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const from = resolved.source === 'default' ? '' : ` (from ${resolved.source})`;
    if (code === 'ENOENT') {
      throw configError(
        `no config file at ${file}${from}: run \`shipit init\` to create one`,
        'run `shipit init` to write a starter shipit.yml, or pass --config PATH',
      );
    }
    throw configError(`cannot read config file ${file}${from}: ${(err as Error).message}`);
  }
}

export interface DaemonLocation {
  path: string;
  dir: string;
  stateDir: string;
  api: LoadedConfig['api'];
  /** Service names, unvalidated: enough to default SERVICE when there is one. */
  serviceNames: string[];
}

/**
 * Where the daemon of this config listens, without validating the rest of the
 * file: for commands that only talk to the daemon (status, history, rollback, down).
 */
export function locateConfig(opts: LoadOptions = {}): DaemonLocation {
  const file = readConfigFile(opts);
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const dir = path.dirname(file.path);
  const stateDir = stateDirOf(dir, cwd, env);
  // Same file text, place and state dir as last time: what was read then still holds.
  const key = createHash('sha256').update(`${file.path}\0${stateDir}\0${file.text}`).digest('hex');
  const cacheFile = path.join(stateDir, LOCATE_CACHE);
  try {
    const cached = JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as {
      key?: string;
      location?: DaemonLocation;
    };
    if (cached.key === key && cached.location) return cached.location;
  } catch {
    /* no cache yet, or unreadable: read the file */
  }
  const data = (parseYaml(file.text, file.path) ?? {}) as {
    api?: { listen?: unknown };
    services?: unknown;
  };
  const listen = data.api?.listen;
  const api =
    typeof listen === 'string' || typeof listen === 'number'
      ? parseApiListen(String(listen))
      : undefined;
  if (listen !== undefined && !api) {
    throw configError(
      `invalid config ${file.path}:\n  - api.listen: expected "unix:PATH" or "HOST:PORT", got ${JSON.stringify(listen)}`,
    );
  }
  const services =
    data.services && typeof data.services === 'object' ? Object.keys(data.services) : [];
  const location: DaemonLocation = {
    path: file.path,
    dir,
    stateDir,
    api: apiEndpoint(api, listen !== undefined, dir, stateDir),
    serviceNames: services,
  };
  // Only beside a daemon's state (never creates the directory); a failed write costs nothing.
  if (fs.existsSync(stateDir)) {
    try {
      fs.writeFileSync(cacheFile, JSON.stringify({ key, location }));
    } catch {
      /* read-only state dir: no cache */
    }
  }
  return location;
}

function stateDirOf(dir: string, cwd: string, env: NodeJS.ProcessEnv): string {
  return env.SHIPIT_HOME ? path.resolve(cwd, env.SHIPIT_HOME) : path.join(dir, '.shipit');
}

function apiEndpoint(
  api: ReturnType<typeof parseApiListen>,
  wasSet: boolean,
  dir: string,
  stateDir: string,
): LoadedConfig['api'] {
  // The default socket lives in the state directory, so SHIPIT_HOME moves it too.
  if (!api) return { socketPath: path.join(stateDir, 'daemon.sock') };
  if ('socketPath' in api)
    return {
      socketPath: wasSet ? path.resolve(dir, api.socketPath) : path.join(stateDir, 'daemon.sock'),
    };
  return { host: api.host, port: api.port };
}

/** Parses and validates config text as if it were the file at `opts.path`. */
export function parseConfig(
  text: string,
  opts: { path: string; cwd?: string; env?: NodeJS.ProcessEnv },
): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const file = path.resolve(cwd, opts.path);
  const data = parseYaml(text, file);
  if (data === null || data === undefined) {
    throw configError(
      `invalid config ${file}: the file is empty`,
      'run `shipit init` to write a starter shipit.yml',
    );
  }
  const raw = validate(data, text, file);
  const dir = path.dirname(file);
  const stateDir = stateDirOf(dir, cwd, env);
  const proxy = parseHostPort(raw.proxy.listen, '0.0.0.0');
  const api = parseApiListen(raw.api.listen);
  /* istanbul ignore next -- the schema already rejected malformed addresses */
  if (!proxy || !api) throw configError(`invalid config ${file}: bad listen address`);
  return {
    path: file,
    dir,
    stateDir,
    project: raw.project,
    runtime: raw.runtime,
    proxy: {
      host: proxy.host,
      port: proxy.port,
      upstreamTimeoutMs: raw.proxy.upstreamTimeout,
      maxBodyBytes: raw.proxy.maxBodySize,
    },
    api: apiEndpoint(api, apiListenWasSet(data), dir, stateDir),
    services: Object.fromEntries(
      Object.entries(raw.services).map(([name, svc]) => [name, serviceSpecFromRaw(name, svc)]),
    ),
    raw,
  };
}

function parseYaml(text: string, file: string): unknown {
  const { LineCounter, parseDocument } = yaml();
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, prettyErrors: false });
  if (doc.errors.length) {
    const problems = doc.errors.map((e) => {
      const { line, col } = lines.linePos(e.pos[0]);
      return `line ${line}, column ${col}: ${e.message.split('\n')[0]}`;
    });
    throw configError(
      `invalid YAML in ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      'check the indentation and quoting at that line',
    );
  }
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw configError(`invalid YAML in ${file}: ${(err as Error).message}`);
  }
}

function validate(data: unknown, text: string, file: string): ShipitConfig {
  // Loaded on first use: commands that only locate the daemon (status, rollback...) skip zod's start-up cost.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { configSchema } = require('./schema') as typeof import('./schema');
  const result = configSchema.safeParse(data);
  if (result.success) return result.data;
  const { LineCounter, parseDocument } = yaml();
  const { formatProblem, lineLocator, problemsFromIssues } =
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('./issues') as typeof import('./issues');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true });
  const problems = problemsFromIssues(result.error.issues, lineLocator(doc, lines));
  throw configError(
    `invalid config ${file}:\n${problems.map((p) => `  - ${formatProblem(p)}`).join('\n')}`,
    `fix the key${problems.length === 1 ? '' : 's'} above; ${SCHEMA_HINT}`,
  );
}

function apiListenWasSet(data: unknown): boolean {
  const api = (data as { api?: unknown }).api;
  return (
    typeof api === 'object' && api !== null && (api as { listen?: unknown }).listen !== undefined
  );
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A service's settings from the validated config, in the shape the engine stores with each release. */
export function serviceSpecFromRaw(name: string, svc: ServiceConfig): ServiceSpec {
  const hc = svc.healthcheck;
  const spec: ServiceSpec = {
    name,
    image: svc.image,
    port: svc.port,
    hosts: [...svc.hosts],
    replicas: svc.replicas,
    env: { ...svc.env },
    healthcheck: {
      ...(hc.tcp ? { tcp: true } : { path: hc.path ?? '/' }),
      intervalMs: hc.interval,
      timeoutMs: hc.timeout,
      healthyThreshold: hc.healthyThreshold,
      unhealthyThreshold: hc.unhealthyThreshold,
    },
    deploy: {
      strategy: svc.deploy.strategy,
      deployTimeoutMs: svc.deploy.deployTimeout,
      drainTimeoutMs: svc.deploy.drainTimeout,
      keepPreviousMs: svc.deploy.keepPrevious,
      rolling: { ...svc.deploy.rolling },
      rainbow: {
        maxLive: svc.deploy.rainbow.maxLive,
        ...(svc.deploy.rainbow.maxAge !== undefined ? { maxAgeMs: svc.deploy.rainbow.maxAge } : {}),
      },
      canary: {
        steps: svc.deploy.canary.steps.map((s) => ({ weight: s.weight, pauseMs: s.pause })),
        sticky: svc.deploy.canary.sticky,
        analysis: {
          intervalMs: svc.deploy.canary.analysis.interval,
          minRequests: svc.deploy.canary.analysis.minRequests,
          maxErrorRate: svc.deploy.canary.analysis.maxErrorRate,
          ...(svc.deploy.canary.analysis.maxP99 !== undefined
            ? { maxP99Ms: svc.deploy.canary.analysis.maxP99 }
            : {}),
        },
      },
    },
    acceptance: { ...svc.acceptance },
  };
  if (svc.command) spec.command = [...svc.command];
  if (svc.links.length) spec.links = [...svc.links];
  const a = svc.autoscale;
  if (a) {
    spec.autoscale = {
      min: a.min,
      max: a.max,
      target: { ...a.target },
      scaleDownDelayMs: a.scaleDownDelay,
      idleTimeoutMs: a.idleTimeout,
      schedule: a.schedule.map((w) => ({ ...w, ...(w.days ? { days: [...w.days] } : {}) })),
    };
  }
  const res = svc.resources;
  if (res && (res.memory !== undefined || res.cpus !== undefined)) {
    spec.resources = {
      ...(res.memory !== undefined ? { memoryBytes: res.memory } : {}),
      ...(res.cpus !== undefined ? { cpus: res.cpus } : {}),
    };
  }
  return spec;
}

/**
 * The named service, or the only one when no name is given. Throws a usage error listing the
 * services (with a "did you mean" for a near miss) otherwise.
 */
export function pickService(
  cfg: Pick<LoadedConfig, 'services'> & { path?: string },
  name?: string,
): ServiceSpec {
  const names = Object.keys(cfg.services);
  if (name === undefined || name === '') {
    if (names.length === 1) return cfg.services[names[0]];
    throw usageError(
      `name a service: this config has ${names.length} (${names.join(', ')})`,
      `pass one of ${names.join(', ')} as SERVICE`,
    );
  }
  if (Object.prototype.hasOwnProperty.call(cfg.services, name)) return cfg.services[name];
  throw unknownService(name, names, cfg.path);
}

/** A SERVICE that is not in shipit.yml: exit 2, naming the services and the close misspelling. */
export function unknownService(name: string, names: string[], file?: string): ShipitError {
  const guess = suggest(name, names);
  return usageError(
    `unknown service "${name}"${file ? ` in ${file}` : ''} (services: ${names.join(', ') || 'none'})${guess ? `; did you mean "${guess}"?` : ''}`,
    guess ? undefined : `services are the keys under \`services:\` in shipit.yml`,
  );
}
