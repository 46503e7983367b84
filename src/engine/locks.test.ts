import { ShipitError } from '../domain/errors';
import { ServiceLocks } from './locks';

describe('ServiceLocks', () => {
  it('refuses a second holder of the same service with a conflict naming the first', () => {
    const locks = new ServiceLocks();
    const unlock = locks.acquire('web', 'a deploy');
    expect(locks.holder('web')).toBe('a deploy');
    let err: unknown;
    try {
      locks.acquire('web', 'a rollback');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ShipitError);
    expect(err).toMatchObject({ code: 'conflict', message: 'web: a deploy is in progress' });
    expect((err as ShipitError).httpStatus).toBe(409);
    expect((err as ShipitError).hint).toContain('shipit status web');
    // the failed attempt did not replace the holder
    expect(locks.holder('web')).toBe('a deploy');
    unlock();
    expect(locks.holder('web')).toBeUndefined();
  });

  it('locks services independently', () => {
    const locks = new ServiceLocks();
    const a = locks.acquire('web', 'a deploy');
    const b = locks.acquire('api', 'a deploy');
    expect(locks.holder('api')).toBe('a deploy');
    a();
    b();
  });

  it('unlock is idempotent: a stale unlock does not release a later holder', () => {
    const locks = new ServiceLocks();
    const first = locks.acquire('web', 'a deploy');
    first();
    const second = locks.acquire('web', 'a rollback');
    first();
    expect(locks.holder('web')).toBe('a rollback');
    expect(() => locks.acquire('web', 'another')).toThrow(ShipitError);
    second();
    expect(() => locks.acquire('web', 'another')()).not.toThrow();
  });
});
