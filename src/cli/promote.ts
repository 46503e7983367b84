import type { Argv } from 'yargs';
import { stream } from './client';
import { defaultService, endpoint, locate, type GlobalArgs } from './context';
import { makeOut } from './render';
import { printOutcome, type Outcome } from './deploy';
import { eventSink } from './progress';

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y
    .command(
      'promote [service]',
      'continue a paused canary (or skip its current pause) towards 100%',
      (c) =>
        c
          .positional('service', { type: 'string' })
          .example('$0 promote web', 'go on from a manual canary step'),
      async (a) => {
        const out = makeOut(!!a.json);
        const cfg = locate(a);
        const name = defaultService(a.service, cfg.serviceNames, cfg.path);
        const ep = endpoint(cfg);
        const events = eventSink(out, name, 'rollout', true);
        const result = await stream<Outcome>(
          ep,
          `/v1/services/${name}/promote`,
          {},
          events.event,
        ).finally(events.close);
        if (result) printOutcome(out, name, result);
      },
    )
    .command(
      'abort [service]',
      'stop the rollout in progress and return all traffic to the stable release',
      (c) =>
        c.positional('service', { type: 'string' }).example('$0 abort web', 'give up a canary'),
      async (a) => {
        const out = makeOut(!!a.json);
        const cfg = locate(a);
        const name = defaultService(a.service, cfg.serviceNames, cfg.path);
        const ep = endpoint(cfg);
        const events = eventSink(out, name, 'abort');
        const result = await stream<{ release: number }>(
          ep,
          `/v1/services/${name}/abort`,
          {},
          events.event,
        ).finally(events.close);
        if (out.json) return out.data({ type: 'result', result });
        out.line(`✓ ${name} r${result?.release} aborted; all traffic is on the stable release`);
      },
    );
}
