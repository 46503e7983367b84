import type { Argv } from 'yargs';
import type { ServiceSpec } from '../domain/types';
import { usageError } from '../domain/errors';
import { parseDuration } from '../config/duration';
import { pickService } from '../config/load';
import { stream } from './client';
import { config, endpoint, type GlobalArgs } from './context';
import { duration, makeOut, type Out } from './render';
import { eventSink } from './progress';

interface DeployArgs extends GlobalArgs {
  service?: string;
  image?: string;
  strategy?: string;
  env?: string[];
  wait: boolean;
  timeout?: string;
  dryRun?: boolean;
  lockWait?: string;
}

/** `--env K=V` flags as a mapping; a pair without `=` is a usage error. */
export function parseEnv(pairs: string[] = []): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of pairs) {
    const eq = kv.indexOf('=');
    if (eq < 1) throw usageError(`--env ${kv}: expected KEY=VALUE`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

/** The service's settings as shipit.yml says now, with the command's flags on top. */
export function specFromArgs(base: ServiceSpec, a: DeployArgs): ServiceSpec {
  const spec: ServiceSpec = structuredClone(base);
  if (a.image) spec.image = a.image;
  if (a.strategy) spec.deploy.strategy = a.strategy as ServiceSpec['deploy']['strategy'];
  Object.assign(spec.env, parseEnv(a.env));
  if (a.timeout) {
    try {
      spec.deploy.deployTimeoutMs = parseDuration(a.timeout);
    } catch {
      throw usageError(`--timeout: expected a duration like "60s", got "${a.timeout}"`);
    }
  }
  return spec;
}

export type Outcome =
  | { release: number; plan: string; dryRun: boolean; durationMs: number; paused?: undefined }
  | { paused: true; release: number; message: string };

/** The last line of deploy / promote: live, paused at a manual step, or the dry-run plan. */
export function printOutcome(out: Out, service: string, result: Outcome): void {
  if (out.json) return out.data({ type: 'result', result });
  if (result.paused) {
    return out.line(
      `⏸ ${service} r${result.release} paused: ${result.message}; continue with: shipit promote ${service}`,
    );
  }
  if (result.dryRun) return out.line(result.plan);
  out.line(`✓ ${service} r${result.release} is live in ${duration(result.durationMs)}`);
}

export { printEvent } from './progress';

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    'deploy [service]',
    'create a release from shipit.yml (as it is now) and roll it out',
    (c) =>
      c
        .positional('service', {
          type: 'string',
          describe: 'service name (optional with one service)',
        })
        .option('image', {
          type: 'string',
          describe: 'image to deploy instead of the configured one',
        })
        .option('strategy', {
          type: 'string',
          choices: ['rolling', 'blue-green', 'canary', 'rainbow'],
        })
        .option('env', { type: 'string', array: true, describe: 'KEY=VALUE, repeatable' })
        .option('wait', {
          type: 'boolean',
          default: true,
          describe: 'wait until live or failed (--no-wait returns once started)',
        })
        .option('timeout', { type: 'string', describe: 'deployTimeout for this release, e.g. 90s' })
        .option('dry-run', { type: 'boolean', describe: 'print the plan, change nothing' })
        .option('lock-wait', {
          type: 'string',
          describe:
            'wait up to this long (e.g. 10m) for a deploy in progress to end, instead of exit 4',
        })
        .example('$0 deploy --lock-wait 10m', 'in CI: queue behind a deploy that is still running')
        .example('$0 deploy web --image demo-web:v2', 'blue/green deploy of a new image')
        .example('$0 deploy --dry-run', 'print what a deploy would do'),
    async (a) => {
      const args = a as unknown as DeployArgs;
      const out = makeOut(!!args.json);
      const cfg = config(args);
      const spec = specFromArgs(pickService(cfg, args.service), args);
      const body = { spec, dryRun: !!args.dryRun, ...lockWait(args.lockWait) };
      const ep = endpoint(cfg);
      const events = eventSink(out, spec.name, 'deploy', true);
      const result = await stream<Outcome>(ep, `/v1/services/${spec.name}/deploy`, body, (e) => {
        events.event(e);
        if (!args.wait && e.type === 'plan') return false;
      }).finally(events.close);
      if (!result) return out.line(`deploy of ${spec.name} started (not waiting)`);
      printOutcome(out, spec.name, result);
    },
  );
}

function lockWait(value: string | undefined): { lockWaitMs?: number } {
  if (value === undefined) return {};
  try {
    return { lockWaitMs: parseDuration(value) };
  } catch {
    throw usageError(`--lock-wait: expected a duration like "10m", got "${value}"`);
  }
}
