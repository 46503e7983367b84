import { failed, ShipitError } from '../domain/errors';
import { RolloutGates } from './gates';

const tick = () => new Promise((r) => setImmediate(r));

async function settled<T>(p: Promise<T>): Promise<'pending' | 'resolved' | 'rejected'> {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  await tick();
  await tick();
  return state;
}

async function rejection(p: Promise<unknown>): Promise<ShipitError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ShipitError);
    return e as ShipitError;
  }
  throw new Error('expected a rejection');
}

describe('RolloutGates', () => {
  let g: RolloutGates;
  beforeEach(() => {
    g = new RolloutGates();
    g.begin('web');
  });

  describe('manual pause', () => {
    it('waits until promote, which resolves it and answers true', async () => {
      const p = g.pause('web', 'manual', 5, () => {});
      expect(g.isPaused('web')).toBe(true);
      await new Promise((r) => setTimeout(r, 30));
      expect(await settled(p)).toBe('pending');
      expect(g.promote('web')).toBe(true);
      await expect(p).resolves.toBeUndefined();
      expect(g.isPaused('web')).toBe(false);
    });

    it('promote answers false when nothing is paused (or for another service)', async () => {
      expect(g.promote('web')).toBe(false);
      const p = g.pause('web', 'manual', 5, () => {});
      expect(g.promote('api')).toBe(false);
      expect(g.isPaused('api')).toBe(false);
      expect(g.promote('web')).toBe(true);
      await p;
      expect(g.promote('web')).toBe(false);
    });

    it('promote ends a timed pause early', async () => {
      const t0 = Date.now();
      const p = g.pause('web', 60_000, 5, () => {});
      await tick();
      expect(g.promote('web')).toBe(true);
      await p;
      expect(Date.now() - t0).toBeLessThan(1000);
    });
  });

  describe('timed pause', () => {
    it('ends by itself after about ms, ticking on the way', async () => {
      // Fake timers: on a busy machine real 10 ms ticks of a 60 ms pause may come late.
      jest.useFakeTimers();
      try {
        let ticks = 0;
        const t0 = Date.now();
        let done = false;
        const p = g.pause('web', 60, 10, () => void ticks++).then(() => (done = true));
        await jest.advanceTimersByTimeAsync(50);
        expect(done).toBe(false);
        expect(g.isPaused('web')).toBe(true);
        await jest.advanceTimersByTimeAsync(20);
        await p;
        const took = Date.now() - t0;
        expect(took).toBeGreaterThanOrEqual(55);
        expect(took).toBeLessThan(1000);
        expect(ticks).toBeGreaterThanOrEqual(3);
        expect(g.isPaused('web')).toBe(false);
      } finally {
        jest.useRealTimers();
      }
    });

    it('a 0ms pause ticks once and returns', async () => {
      let ticks = 0;
      await g.pause('web', 0, 10, () => void ticks++);
      expect(ticks).toBe(1);
    });

    it('never sleeps longer than 100ms between ticks even with a long tickMs', async () => {
      let ticks = 0;
      const p = g.pause('web', 'manual', 60_000, () => void ticks++);
      await new Promise((r) => setTimeout(r, 250));
      expect(ticks).toBeGreaterThanOrEqual(2); // with tickMs honoured, the 2nd tick would come after 60s
      g.promote('web');
      await p;
    });
  });

  describe('tick', () => {
    it('is called at once, then every tickMs', async () => {
      let ticks = 0;
      const p = g.pause('web', 'manual', 10, () => void ticks++);
      expect(ticks).toBe(1); // synchronously, before the first wait
      await new Promise((r) => setTimeout(r, 80));
      expect(ticks).toBeGreaterThanOrEqual(3);
      g.promote('web');
      await p;
    });

    it('a tick that throws fails the pause with its error and frees the gate', async () => {
      let ticks = 0;
      const err = await rejection(
        g.pause('web', 'manual', 5, () => {
          if (++ticks === 3) throw failed('canary analysis: too many errors');
        }),
      );
      expect(err.code).toBe('failed');
      expect(err.message).toBe('canary analysis: too many errors');
      expect(ticks).toBe(3);
      expect(g.isPaused('web')).toBe(false);
      expect(g.promote('web')).toBe(false);
    });

    it('a tick that throws at once fails the pause before any wait', async () => {
      const boom = new Error('boom');
      await expect(
        g.pause('web', 60_000, 5, () => {
          throw boom;
        }),
      ).rejects.toBe(boom);
    });
  });

  describe('abort', () => {
    it('rejects a pending manual pause with a "failed" error carrying the reason', async () => {
      const p = g.pause('web', 'manual', 5, () => {});
      p.catch(() => {});
      g.abort('web', 'the canary looks wrong');
      const err = await rejection(p);
      expect(err.code).toBe('failed');
      expect(err.message).toBe('the canary looks wrong');
      expect(g.isPaused('web')).toBe(false);
    });

    it('rejects a pending timed pause, with the default reason', async () => {
      const p = g.pause('web', 60_000, 5, () => {});
      p.catch(() => {});
      g.abort('web');
      const err = await rejection(p);
      expect(err.message).toBe('aborted by `shipit abort`');
    });

    it('makes check() throw, and a later pause fail at once without ticking', async () => {
      expect(() => g.check('web')).not.toThrow();
      g.abort('web', 'stop');
      expect(() => g.check('web')).toThrow(ShipitError);
      try {
        g.check('web');
      } catch (e) {
        expect(e).toMatchObject({ code: 'failed', message: 'stop' });
      }
      let ticks = 0;
      const err = await rejection(g.pause('web', 'manual', 5, () => void ticks++));
      expect(err.message).toBe('stop');
      expect(ticks).toBe(0);
      expect(g.isPaused('web')).toBe(false);
    });

    it('does not touch another service', () => {
      g.begin('api');
      g.abort('web');
      expect(() => g.check('api')).not.toThrow();
    });

    it('with no rollout in progress is a usage error', () => {
      const fresh = new RolloutGates();
      expect(() => fresh.abort('web')).toThrow(ShipitError);
      try {
        fresh.abort('web');
      } catch (e) {
        expect(e).toMatchObject({ code: 'usage' });
        expect((e as Error).message).toBe('web has no rollout in progress to abort');
      }
      // nor after the rollout ended
      g.end('web');
      expect(() => g.abort('web')).toThrow(expect.objectContaining({ code: 'usage' }));
    });

    it('end() and a new begin() clear an abort', () => {
      g.abort('web');
      g.end('web');
      expect(() => g.check('web')).not.toThrow();
      g.begin('web');
      g.abort('web');
      g.begin('web');
      expect(() => g.check('web')).not.toThrow();
    });
  });
});
