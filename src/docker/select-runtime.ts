// Which ContainerRuntime `runtime:` in shipit.yml stands for. No detection:
// an engine that is a swarm manager still runs `runtime: docker` unless the
// config says swarm (a test or a user leaving swarm mode on must not switch
// shipit's runtime); it only gets a log line.

import type { Logger } from 'pino';
import type { ContainerRuntime } from '../ports/runtime';
import { DockerRuntime } from './runtime';

export function runtimeFor(kind: 'docker' | 'swarm', log: Logger): ContainerRuntime {
  // Loaded only when used: the Swarm modules would add ~60 ms to every daemon start,
  // which is time a restarted daemon does not serve.
  if (kind === 'swarm')
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return new (require('./swarm-runtime') as typeof import('./swarm-runtime')).SwarmRuntime();
  const rt = new DockerRuntime();
  // Later, not during the start: /info is one of the engine's slowest calls, and a daemon
  // restarted mid-deploy must serve again as soon as it can.
  const check = setTimeout(() => void hint(rt, log), 5000);
  check.unref();
  return rt;
}

async function hint(rt: DockerRuntime, log: Logger): Promise<void> {
  await rt.isSwarmManager().then((manager) => {
    if (manager)
      log.info(
        { runtime: 'docker' },
        'this engine is a swarm manager; shipit runs containers on it alone (set runtime: swarm to use the cluster)',
      );
  });
}
