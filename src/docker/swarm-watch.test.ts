import { PassThrough } from 'node:stream';
import type { ContainerEvent } from '../ports/runtime';
import { serviceSpec } from './swarm-spec';
import type { SwarmService, SwarmTask } from './swarm-spec';
import { watchSwarm, type SwarmWatchSource } from './swarm-watch';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const svc = (id: string): SwarmService => ({
  ID: id,
  Version: { Index: 1 },
  Spec: serviceSpec(
    { project: 'p', service: 'web', release: 3, index: 0, image: 'a', port: 1, env: {} },
    null,
  ),
});
const task = (id: string, service: string, state: string, node = 'n2', index = 1): SwarmTask => ({
  ID: id,
  ServiceID: service,
  NodeID: node,
  Version: { Index: index },
  DesiredState: 'running',
  Status: { State: state, ContainerStatus: { ContainerID: `c-${id}` } },
});

/** A source whose snapshot the test changes, and whose event stream it writes to. */
function source() {
  const events = new PassThrough();
  const snap = {
    services: [] as SwarmService[],
    tasks: [] as SwarmTask[],
    downNodes: new Set<string>(),
  };
  const src: SwarmWatchSource = {
    events: async () => events,
    snapshot: async () => ({ ...snap, downNodes: new Set(snap.downNodes) }),
  };
  return { src, snap, events };
}

describe('watchSwarm', () => {
  it('reports starts, deaths of tasks on lost nodes, and removals, once each, under the service id', async () => {
    const { src, snap, events } = source();
    snap.services = [svc('s1')];
    snap.tasks = [task('t1', 's1', 'running')];
    const seen: ContainerEvent[] = [];
    const stop = watchSwarm(src, 'p', (e) => seen.push(e), 20);
    await sleep(60);
    expect(seen).toEqual([]); // what ran before watch() is not news

    // The same death from the local engine and from the poll: reported once.
    events.write(
      `${JSON.stringify({ id: 'c-t1', Action: 'die', Actor: { Attributes: { 'com.docker.swarm.service.id': 's1', 'com.docker.swarm.task.id': 't1', 'io.shipit.service': 'web', 'io.shipit.release': '3' } } })}\n`,
    );
    snap.downNodes.add('n2');
    await sleep(60);
    expect(seen).toEqual([{ id: 's1', action: 'die', service: 'web', release: 3 }]);

    // A new service whose task comes up, then the first one is removed.
    snap.services = [svc('s1'), svc('s2')];
    snap.tasks = [task('t1', 's1', 'running'), task('t2', 's2', 'running', 'n1')];
    await sleep(60);
    snap.services = [svc('s2')];
    snap.tasks = [task('t2', 's2', 'running', 'n1')];
    await sleep(60);
    stop();
    expect(seen.slice(1)).toEqual([
      { id: 's2', action: 'start', service: 'web', release: 3 },
      { id: 's1', action: 'destroy', service: 'web', release: 3 },
    ]);
    // Nothing after stop().
    snap.services = [];
    await sleep(60);
    expect(seen).toHaveLength(3);
  });

  it('a task that fails on a live node is a death; its replacement task a start', async () => {
    const { src, snap } = source();
    snap.services = [svc('s1')];
    snap.tasks = [task('t1', 's1', 'running')];
    const seen: string[] = [];
    const stop = watchSwarm(src, 'p', (e) => seen.push(`${e.id} ${e.action}`), 20);
    await sleep(50);
    snap.tasks = [task('t1', 's1', 'failed')];
    await sleep(50);
    snap.tasks = [task('t1', 's1', 'failed'), task('t9', 's1', 'running', 'n1', 7)];
    await sleep(50);
    stop();
    expect(seen).toEqual(['s1 die', 's1 start']);
  });
});
