import type { Argv } from 'yargs';
import { writeTokenFile } from '../api/auth';
import { call, readToken } from './client';
import { endpoint, locate, type GlobalArgs } from './context';
import { makeOut } from './render';

interface Rotated {
  ok: boolean;
  /** The token file the daemon rewrote (a path on the daemon's host). */
  file: string;
  token: string;
}

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command('token', 'the control API token', (t) =>
    t
      .command(
        'rotate',
        'replace the API token: the old one is refused at once and dashboard sessions end',
        (c) =>
          c
            .option('show', {
              type: 'boolean',
              describe:
                'print the new token on stdout (messages go to stderr); keep it out of public CI logs',
            })
            .example('$0 token rotate', 'the new token is written to .shipit/token (mode 0600)')
            .example('export SHIPIT_TOKEN=$($0 token rotate --show)', 'rotate and keep using it'),
        async (a) => {
          const out = makeOut(!!a.json);
          const ep = endpoint(locate(a));
          const r = await call<Rotated>(ep, 'POST', '/v1/token/rotate', {});
          const fromEnv = !!process.env.SHIPIT_TOKEN;
          // A client on another host keeps its own copy of the token file: keep it working.
          let updated: string | null = null;
          if (!fromEnv && readToken(ep.tokenFile, {}) !== r.token) {
            writeTokenFile(ep.tokenFile, r.token);
            updated = ep.tokenFile;
          }
          if (out.json)
            return out.data({
              ok: true,
              file: r.file,
              ...(updated ? { updated } : {}),
              ...(a.show ? { token: r.token } : {}),
            });
          const say = a.show ? out.err : out.line;
          say(`✓ API token rotated: the daemon wrote the new one to ${r.file}`);
          if (updated) say(`  and this client's copy ${updated} was updated`);
          say('  the old token is refused from now on; dashboard sessions have ended');
          if (fromEnv) say(`  SHIPIT_TOKEN still holds the old token: set it from ${r.file}`);
          if (a.show) out.line(r.token);
        },
      )
      .example('$0 token rotate', 'when the token may have leaked')
      .demandCommand(1, 'name a token command: rotate'),
  );
}
