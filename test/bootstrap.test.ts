import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './support/harness';

describe('scripts/docker-bootstrap.sh', () => {
  it('does nothing, quietly and quickly, when an engine already answers', () => {
    const t0 = Date.now();
    const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'docker-bootstrap.sh')], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
