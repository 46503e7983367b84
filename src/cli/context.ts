import path from 'node:path';
import { loadConfig, locateConfig, type LoadedConfig } from '../config/load';
import { readToken, type Endpoint } from './client';
import { usageError } from '../domain/errors';

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

export function endpoint(cfg: { stateDir: string; api: LoadedConfig['api'] }): Endpoint {
  const tokenFile = path.join(cfg.stateDir, 'token');
  return { ...cfg.api, token: readToken(tokenFile), tokenFile };
}

/** SERVICE may be omitted when the config has exactly one service. */
export function defaultService(given: unknown, names: string[]): string {
  if (typeof given === 'string' && given) return given;
  if (names.length === 1) return names[0];
  return usageFail(names);
}

function usageFail(names: string[]): never {
  throw usageError(
    `name a service: this config has ${names.length} (${names.join(', ') || 'none'})`,
  );
}
