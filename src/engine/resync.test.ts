import pino, { type Logger } from 'pino';
import { PROJECT, rec, spec, world } from '../testing/engine-fixtures';
import { ServiceLocks } from './locks';
import { resync } from './resync';

function setup(log: Logger = pino({ level: 'silent' })) {
  const { runtime, store, router, routes, watched, start } = world();
  const locks = new ServiceLocks();
  /** What the daemon had routed before the engine went away. */
  const route = (service: string, releases: { number: number; weight: number }[]) =>
    routes.publish(
      service,
      releases.map((r) => ({
        number: r.number,
        weight: r.weight,
        spec: spec(service),
        containers: runtime.running({ project: PROJECT, service, release: r.number }),
      })),
    );
  const run = () => resync({ project: PROJECT, runtime, store, router, routes, locks, log });
  const addresses = (service: string, release: number) =>
    router.table
      .lookup(`${service}.test`)
      ?.releases.get(release)
      ?.targets.map((t) => `${t.id}@${t.host}:${t.port}`);
  return { runtime, store, router, routes, locks, watched, start, route, run, addresses };
}

describe('resync', () => {
  it('does nothing when no release is live', async () => {
    const s = setup();
    s.store.insertRelease(rec(1, 'previous'));
    s.store.insertRelease(rec(2, 'failed'));
    await s.start('web', 1, 1);
    const callsBefore = s.runtime.calls.length;
    expect(await s.run()).toEqual([]);
    expect(s.runtime.calls.length).toBe(callsBefore); // not even a list()
    expect(s.router.services()).toEqual([]);
    expect(s.runtime.all({ project: PROJECT })).toHaveLength(1);
  });

  it('reports nothing when every live release runs its recorded count (routes unchanged)', async () => {
    const s = setup();
    s.store.insertRelease(rec(1, 'live'));
    const a = await s.start('web', 1, 1);
    const b = await s.start('web', 1, 2);
    s.route('web', [{ number: 1, weight: 100 }]);
    expect(await s.run()).toEqual([]);
    expect(s.runtime.callsOf('remove')).toEqual([]);
    expect(s.router.weights('web')).toEqual({ 1: 100 });
    expect(s.addresses('web', 1)).toEqual([`${a.id}@${a.ip}:3000`, `${b.id}@${b.ip}:3000`]);
    expect(s.watched).toEqual([a.id, b.id]);
  });

  it('removes dead containers, routes the survivors and reports the shortfall', async () => {
    const s = setup();
    s.store.insertRelease(rec(1, 'live'));
    const a = await s.start('web', 1, 1);
    const b = await s.start('web', 1, 2);
    s.route('web', [{ number: 1, weight: 100 }]);
    s.runtime.kill(a.id); // the engine restart stopped it

    const short = await s.run();

    expect(short).toEqual([{ service: 'web', release: 1, running: 1, want: 2 }]);
    expect(s.runtime.callsOf('remove')).toEqual([[a.id]]);
    expect(s.runtime.all({ project: PROJECT }).map((c) => c.id)).toEqual([b.id]);
    expect(s.addresses('web', 1)).toEqual([`${b.id}@${b.ip}:3000`]);
    expect(s.router.weights('web')).toEqual({ 1: 100 });
    expect(s.router.target(a.id)?.draining).toBe(true); // no new requests to the dead one
    expect(s.watched).toEqual([b.id]);
  });

  it('reports a live release with every container dead as running 0, routed to nothing', async () => {
    const s = setup();
    s.store.insertRelease(rec(1, 'live'));
    const a = await s.start('web', 1, 1);
    const b = await s.start('web', 1, 2);
    s.route('web', [{ number: 1, weight: 100 }]);
    s.runtime.kill(a.id);
    s.runtime.kill(b.id, 0);

    expect(await s.run()).toEqual([{ service: 'web', release: 1, running: 0, want: 2 }]);
    expect(s.runtime.all({ project: PROJECT })).toEqual([]);
    expect(s.addresses('web', 1)).toEqual([]);
    expect(s.router.weights('web')).toEqual({ 1: 100 });
    expect(s.watched).toEqual([]);
  });

  it('still resyncs when removing a dead container fails', async () => {
    const s = setup();
    s.store.insertRelease(rec(1, 'live'));
    const a = await s.start('web', 1, 1);
    const b = await s.start('web', 1, 2);
    s.runtime.kill(a.id);
    const remove = jest.spyOn(s.runtime, 'remove').mockRejectedValue(new Error('engine busy'));
    expect(await s.run()).toEqual([{ service: 'web', release: 1, running: 1, want: 2 }]);
    expect(remove).toHaveBeenCalledWith(a.id);
    expect(s.addresses('web', 1)).toEqual([`${b.id}@${b.ip}:3000`]);
  });

  it('routes a replaced container at its new address, not the old one', async () => {
    const s = setup();
    s.store.insertRelease(rec(1, 'live'));
    const a = await s.start('web', 1, 1);
    const b = await s.start('web', 1, 2);
    s.route('web', [{ number: 1, weight: 100 }]);
    s.runtime.kill(a.id);
    const a2 = await s.start('web', 1, 1); // same name, new container, new ip
    expect(a2.id).not.toBe(a.id);
    expect(a2.ip).not.toBe(a.ip);

    expect(await s.run()).toEqual([]);
    expect(s.addresses('web', 1)).toEqual([`${a2.id}@${a2.ip}:3000`, `${b.id}@${b.ip}:3000`]);
    expect(s.router.target(a.id)?.draining).toBe(true);
    expect(
      s.router
        .targets('web')
        .filter((t) => !t.draining)
        .map((t) => t.address)
        .sort(),
    ).toEqual([`${a2.ip}:3000`, `${b.ip}:3000`].sort());
    expect(s.watched.sort()).toEqual([a2.id, b.id].sort());
  });

  it('keeps the weights of two live releases (a canary in progress)', async () => {
    const s = setup();
    s.store.insertRelease(rec(1, 'live'));
    s.store.insertRelease(rec(2, 'live', 'web', 1));
    const old1 = await s.start('web', 1, 1);
    const old2 = await s.start('web', 1, 2);
    const canary = await s.start('web', 2, 1);
    s.route('web', [
      { number: 1, weight: 90 },
      { number: 2, weight: 10 },
    ]);
    s.runtime.kill(old2.id);

    const short = await s.run();

    expect(short).toEqual([{ service: 'web', release: 1, running: 1, want: 2 }]);
    expect(s.router.weights('web')).toEqual({ 1: 90, 2: 10 });
    expect(s.addresses('web', 1)).toEqual([`${old1.id}@${old1.ip}:3000`]);
    expect(s.addresses('web', 2)).toEqual([`${canary.id}@${canary.ip}:3000`]);
  });

  it('gives the newest live release all traffic when the router knew no weights', async () => {
    const s = setup();
    s.store.insertRelease(rec(1, 'live'));
    s.store.insertRelease(rec(2, 'live', 'web', 1));
    await s.start('web', 1, 1);
    await s.start('web', 1, 2);
    await s.start('web', 2, 1);
    expect(await s.run()).toEqual([]);
    expect(s.router.weights('web')).toEqual({ 1: 0, 2: 100 });
  });

  it('reports a live release running more containers than recorded', async () => {
    const s = setup();
    s.store.insertRelease(rec(1, 'live', 'web', 1));
    await s.start('web', 1, 1);
    await s.start('web', 1, 2);
    expect(await s.run()).toEqual([{ service: 'web', release: 1, running: 2, want: 1 }]);
  });

  it('leaves a service alone while an operation holds its lock, and resyncs the others', async () => {
    const s = setup();
    s.store.insertRelease(rec(1, 'live', 'web'));
    s.store.insertRelease(rec(1, 'live', 'api'));
    const w1 = await s.start('web', 1, 1);
    const w2 = await s.start('web', 1, 2);
    const a1 = await s.start('api', 1, 1);
    const a2 = await s.start('api', 1, 2);
    s.route('web', [{ number: 1, weight: 100 }]);
    s.route('api', [{ number: 1, weight: 100 }]);
    s.runtime.kill(w1.id);
    s.runtime.kill(a1.id);
    const unlock = s.locks.acquire('web', 'a deploy');

    const short = await s.run();

    expect(short).toEqual([{ service: 'api', release: 1, running: 1, want: 2 }]);
    // web: not listed, nothing removed, the routes it had are untouched
    expect(s.runtime.callsOf('list')).toEqual([[{ project: PROJECT, service: 'api' }]]);
    expect(s.runtime.all({ project: PROJECT, service: 'web' }).map((c) => c.id)).toEqual([
      w1.id,
      w2.id,
    ]);
    expect(s.addresses('web', 1)).toEqual([`${w1.id}@${w1.ip}:3000`, `${w2.id}@${w2.ip}:3000`]);
    // api: resynced
    expect(s.runtime.callsOf('remove')).toEqual([[a1.id]]);
    expect(s.addresses('api', 1)).toEqual([`${a2.id}@${a2.ip}:3000`]);
    expect(s.locks.holder('web')).toBe('a deploy');

    unlock();
    expect(await s.run()).toEqual([
      { service: 'api', release: 1, running: 1, want: 2 },
      { service: 'web', release: 1, running: 1, want: 2 },
    ]);
    expect(s.addresses('web', 1)).toEqual([`${w2.id}@${w2.ip}:3000`]);
  });

  it('logs what it did per service', async () => {
    const info = jest.fn();
    const s = setup({ info } as unknown as Logger);
    s.store.insertRelease(rec(1, 'live'));
    const a = await s.start('web', 1, 1);
    await s.start('web', 1, 2);
    s.runtime.kill(a.id);
    await s.run();
    expect(info).toHaveBeenCalledWith(
      { service: 'web', removed: 1, routed: [1] },
      'resynced with the Docker engine',
    );
  });
});
