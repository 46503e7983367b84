import pino from 'pino';
import type { ReleaseRecord } from '../domain/types';
import type { ProbeResult } from '../health/probe';
import { systemClock } from '../ports/clock';
import { PROJECT, rec, world } from '../testing/engine-fixtures';
import { reconcile } from './reconcile';
import type { Retirer } from './retirer';
import { Routes } from './routes';

async function setup(
  probe: (host: string) => Promise<ProbeResult> = async () => ({ ok: true, detail: 'ok' }),
) {
  const { runtime, store, router, routes, watched, start } = world();
  const scheduled: ReleaseRecord[] = [];
  const retirer = { schedule: (r: ReleaseRecord) => scheduled.push(r) } as unknown as Retirer;
  const run = () =>
    reconcile({
      project: PROJECT,
      runtime,
      store,
      router,
      routes,
      retirer,
      probe: (host) => probe(host),
      clock: systemClock,
      log: pino({ level: 'silent' }),
    });
  return { runtime, store, router, watched, scheduled, start, run };
}

describe('reconcile', () => {
  it('adopts the running containers of the live release (same ids, nothing restarted)', async () => {
    const s = await setup();
    s.store.insertRelease(rec(1, 'live'));
    const a = await s.start('web', 1, 1);
    const b = await s.start('web', 1, 2);
    const startsBefore = s.runtime.callsOf('start').length;
    const report = await s.run();
    expect(report.adopted).toEqual([{ service: 'web', release: 1, containers: [a.id, b.id] }]);
    expect(report.interrupted).toEqual([]);
    expect(report.removed).toEqual([]);
    expect(s.runtime.callsOf('start')).toHaveLength(startsBefore);
    expect(s.runtime.callsOf('stop')).toEqual([]);
    expect(s.router.weights('web')).toEqual({ 1: 100 });
    expect(
      s.router.table
        .lookup('web.test')
        ?.releases.get(1)
        ?.targets.map((t) => t.id),
    ).toEqual([a.id, b.id]);
    expect(s.router.targets('web').map((t) => t.address)).toEqual([`${a.ip}:3000`, `${b.ip}:3000`]);
    expect(s.watched).toEqual([a.id, b.id]);
  });

  it('marks a deploying release failed/interrupted and removes its containers', async () => {
    const s = await setup();
    s.store.insertRelease(rec(1, 'live'));
    s.store.insertRelease(rec(2, 'deploying'));
    const live = await s.start('web', 1, 1);
    const half = await s.start('web', 2, 1);
    const report = await s.run();
    expect(report.interrupted).toEqual([{ service: 'web', release: 2 }]);
    expect(report.removed).toEqual([half.name]);
    const r2 = s.store.getRelease('web', 2)!;
    expect(r2).toMatchObject({ status: 'failed', result: 'interrupted' });
    expect(r2.reason).toContain('daemon stopped during the deploy');
    expect(r2.finishedAt).not.toBeNull();
    expect(s.store.listEvents('web', 2).map((e) => e.type)).toEqual(['interrupted']);
    expect(s.runtime.all({ project: PROJECT }).map((c) => c.id)).toEqual([live.id]);
    expect(s.runtime.callsOf('stop')).toEqual([[half.id, 0]]);
    expect(s.router.weights('web')).toEqual({ 1: 100 });
    expect(s.router.target(half.id)).toBeUndefined();
  });

  it('removes unknown leftovers but keeps previous releases running and schedules their retirement', async () => {
    const s = await setup();
    s.store.insertRelease(rec(1, 'previous'));
    s.store.insertRelease(rec(2, 'live'));
    s.store.insertRelease(rec(3, 'failed'));
    const prev = await s.start('web', 1, 1);
    const live = await s.start('web', 2, 1);
    const failedLeft = await s.start('web', 3, 1);
    const ghost = await s.start('ghost', 7, 1);
    const unrecorded = await s.start('web', 9, 1);
    const report = await s.run();
    expect(report.removed.sort()).toEqual([failedLeft.name, ghost.name, unrecorded.name].sort());
    expect(
      s.runtime
        .all({ project: PROJECT })
        .map((c) => c.id)
        .sort(),
    ).toEqual([prev.id, live.id].sort());
    expect(s.router.weights('web')).toEqual({ 2: 100 });
    expect(s.router.target(prev.id)).toBeUndefined(); // kept, not routed
    expect(s.scheduled.map((r) => r.number)).toEqual([1]);
  });

  it('routes an adopted container that fails its first probe as unhealthy', async () => {
    let bad = '';
    const s = await setup(async (host) =>
      host === bad ? { ok: false, detail: 'refused' } : { ok: true, detail: 'ok' },
    );
    s.store.insertRelease(rec(1, 'live'));
    const a = await s.start('web', 1, 1);
    const b = await s.start('web', 1, 2);
    bad = b.ip!;
    await s.run();
    expect(s.router.target(a.id)?.healthy).toBe(true);
    expect(s.router.target(b.id)?.healthy).toBe(false);
  });

  it('keeps them all routed when every adopted container times out on its first probe (the monitor decides)', async () => {
    const s = await setup(async () => ({ ok: false, detail: 'timed out', timedOut: true }));
    s.store.insertRelease(rec(1, 'live'));
    const a = await s.start('web', 1, 1);
    const b = await s.start('web', 1, 2);
    await s.run();
    expect(s.router.target(a.id)?.healthy).toBe(true);
    expect(s.router.target(b.id)?.healthy).toBe(true);
  });

  it('takes them all out when the failures are answers: a bad status or a refused connection', async () => {
    let refusing = '';
    const s = await setup(async (host) =>
      host === refusing
        ? { ok: false, detail: 'connect ECONNREFUSED' }
        : { ok: false, detail: 'timed out', timedOut: true },
    );
    s.store.insertRelease(rec(1, 'live'));
    const a = await s.start('web', 1, 1);
    const b = await s.start('web', 1, 2);
    refusing = b.ip!;
    await s.run();
    expect(s.router.target(a.id)?.healthy).toBe(false);
    expect(s.router.target(b.id)?.healthy).toBe(false);
  });

  it('does not route containers of the live release that are no longer running', async () => {
    const s = await setup();
    s.store.insertRelease(rec(1, 'live'));
    const a = await s.start('web', 1, 1);
    const b = await s.start('web', 1, 2);
    s.runtime.kill(b.id);
    const report = await s.run();
    expect(report.adopted[0].containers).toEqual([a.id]);
    expect(
      s.router.table
        .lookup('web.test')
        ?.releases.get(1)
        ?.targets.map((t) => t.id),
    ).toEqual([a.id]);
    // the dead one goes (its name is free for a replacement) and the shortfall is reported
    expect(report.removed).toEqual([b.name]);
    expect(report.mismatched).toEqual([{ service: 'web', release: 1, running: 1, want: 2 }]);
    expect(s.runtime.all({ project: PROJECT }).map((c) => c.id)).toEqual([a.id]);
  });

  it('completes a deploy that had flipped (recorded live, no result yet)', async () => {
    const s = await setup();
    s.store.insertRelease(rec(1, 'retired'));
    s.store.insertRelease({ ...rec(2, 'live'), result: null });
    const old = await s.start('web', 1, 1);
    const a = await s.start('web', 2, 1);
    const b = await s.start('web', 2, 2);
    const report = await s.run();
    expect(report.completed).toEqual([{ service: 'web', release: 2 }]);
    expect(report.interrupted).toEqual([]);
    expect(report.removed).toEqual([old.name]);
    expect(s.store.getRelease('web', 2)).toMatchObject({ status: 'live', result: 'succeeded' });
    expect(s.store.listEvents('web', 2).map((e) => e.type)).toEqual(['completed']);
    expect(s.runtime.all({ project: PROJECT }).map((c) => c.id)).toEqual([a.id, b.id]);
    expect(s.router.weights('web')).toEqual({ 2: 100 });
  });

  it('completes a deploy whose predecessor has no container left (a rolling deploy near its end)', async () => {
    const s = await setup();
    s.store.insertRelease(rec(1, 'live'));
    s.store.insertRelease(rec(2, 'deploying'));
    const a = await s.start('web', 2, 1);
    const report = await s.run();
    expect(report.completed).toEqual([{ service: 'web', release: 2 }]);
    expect(report.interrupted).toEqual([]);
    expect(s.store.getRelease('web', 2)).toMatchObject({ status: 'live', result: 'succeeded' });
    expect(s.store.getRelease('web', 1)).toMatchObject({ status: 'retired' });
    expect(s.router.weights('web')).toEqual({ 2: 100 });
    expect(s.router.target(a.id)?.healthy).toBe(true);
    expect(report.mismatched).toEqual([{ service: 'web', release: 2, running: 1, want: 2 }]);
  });

  it('rolls back a deploy when its predecessor still runs', async () => {
    const s = await setup();
    s.store.insertRelease(rec(1, 'live'));
    s.store.insertRelease(rec(2, 'deploying'));
    await s.start('web', 1, 1);
    await s.start('web', 2, 1);
    await s.start('web', 2, 2);
    const report = await s.run();
    expect(report.interrupted).toEqual([{ service: 'web', release: 2 }]);
    expect(s.router.weights('web')).toEqual({ 1: 100 });
    expect(report.mismatched).toEqual([{ service: 'web', release: 1, running: 1, want: 2 }]);
  });

  it('records a rollback or scale that a restart cut short, and nothing already ended', async () => {
    const s = await setup();
    s.store.insertRelease(rec(1, 'previous'));
    s.store.insertRelease(rec(2, 'live'));
    s.store.insertRelease(rec(1, 'live', 'api'));
    s.store.insertRelease(rec(1, 'live', 'db'));
    const ev = (service: string, type: string, data?: Record<string, unknown>) =>
      s.store.appendEvent({ service, release: 1, at: 1, type, message: type, data });
    ev('web', 'plan', { what: 'rollback' });
    ev('web', 'step');
    ev('api', 'scale');
    ev('api', 'step-done');
    ev('db', 'plan', { what: 'rollback' });
    ev('db', 'live');
    const report = await s.run();
    expect(report.cutShort.sort((x, y) => x.service.localeCompare(y.service))).toEqual([
      { service: 'api', what: 'scale' },
      { service: 'web', what: 'rollback' },
    ]);
    expect(s.store.listEvents('web').at(-1)).toMatchObject({ type: 'interrupted' });
    expect(s.store.listEvents('db').at(-1)).toMatchObject({ type: 'live' });
    // the records are the truth: r2 stays live
    expect(s.router.weights('web')).toEqual({ 2: 100 });
  });

  it('routes the live release before removing what an interrupted deploy left', async () => {
    const s = await setup();
    s.store.insertRelease(rec(1, 'live'));
    s.store.insertRelease(rec(2, 'deploying'));
    await s.start('web', 1, 1);
    await s.start('web', 2, 1);
    const stop = s.runtime.stop.bind(s.runtime);
    let routedAtStop: Record<number, number> | null = null;
    s.runtime.stop = async (id, grace) => {
      routedAtStop = s.router.weights('web');
      return stop(id, grace);
    };
    await s.run();
    expect(routedAtStop).toEqual({ 1: 100 });
  });

  it('tells the caller once everything is routed, before any leftover is removed', async () => {
    const s = await setup();
    s.store.insertRelease(rec(1, 'live'));
    s.store.insertRelease(rec(2, 'deploying'));
    await s.start('web', 1, 1);
    await s.start('web', 2, 1);
    const order: string[] = [];
    const stop = s.runtime.stop.bind(s.runtime);
    s.runtime.stop = async (id, grace) => {
      order.push('stop');
      return stop(id, grace);
    };
    await reconcile({
      project: PROJECT,
      runtime: s.runtime,
      store: s.store,
      router: s.router,
      routes: new Routes(s.router, { watch: () => {} }),
      retirer: { schedule: () => {} } as unknown as Retirer,
      probe: async () => ({ ok: true, detail: 'ok' }),
      clock: systemClock,
      log: pino({ level: 'silent' }),
      routed: () => order.push(`routed ${JSON.stringify(s.router.weights('web'))}`),
    });
    expect(order).toEqual(['routed {"1":100}', 'stop']);
  });
});
