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
  const line = (o: unknown) => `${JSON.stringify(o)}\n`;
  const attrs = (extra: Record<string, string> = {}) => ({
    'com.docker.swarm.service.id': 's1',
    'com.docker.swarm.task.id': 't1',
    'io.shipit.service': 'web',
    'io.shipit.release': '3',
    ...extra,
  });

  it('local engine events: reads lines split across chunks, skips junk, reports oom each time', async () => {
    const { src, events } = source();
    const seen: ContainerEvent[] = [];
    const stop = watchSwarm(src, 'p', (e) => seen.push(e), 20);
    await sleep(10);
    const start = line({ id: 'c1', Action: 'start', Actor: { Attributes: attrs() } });
    events.write(start.slice(0, 10));
    events.write(`${start.slice(10)}\n   \nnot json\n`);
    // Not about a swarm task, or incomplete: ignored.
    events.write(line({ id: 'c2', Action: 'start', Actor: { Attributes: {} } }));
    events.write(line({ id: 'c3', Action: 'start' }));
    events.write(line({ Action: 'start', Actor: { Attributes: attrs() } }));
    events.write(line({ id: 'c4', Actor: { Attributes: attrs() } }));
    // The same start again (e.g. from the poll): once. An oom is always news, and
    // counts as the death: the die that follows it is not reported again.
    events.write(start);
    events.write(line({ id: 'c1', Action: 'oom', Actor: { Attributes: attrs() } }));
    events.write(line({ id: 'c1', Action: 'oom', Actor: { Attributes: attrs() } }));
    events.write(line({ id: 'c1', Action: 'die', Actor: { Attributes: attrs() } }));
    // No task id nor shipit labels: keyed by container, service '' and release 0.
    events.write(
      line({
        id: 'c5',
        Action: 'die',
        Actor: { Attributes: { 'com.docker.swarm.service.id': 's5' } },
      }),
    );
    await sleep(20);
    stop();
    expect(seen).toEqual([
      { id: 's1', action: 'start', service: 'web', release: 3 },
      { id: 's1', action: 'oom', service: 'web', release: 3 },
      { id: 's1', action: 'oom', service: 'web', release: 3 },
      { id: 's5', action: 'die', service: '', release: 0 },
    ]);
  });

  it('reconnects to the event stream after it ends or cannot be opened', async () => {
    jest.useFakeTimers();
    try {
      const streams: PassThrough[] = [];
      let fail = true;
      const src: SwarmWatchSource = {
        events: async () => {
          if (fail) {
            fail = false;
            throw new Error('engine unreachable');
          }
          const s = new PassThrough();
          streams.push(s);
          return s;
        },
        snapshot: async () => ({ services: [], tasks: [], downNodes: new Set<string>() }),
      };
      const seen: string[] = [];
      const stop = watchSwarm(src, 'p', (e) => seen.push(`${e.id} ${e.action}`), 50);
      await jest.advanceTimersByTimeAsync(1000);
      expect(streams).toHaveLength(1); // the retry after the failure
      streams[0].end();
      await jest.advanceTimersByTimeAsync(1000);
      expect(streams).toHaveLength(2);
      streams[1].destroy(new Error('reset'));
      await jest.advanceTimersByTimeAsync(1000);
      expect(streams).toHaveLength(3);
      streams[2].write(line({ id: 'c1', Action: 'start', Actor: { Attributes: attrs() } }));
      await jest.advanceTimersByTimeAsync(0);
      expect(seen).toEqual(['s1 start']);
      stop();
      expect(streams[2].destroyed).toBe(true);
      await jest.advanceTimersByTimeAsync(5000);
      expect(streams).toHaveLength(3); // no reconnect after stop()
    } finally {
      jest.useRealTimers();
    }
  });

  it('polls every second by default, and keeps polling when the manager is unreachable', async () => {
    jest.useFakeTimers();
    try {
      let polls = 0;
      let down = true;
      const snap = { services: [svc('s1')], tasks: [task('t1', 's1', 'pending')] };
      const src: SwarmWatchSource = {
        events: () => new Promise(() => undefined), // never opens
        snapshot: async () => {
          polls++;
          if (down) throw new Error('manager unreachable');
          return { ...snap, downNodes: new Set<string>() };
        },
      };
      const seen: string[] = [];
      const stop = watchSwarm(src, 'p', (e) => seen.push(`${e.id} ${e.action}`));
      await jest.advanceTimersByTimeAsync(0);
      expect(polls).toBe(1);
      await jest.advanceTimersByTimeAsync(999);
      expect(polls).toBe(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(polls).toBe(2);
      down = false;
      await jest.advanceTimersByTimeAsync(1000); // first successful poll: learns only
      snap.tasks = [task('t1', 's1', 'running')];
      await jest.advanceTimersByTimeAsync(1000);
      expect(seen).toEqual(['s1 start']);
      stop();
      await jest.advanceTimersByTimeAsync(5000);
      expect(polls).toBe(4);
    } finally {
      jest.useRealTimers();
    }
  });

  it('a removed running service dies then is destroyed; services without tasks or labels are handled', async () => {
    const { src, snap } = source();
    const bare: SwarmService = { ...svc('s3'), Spec: { ...svc('s3').Spec, Labels: undefined } };
    snap.services = [svc('s1'), svc('s2'), bare];
    snap.tasks = [task('t1', 's1', 'running')]; // s2: no task yet
    const seen: string[] = [];
    const stop = watchSwarm(
      src,
      'p',
      (e) => seen.push(`${e.id} ${e.action} ${e.service}:${e.release}`),
      20,
    );
    await sleep(50);
    snap.tasks = [task('t1', 's1', 'running'), task('t3', 's3', 'running')];
    await sleep(50);
    snap.services = [bare];
    await sleep(50);
    stop();
    expect(seen).toEqual(['s3 start :0', 's1 die web:3', 's1 destroy web:3']);
  });

  it('a task that is not running yet, or stops without failing, is not a death', async () => {
    const { src, snap } = source();
    snap.services = [svc('s1')];
    snap.tasks = [task('t1', 's1', 'preparing')];
    const seen: string[] = [];
    const stop = watchSwarm(src, 'p', (e) => seen.push(`${e.id} ${e.action}`), 20);
    await sleep(50);
    snap.tasks = [task('t1', 's1', 'starting')];
    await sleep(50);
    expect(seen).toEqual([]);
    snap.tasks = [task('t1', 's1', 'running')];
    await sleep(50);
    // Running, then a state that is neither running nor terminal: no event yet.
    snap.tasks = [task('t1', 's1', 'starting')];
    await sleep(50);
    stop();
    expect(seen).toEqual(['s1 start']);
  });
  it('reports nothing from a poll that answers after stop(), and polls no more', async () => {
    let answer!: () => void;
    let polls = 0;
    const base = { services: [svc('s1')], tasks: [task('t1', 's1', 'running')] };
    const src: SwarmWatchSource = {
      events: () => new Promise(() => undefined),
      snapshot: () => {
        polls++;
        if (polls === 1) return Promise.resolve({ ...base, downNodes: new Set<string>() });
        // The second poll is slow: the task died meanwhile, and its node with it.
        return new Promise((r) => {
          answer = () =>
            r({
              services: [svc('s1')],
              tasks: [{ ...task('t1', 's1', 'failed'), Status: { State: 'failed' } }],
              downNodes: new Set(['n2']),
            });
        });
      },
    };
    const seen: string[] = [];
    const stop = watchSwarm(src, 'p', (e) => seen.push(`${e.id} ${e.action}`), 20);
    await sleep(40);
    expect(polls).toBe(2);
    stop();
    answer();
    await sleep(60);
    expect(seen).toEqual([]);
    expect(polls).toBe(2);
  });

  it('stop() before the first poll answered: nothing is reported and no poll follows', async () => {
    let answer!: () => void;
    let polls = 0;
    const src: SwarmWatchSource = {
      events: () => new Promise(() => undefined),
      snapshot: () => {
        polls++;
        return new Promise((r) => {
          answer = () =>
            r({
              services: [svc('s1')],
              tasks: [task('t1', 's1', 'running')],
              downNodes: new Set(),
            });
        });
      },
    };
    const seen: ContainerEvent[] = [];
    const stop = watchSwarm(src, 'p', (e) => seen.push(e), 5);
    stop();
    answer();
    await sleep(30);
    expect(polls).toBe(1);
    expect(seen).toEqual([]);
  });

  it('forgets the oldest reports past 10,000, so memory stays bounded', async () => {
    const { src, events } = source();
    const seen: string[] = [];
    const stop = watchSwarm(src, 'p', (e) => seen.push(e.id), 1000);
    await sleep(10);
    const start = (n: number) =>
      line({
        id: `c${n}`,
        Action: 'start',
        Actor: {
          Attributes: {
            'com.docker.swarm.service.id': `s${n}`,
            'com.docker.swarm.task.id': `t${n}`,
          },
        },
      });
    let batch = '';
    for (let n = 0; n <= 10_000; n++) batch += start(n);
    events.write(batch);
    await sleep(10);
    expect(seen).toHaveLength(10_001);
    events.write(start(10_000)); // still remembered: not news
    events.write(start(0)); // the oldest was forgotten: reported again
    await sleep(10);
    stop();
    expect(seen.slice(10_001)).toEqual(['s0']);
  });
});
