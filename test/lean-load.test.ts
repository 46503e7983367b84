// The daemon's start must stay quick (it serves again within 2 s of a restart):
// dockerode's BuildKit session (gRPC) and ssh transport are not loaded until used.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './support/harness';

const run = (code: string) =>
  execFileSync(process.execPath, ['-e', code], { cwd: ROOT, encoding: 'utf8' }).trim();

describe('loading the Docker runtime', () => {
  it('leaves gRPC, protobufjs and ssh2 out, and loads them on first use', () => {
    const runtime = path.join(ROOT, 'dist', 'docker', 'runtime.js');
    const out = run(`
      require(${JSON.stringify(runtime)});
      const heavy = () => Object.keys(require.cache).filter((k) => /grpc|protobufjs|ssh2/.test(k)).length;
      const before = heavy();
      const lib = require('path').dirname(require.resolve('dockerode'));
      const ssh = require(require.resolve('docker-modem/lib/ssh', { paths: [lib] }));
      const agent = ssh({ host: 'localhost' });
      console.log(JSON.stringify({ before, after: heavy(), agent: typeof agent }));
    `);
    expect(JSON.parse(out)).toEqual({ before: 0, after: expect.any(Number), agent: 'object' });
    expect(JSON.parse(out).after).toBeGreaterThan(0);
  });
});
