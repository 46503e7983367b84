import path from 'node:path';
import { loadConfig, locateConfig, unknownService, type LoadedConfig } from '../config/load';
import { readToken, type Endpoint } from './client';
import { usageError } from '../domain/errors';
import { suggest } from '../domain/suggest';

export interface GlobalArgs {
  config?: string;
  json?: boolean;
}

/** The whole config, validated: for commands that use service settings (deploy, up). */
export function config(args: GlobalArgs): LoadedConfig {
  return loadConfig({ path: args.config, cwd: process.cwd(), env: process.env });
}

/** Only where the daemon is: for commands that just talk to it (kept fast, no schema load). */
export function locate(args: GlobalArgs) {
  return locateConfig({ path: args.config, cwd: process.cwd(), env: process.env });
}

export function endpoint(
  cfg: { stateDir: string; api: LoadedConfig['api'] },
  env: NodeJS.ProcessEnv = process.env,
): Endpoint {
  const tokenFile = path.join(cfg.stateDir, 'token');
  const remote = env.SHIPIT_HOST ? parseHost(env.SHIPIT_HOST) : cfg.api;
  return { ...remote, token: readToken(tokenFile, env), tokenFile };
}

/**
 * Where the API is, from `--host` / SHIPIT_HOST: `http://HOST:PORT`,
 * `HOST:PORT` or `unix:/path/to/daemon.sock`.
 */
export function parseHost(value: string): Pick<Endpoint, 'socketPath' | 'host' | 'port'> {
  if (value.startsWith('unix:')) return { socketPath: value.slice(5) };
  const m = /^(?:http:\/\/)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(value);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535)
    throw usageError(
      `--host / SHIPIT_HOST: expected http://HOST:PORT, HOST:PORT or unix:PATH, got "${value}"`,
      value.startsWith('https:')
        ? 'the API speaks plain HTTP: reach it over a tunnel or a TLS proxy'
        : 'e.g. --host http://deploy.example.com:7070',
    );
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/** SERVICE may be omitted when the config has exactly one service. */
export function defaultService(given: unknown, names: string[], file?: string): string {
  if (typeof given === 'string' && given) return checkService(given, names, file);
  if (names.length === 1) return names[0];
  return usageFail(names);
}

/**
 * A SERVICE that is not in shipit.yml but close to one that is, is a typo: refused here
 * (exit 2, nothing sent). Any other name goes on to the daemon, which also knows the
 * services removed from the file since (their history, logs, a rollback) and answers for itself.
 */
export function checkService<T extends string | undefined>(
  given: T,
  names: string[],
  file?: string,
): T {
  if (given === undefined || given === '' || names.includes(given)) return given;
  if (suggest(given, names) !== undefined) throw unknownService(given, names, file);
  return given;
}

function usageFail(names: string[]): never {
  throw usageError(
    `name a service: this config has ${names.length} (${names.join(', ') || 'none'})`,
  );
}
