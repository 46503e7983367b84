import type { Argv } from 'yargs';
import { configJsonSchema } from '../config';
import type { GlobalArgs } from './context';

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    'schema',
    'print the JSON Schema of shipit.yml',
    (c) => c.example('$0 schema > shipit.schema.json', 'for editor validation'),
    () => {
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    },
  );
}
