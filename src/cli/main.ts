import yargs, { type Argv } from 'yargs';
import { isShipitError } from '../domain/errors';
import type { GlobalArgs } from './context';
import * as init from './init';
import * as schema from './schema';
import * as up from './up';
import * as down from './down';
import * as deploy from './deploy';
import * as rollback from './rollback';
import * as promote from './promote';
import * as status from './status';
import * as history from './history';
import * as logs from './logs';
import * as scale from './scale';
import * as preview from './preview';
import * as token from './token';

/** Runs the CLI and returns the exit code (SPEC §3); the only place errors become codes. */
export async function main(argv: string[]): Promise<number> {
  // yargs may report more than one problem ("Unknown argument: deplyo", "Did you mean deploy?").
  const usageFailures: string[] = [];
  let y = yargs(argv)
    .scriptName('shipit')
    .option('config', {
      type: 'string',
      global: true,
      describe: 'path to shipit.yml (or SHIPIT_CONFIG)',
    })
    .option('json', {
      type: 'boolean',
      global: true,
      describe: 'machine-readable output',
    })
    .option('host', {
      type: 'string',
      global: true,
      describe: 'the daemon API to talk to, e.g. http://deploy.example.com:7070 (or SHIPIT_HOST)',
    })
    .option('token', {
      type: 'string',
      global: true,
      describe: 'the API token (or SHIPIT_TOKEN); default: the token file in the state directory',
    })
    // The flags win over the variables for this run only (main may run several times in one process).
    .middleware((a) => {
      if (typeof a.host === 'string') override('SHIPIT_HOST', a.host);
      if (typeof a.token === 'string') override('SHIPIT_TOKEN', a.token);
    }) as unknown as Argv<GlobalArgs>;
  const commands = [
    init,
    schema,
    up,
    down,
    deploy,
    promote,
    rollback,
    scale,
    status,
    history,
    logs,
    preview,
    token,
  ];
  for (const c of commands) y = c.register(y);
  y = y
    // A command of our own rather than yargs' .completion(), which prints the script even for --help.
    .command(
      'completion',
      'print a bash/zsh completion script: source <(shipit completion)',
      (c: Argv<GlobalArgs>) =>
        c
          .example('source <($0 completion)', 'complete commands and options in this shell')
          .example('$0 completion >> ~/.bashrc', 'and in every new bash'),
      () => {
        y.showCompletionScript();
      },
    )
    .demandCommand(1, 'name a command')
    .recommendCommands()
    .strict()
    .help()
    .version(false)
    .exitProcess(false)
    .fail((msg: string, err: Error) => {
      if (err) throw err;
      if (!usageFailures.includes(msg)) usageFailures.push(msg);
    });
  const saved = new Map<string, string | undefined>();
  const override = (k: string, v: string) => {
    if (!saved.has(k)) saved.set(k, process.env[k]);
    process.env[k] = v;
  };
  try {
    await y.parseAsync();
  } catch (err) {
    if (isShipitError(err)) {
      const asJson = argv.includes('--json');
      if (asJson)
        process.stdout.write(
          `${JSON.stringify({ type: 'error', ...err.toJSON(), exitCode: err.exitCode })}\n`,
        );
      process.stderr.write(`error: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`);
      return err.exitCode;
    }
    process.stderr.write(
      `error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return 1;
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  if (usageFailures.length) {
    // The suggestion reads best after the problem it answers.
    const hints = usageFailures.filter((m) => m.startsWith('Did you mean'));
    const problems = usageFailures.filter((m) => !hints.includes(m));
    process.stderr.write(
      `error: ${[...problems, ...hints].join('\n')}\nrun shipit --help for usage\n`,
    );
    return 2;
  }
  return 0;
}
