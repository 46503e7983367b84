import { spawn } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';

/**
 * A listening port whose accept queue is full: the kernel drops every further
 * SYN, so a connect to it hangs (as to an app too busy to accept). The listener
 * lives in a child process that blocks its event loop and so never accepts;
 * close() kills it.
 */
export async function fullAcceptQueue(): Promise<{ port: number; close: () => void }> {
  const code = `
    const s = require('node:net').createServer();
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(s.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);
    });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  // Fill the queue (a backlog of 1 holds two connections; node takes 0 for its default, 511); the fillers that hang do no harm.
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 4; i++) fillers.push(net.connect(port, '127.0.0.1').on('error', () => {}));
  await new Promise((r) => setTimeout(r, 50));
  return {
    port,
    close: () => {
      for (const f of fillers) f.destroy();
      child.kill('SIGKILL');
    },
  };
}
