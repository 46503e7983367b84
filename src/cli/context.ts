import path from 'node:path';
import { loadConfig, type LoadedConfig } from '../config';
import { readToken, type Endpoint } from './client';

export interface GlobalArgs {
  config?: string;
  json?: boolean;
}

export function config(args: GlobalArgs): LoadedConfig {
  return loadConfig({ path: args.config, cwd: process.cwd(), env: process.env });
}

export function endpoint(cfg: LoadedConfig): Endpoint {
  const tokenFile = path.join(cfg.stateDir, 'token');
  return { ...cfg.api, token: readToken(tokenFile), tokenFile };
}
