import type { Argv } from 'yargs';
import { usageError } from '../domain/errors';
import { parseDuration } from '../config/duration';
import { pickService } from '../config/load';
import { call, stream } from './client';
import { config, endpoint, locate, type GlobalArgs } from './context';
import { duration, makeOut, table } from './render';
import { parseEnv, printEvent } from './deploy';

interface Preview {
  name: string;
  service: string;
  image: string;
  url: string;
  expiresAt: number;
}

const expiresIn = (at: number) =>
  `${new Date(at).toISOString()} (in ${duration(Math.max(0, at - Date.now()))})`;

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    'preview',
    'ephemeral environments: a copy of a service at Host NAME.<service host>, removed at its TTL',
    (p) =>
      p
        .command(
          'up <name>',
          'start a preview of a service with another image',
          (c) =>
            c
              .positional('name', { type: 'string', demandOption: true })
              .option('service', { type: 'string', describe: 'the service to copy' })
              .option('image', { type: 'string', demandOption: true })
              .option('ttl', {
                type: 'string',
                default: '24h',
                describe: 'removed after this long',
              })
              .option('env', { type: 'string', array: true, describe: 'KEY=VALUE, repeatable' })
              .example(
                '$0 preview up pr-42 --service web --image demo-web:v2 --ttl 2h',
                'reachable at Host pr-42.<web host> for two hours',
              ),
          async (a) => {
            const out = makeOut(!!a.json);
            let ttlMs: number;
            try {
              ttlMs = parseDuration(String(a.ttl));
            } catch {
              throw usageError(`--ttl: expected a duration like "2h", got "${a.ttl}"`);
            }
            const cfg = config(a);
            const spec = pickService(cfg, a.service as string | undefined);
            const result = await stream<Preview>(
              endpoint(cfg),
              '/v1/previews',
              {
                name: String(a.name),
                service: spec.name,
                image: String(a.image),
                ttlMs,
                env: parseEnv(a.env as string[] | undefined),
                spec,
              },
              (e) => printEvent(out, e),
            );
            if (!result) return;
            if (out.json) return out.data({ type: 'result', result });
            out.line(
              `✓ preview ${result.name} of ${result.service} (${result.image}) at ${result.url}, expires ${expiresIn(result.expiresAt)}`,
            );
          },
        )
        .command(
          'down <name>',
          'remove a preview and its containers',
          (c) =>
            c
              .positional('name', { type: 'string', demandOption: true })
              .example('$0 preview down pr-42', 'remove it before its TTL'),
          async (a) => {
            const out = makeOut(!!a.json);
            const cfg = locate(a);
            const r = await call<{ preview: Preview }>(
              endpoint(cfg),
              'DELETE',
              `/v1/previews/${encodeURIComponent(String(a.name))}`,
            );
            if (out.json) return out.data(r);
            out.line(`✓ preview ${r.preview.name} removed`);
          },
        )
        .command(
          'ls',
          'list previews: name, service, image, URL, expiry',
          (c) => c.example('$0 preview ls --json', 'for scripts'),
          async (a) => {
            const out = makeOut(!!a.json);
            const cfg = locate(a);
            const r = await call<{ previews: Preview[] }>(endpoint(cfg), 'GET', '/v1/previews');
            if (out.json) return out.data(r);
            if (!r.previews.length) return out.line('no preview');
            out.line(
              table([
                ['name', 'service', 'image', 'url', 'expires'],
                ...r.previews.map((v) => [
                  v.name,
                  v.service,
                  v.image,
                  v.url,
                  expiresIn(v.expiresAt),
                ]),
              ]),
            );
          },
        )
        .example('$0 preview up pr-42 --service web --image demo-web:v2', 'start one')
        .example('$0 preview ls', 'see them and when they expire')
        .demandCommand(1, 'name a preview command: up, down or ls'),
  );
}
