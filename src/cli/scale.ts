import type { Argv } from 'yargs';
import { usageError } from '../domain/errors';
import { stream } from './client';
import { checkService, endpoint, locate, type GlobalArgs } from './context';
import { duration, makeOut } from './render';
import { eventSink } from './progress';

interface ScaleResult {
  service: string;
  release: number;
  from: number;
  to: number;
  durationMs: number;
}

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    'scale <service> <replicas>',
    'set the replica count of the live release, zero-downtime',
    (c) =>
      c
        .positional('service', { type: 'string', demandOption: true })
        .positional('replicas', { type: 'string', demandOption: true })
        .example('$0 scale web 4', 'four containers; new ones get traffic once healthy')
        .example('$0 scale web 1', 'drain and remove the others'),
    async (a) => {
      const out = makeOut(!!a.json);
      const replicas = Number(a.replicas);
      if (!/^\d+$/.test(String(a.replicas)) || replicas > 1000)
        throw usageError(
          `replicas must be a whole number from 0 to 1000, got "${a.replicas}"`,
          'for example: shipit scale web 4',
        );
      const cfg = locate(a);
      const name = checkService(String(a.service), cfg.serviceNames, cfg.path);
      const ep = endpoint(cfg);
      const events = eventSink(out, name, 'scale');
      const result = await stream<ScaleResult>(
        ep,
        `/v1/services/${name}/scale`,
        { replicas },
        events.event,
      ).finally(events.close);
      if (!result) return;
      if (out.json) return out.data({ type: 'result', result });
      out.line(
        result.from === result.to
          ? `✓ ${name} r${result.release} already runs ${result.to} container(s)`
          : `✓ ${name} r${result.release}: ${result.from} -> ${result.to} container(s) in ${duration(result.durationMs)}`,
      );
    },
  );
}
