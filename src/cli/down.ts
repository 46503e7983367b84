import type { Argv } from 'yargs';
import { call } from './client';
import { endpoint, locate, type GlobalArgs } from './context';
import { makeOut } from './render';
import { isShipitError } from '../domain/errors';

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    'down',
    'stop the daemon (containers keep running and are adopted by the next `up`)',
    (c) =>
      c
        .option('remove', {
          type: 'boolean',
          describe: 'also remove every managed container and the project network',
        })
        .example('$0 down', 'stop the daemon; the next `up` adopts the containers')
        .example('$0 down --remove', 'stop everything'),
    async (a) => {
      const out = makeOut(!!a.json);
      const cfg = locate(a);
      const ep = endpoint(cfg);
      await call(ep, 'POST', '/v1/shutdown', { remove: !!a.remove });
      // Wait until the API stops answering: the daemon has finished shutting down.
      for (let i = 0; i < 600; i++) {
        try {
          await call(ep, 'GET', '/healthz');
        } catch (e) {
          if (isShipitError(e) && e.code === 'unreachable') break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      out.data({ stopped: true, removed: !!a.remove });
      out.line(`shipit daemon stopped${a.remove ? '; containers and network removed' : ''}`);
    },
  );
}
