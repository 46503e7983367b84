import type { Argv } from 'yargs';
import type { GlobalArgs } from './context';

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    'schema',
    'print the JSON Schema of shipit.yml',
    (c) => c.example('$0 schema > shipit.schema.json', 'for editor validation'),
    async () => {
      const { configJsonSchema } = await import('../config/schema');
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    },
  );
}
