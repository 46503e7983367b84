import type { Argv } from 'yargs';
import { usageError } from '../domain/errors';
import { showAudit } from './audit';
import { call } from './client';
import { checkService, endpoint, locate, type GlobalArgs } from './context';
import { duration, makeOut, table, when } from './render';

interface Release {
  number: number;
  image: string;
  strategy: string;
  status: string;
  result: string | null;
  reason: string | null;
  startedAt: number;
  finishedAt: number | null;
}

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    'history [service]',
    'releases: number, image, strategy, result, started, duration; with --audit, the audit log',
    (c) =>
      c
        .positional('service', { type: 'string' })
        .option('n', { type: 'number', default: 20, describe: 'how many' })
        .option('audit', {
          type: 'boolean',
          describe: 'the audit log instead: every mutating API call (who, from, what, result)',
        })
        .example('$0 history web', 'the last 20 releases of web')
        .example(
          '$0 history --audit -n 50',
          'the last 50 deploys, rollbacks, logins... newest last',
        ),
    async (a) => {
      const out = makeOut(!!a.json);
      const cfg = locate(a);
      if (a.audit) {
        if (a.service) throw usageError('history --audit shows every service: drop the SERVICE');
        return showAudit(endpoint(cfg), out, a.n);
      }
      const svc =
        checkService(a.service as string | undefined, cfg.serviceNames, cfg.path) ??
        (cfg.serviceNames.length === 1 ? cfg.serviceNames[0] : undefined);
      const q = new URLSearchParams({ limit: String(a.n) });
      if (svc) q.set('service', svc);
      const { releases } = await call<{ releases: (Release & { service?: string })[] }>(
        endpoint(cfg),
        'GET',
        `/v1/releases?${q}`,
      );
      if (out.json) return out.data({ releases });
      if (!releases.length) return out.line('no releases yet');
      out.line(
        table([
          ['release', 'image', 'strategy', 'status', 'result', 'started', 'duration', 'reason'],
          ...releases.map((r) => [
            `r${r.number}`,
            r.image,
            r.strategy,
            r.status,
            r.result,
            when(r.startedAt),
            duration(r.finishedAt ? r.finishedAt - r.startedAt : null),
            r.reason,
          ]),
        ]),
      );
    },
  );
}
