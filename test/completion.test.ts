// `shipit completion` prints a bash completion script that works when sourced.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN } from './support/harness';

describe('shell completion', () => {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-bin-'));
  beforeAll(() => {
    fs.writeFileSync(
      path.join(bin, 'shipit'),
      `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`,
      { mode: 0o755 },
    );
  });
  afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));

  const complete = (words: string[]): string[] => {
    const script = `source <(shipit completion)
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_shipit_yargs_completions; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', script], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean);
  };

  it('completes commands and options in bash', () => {
    expect(complete(['shipit', 'dep'])).toEqual(['deploy']);
    expect(complete(['shipit', 'ro'])).toEqual(['rollback']);
    expect(complete(['shipit', 'deploy', '--str'])).toEqual(['--strategy']);
    expect(complete(['shipit', ''])).toEqual(expect.arrayContaining(['up', 'status', 'scale']));
  });
});
