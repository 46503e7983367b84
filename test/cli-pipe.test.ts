// `shipit … | head`: when the reader goes away the CLI exits quietly, not with an EPIPE stack.
import { spawnSync } from 'node:child_process';
import { BIN, ROOT } from './support/harness';

describe('the CLI writing to a closed pipe', () => {
  it('exits 0 without an error when the reader is gone before it writes', () => {
    const r = spawnSync(
      'bash',
      ['-c', `"${process.execPath}" "${BIN}" schema | true; echo "rc=\${PIPESTATUS[0]}" >&2`],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(r.stderr).toBe('rc=0\n');
  });
});
