// Which ContainerRuntime `runtime:` in shipit.yml stands for. No detection:
// an engine that is a swarm manager still runs `runtime: docker` unless the
// config says swarm (a test or a user leaving swarm mode on must not switch
// shipit's runtime); it only gets a log line.

import type { Logger } from 'pino';
import type { ContainerRuntime } from '../ports/runtime';
import { DockerRuntime } from './runtime';
import { SwarmRuntime } from './swarm-runtime';

export function runtimeFor(kind: 'docker' | 'swarm', log: Logger): ContainerRuntime {
  if (kind === 'swarm') return new SwarmRuntime();
  const rt = new DockerRuntime();
  void SwarmRuntime.isManager(rt.socketPath).then((manager) => {
    if (manager)
      log.info(
        { runtime: 'docker' },
        'this engine is a swarm manager; shipit runs containers on it alone (set runtime: swarm to use the cluster)',
      );
  });
  return rt;
}
