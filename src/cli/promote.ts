import type { Argv } from 'yargs';
import { stream } from './client';
import { defaultService, endpoint, locate, type GlobalArgs } from './context';
import { makeOut } from './render';
import { printEvent, printOutcome, type Outcome } from './deploy';

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
        const name = defaultService(a.service, cfg.serviceNames);
        const result = await stream<Outcome>(
          endpoint(cfg),
          `/v1/services/${name}/promote`,
          {},
          (e) => printEvent(out, e),
        );
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
        const name = defaultService(a.service, cfg.serviceNames);
        const result = await stream<{ release: number }>(
          endpoint(cfg),
          `/v1/services/${name}/abort`,
          {},
          (e) => printEvent(out, e),
        );
        if (out.json) return out.data({ type: 'result', result });
        out.line(`✓ ${name} r${result?.release} aborted; all traffic is on the stable release`);
      },
    );
}
