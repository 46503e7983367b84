import { Healer } from './healer';
import { PROJECT, scaleHarness, type ScaleHarness } from '../testing/scale-harness';

function healer(h: ScaleHarness) {
  return new Healer({
    project: PROJECT,
    runtime: h.runtime,
    store: h.store,
    locks: h.locks,
    scaler: h.scaler,
    clock: h.clock,
    log: h.log,
    settleMs: 1000,
  });
}

const idOf = (h: ScaleHarness, index: number, release = 1) =>
  h.runtime.all({ project: PROJECT, service: 'web', release }).find((c) => c.index === index)!.id;

describe('Healer', () => {
  it('replaces a container of the serving release that died, under the same index', async () => {
    const h = scaleHarness();
    await h.seed(3);
    const dead = idOf(h, 2);
    h.runtime.kill(dead);
    const hl = healer(h);
    hl.died('web', 1, dead);
    hl.died('web', 1, dead); // a second report while one is pending is ignored
    await hl.idle();
    expect(h.running()).toEqual([1, 2, 3]);
    expect(idOf(h, 2)).not.toBe(dead);
    expect(h.routed()).toHaveLength(3);
    const scale = h.store.listEvents('web').find((e) => e.type === 'scale');
    expect(scale?.message).toMatch(/from 2 to 3 \(replace: app-web-r1-2 died \(exit 137\)\)/);
    expect(h.store.getRelease('web', 1)?.replicas).toBe(3);
  });

  it('leaves alone a container shipit removed, one of a release that no longer serves, and a count already met', async () => {
    const h = scaleHarness();
    await h.seed(2);
    const hl = healer(h);
    const gone = idOf(h, 1);
    await h.runtime.remove(gone); // drained and removed by shipit
    hl.died('web', 1, gone);
    await hl.idle();
    expect(h.running()).toEqual([2]);
    hl.died('web', 7, idOf(h, 2)); // not the serving release
    await hl.idle();
    expect(h.running()).toEqual([2]);
    // recorded replicas lowered (a scale down that stopped it): nothing to replace
    h.store.updateRelease('web', 1, { replicas: 1 });
    const stopped = idOf(h, 2);
    await h.runtime.start({ ...h.runtime.specOf(stopped)!, index: 3 });
    h.runtime.kill(idOf(h, 3));
    hl.died('web', 1, idOf(h, 3));
    await hl.idle();
    expect(h.running()).toEqual([2]);
  });

  it('does nothing once stopped, and logs a failed replacement without throwing', async () => {
    const h = scaleHarness();
    await h.seed(2);
    const hl = healer(h);
    const dead = idOf(h, 1);
    h.runtime.kill(dead);
    h.runtime.failStartFor('app:1');
    hl.died('web', 1, dead);
    await hl.idle();
    expect(h.running()).toEqual([2]);
    h.runtime.clearStartFailures();
    hl.stop();
    hl.died('web', 1, idOf(h, 2));
    await hl.idle();
    expect(h.running()).toEqual([2]);
  });
});
