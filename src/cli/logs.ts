import type { Argv } from 'yargs';
import { unreachable } from '../domain/errors';
import { call, follow } from './client';
import { checkService, endpoint, locate, type GlobalArgs } from './context';

type Line = Record<string, unknown>;

const dash = (v: unknown) => (v === undefined || v === null || v === '' ? '-' : String(v));

/** `<ISO time> <service> r<release> <container> <stream> [<level>] <msg>` */
export function formatLogLine(l: Line): string {
  const level = l.level ? ` ${String(l.level)}` : '';
  return `${dash(l.time)} ${dash(l.service)} r${dash(l.release)} ${dash(l.container)} ${dash(l.stream)}${level} ${dash(l.msg)}`;
}

/** `<ISO time> <service> r<release> <container> <status> <method> <url> <ms>ms` */
export function formatAccessLine(l: Line): string {
  return `${dash(l.time)} ${dash(l.service)} r${dash(l.release)} ${dash(l.container)} ${dash(l.status)} ${dash(l.method)} ${dash(l.url)} ${dash(l.ms)}ms${l.aborted ? ' aborted' : ''}`;
}

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    'logs [service]',
    'aggregated container logs, newest last (every service unless SERVICE is given)',
    (c) =>
      c
        .positional('service', { type: 'string', describe: 'only this service (default: all)' })
        .option('follow', {
          alias: 'f',
          type: 'boolean',
          default: false,
          describe: 'then print new lines as they come, until Ctrl-C',
        })
        .option('release', { type: 'number', describe: 'only this release number' })
        .option('since', {
          type: 'string',
          describe: 'only newer lines: a duration back from now (5m, 2h) or a time (ISO 8601)',
        })
        .option('grep', {
          type: 'string',
          describe: 'only lines matching this regular expression (JavaScript syntax, raw line)',
        })
        .option('n', { type: 'number', default: 100, describe: 'how many of the newest lines' })
        .option('access', {
          type: 'boolean',
          default: false,
          describe: 'the proxy access log instead of container logs',
        })
        .example('$0 logs web -f', 'follow every container of web')
        .example(
          '$0 logs --release 3 --grep "error|timeout" --since 10m',
          'recent errors of release 3',
        )
        .example('$0 logs --access -f --grep \'"status":5\'', 'follow 5xx answers of the proxy'),
    async (a) => {
      const cfg = locate(a);
      const q = new URLSearchParams({ limit: String(a.n) });
      const svc = checkService(a.service as string | undefined, cfg.serviceNames, cfg.path);
      if (svc) q.set('service', svc);
      if (a.release !== undefined) q.set('release', String(a.release));
      if (a.since) q.set('since', a.since);
      if (a.grep) q.set('grep', a.grep);
      if (a.access) q.set('access', '1');
      const print = (l: Line) =>
        process.stdout.write(
          `${a.json ? JSON.stringify(l) : a.access ? formatAccessLine(l) : formatLogLine(l)}\n`,
        );
      if (!a.follow) {
        const { lines } = await call<{ lines: Line[] }>(endpoint(cfg), 'GET', `/v1/logs?${q}`);
        lines.forEach(print);
        return;
      }
      q.set('follow', '1');
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        const how = await follow(endpoint(cfg), `/v1/logs?${q}`, print, ac.signal);
        if (how === 'ended')
          throw unreachable('the daemon ended the log stream', 'it stopped? see shipit status');
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    },
  );
}
