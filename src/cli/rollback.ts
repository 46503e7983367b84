import type { Argv } from 'yargs';
import { stream } from './client';
import { defaultService, endpoint, locate, type GlobalArgs } from './context';
import { duration, makeOut } from './render';
import { eventSink } from './progress';

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    'rollback [service]',
    'make the previous live release (or release N) live again',
    (c) =>
      c
        .positional('service', { type: 'string' })
        .option('to', { type: 'number', describe: 'release number to return to' })
        .option('dry-run', { type: 'boolean' })
        .example(
          '$0 rollback web',
          'flip back to the previous release (kept running for keepPrevious)',
        )
        .example('$0 rollback web --to 3', 'bring release 3 back'),
    async (a) => {
      const out = makeOut(!!a.json);
      const cfg = locate(a);
      const name = defaultService(a.service, cfg.serviceNames, cfg.path);
      const ep = endpoint(cfg);
      const events = eventSink(out, name, 'rollback');
      const result = await stream<{
        release: number;
        plan: string;
        dryRun: boolean;
        durationMs: number;
      }>(
        ep,
        `/v1/services/${name}/rollback`,
        { ...(a.to !== undefined ? { to: a.to } : {}), dryRun: !!a.dryRun },
        events.event,
      ).finally(events.close);
      if (!result) return;
      if (out.json) return out.data({ type: 'result', result });
      if (result.dryRun) return out.line(result.plan);
      out.line(`✓ ${name} r${result.release} is live again in ${duration(result.durationMs)}`);
    },
  );
}
