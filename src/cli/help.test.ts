// Every command's --help shows real invocations under "Examples:", so a new command
// without examples fails here. Commands are found by walking the help output itself.
import { runCli } from '../testing/cli';

/** yargs prints help with console.log: captured as stdout here. */
async function run(args: string[]) {
  const logged: string[] = [];
  const log = jest
    .spyOn(console, 'log')
    .mockImplementation((...a: unknown[]) => void logged.push(`${a.join(' ')}\n`));
  try {
    const r = await runCli(args);
    return { ...r, stdout: r.stdout + logged.join('') };
  } finally {
    log.mockRestore();
  }
}

/** The commands listed under "Commands:" of `shipit <prefix> --help`, as word lists. */
async function commandsUnder(prefix: string[]): Promise<string[][]> {
  const r = await run([...prefix, '--help']);
  const section = r.stdout.split(/^Commands:$/m)[1]?.split(/^\S.*:$/m)[0] ?? '';
  return [...section.matchAll(/^ {2}shipit ((?:[a-z][\w-]* ?)+)/gm)].map((m) =>
    m[1].trim().split(' '),
  );
}

async function allCommands(prefix: string[] = []): Promise<string[][]> {
  const found: string[][] = [];
  for (const words of await commandsUnder(prefix)) {
    found.push(words);
    found.push(...(await allCommands(words)));
  }
  return found;
}

describe('shipit --help', () => {
  let commands: string[][];
  beforeAll(async () => {
    commands = await allCommands();
  });

  it('finds every command, subcommands included', () => {
    const names = commands.map((c) => c.join(' '));
    expect(names).toEqual(
      expect.arrayContaining(['deploy', 'rollback', 'preview', 'preview up', 'token rotate']),
    );
    expect(names).toContain('completion');
    expect(names.length).toBeGreaterThanOrEqual(18);
  });

  it('shows examples of every command', async () => {
    for (const words of commands) {
      const r = await run([...words, '--help']);
      expect([words.join(' '), r.code, r.stderr]).toEqual([words.join(' '), 0, '']);
      const examples = r.stdout.split(/^Examples:$/m)[1];
      expect([words.join(' '), examples === undefined]).toEqual([words.join(' '), false]);
      // Examples of this command (a wrapped long one continues on the next line).
      expect([words.join(' '), examples.includes(`shipit ${words.join(' ')}`)]).toEqual([
        words.join(' '),
        true,
      ]);
    }
  });
});
