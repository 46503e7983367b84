import fs from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { STARTER_CONFIG } from '../config/init-template';
import { usageError } from '../domain/errors';
import type { GlobalArgs } from './context';
import { makeOut } from './render';

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    'init',
    'write a commented starter shipit.yml',
    (c) =>
      c
        .option('force', { type: 'boolean', describe: 'overwrite an existing file' })
        .example('$0 init', 'write ./shipit.yml, then edit its services')
        .example('$0 init --force', 'start over: overwrite an existing shipit.yml'),
    (a) => {
      const out = makeOut(!!a.json);
      const file = path.resolve(a.config ?? process.env.SHIPIT_CONFIG ?? 'shipit.yml');
      if (fs.existsSync(file) && !a.force)
        throw usageError(`${file} already exists`, 'use --force to overwrite it');
      fs.writeFileSync(file, STARTER_CONFIG);
      out.data({ written: file });
      out.line(`wrote ${file}`);
    },
  );
}
