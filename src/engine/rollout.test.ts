import type { DeployEvent } from '../domain/types';
import { Rollout } from './rollout';

const ev = (type: string, message = type): DeployEvent => ({
  service: 'web',
  release: 7,
  at: 1,
  type,
  message,
});

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function rollout() {
  const r = new Rollout<string>(7);
  const done = deferred<string>();
  r.done = done.promise;
  return { r, done };
}

const flush = () => new Promise((res) => setImmediate(res));

describe('Rollout', () => {
  it('follow resolves with the outcome when the rollout completes', async () => {
    const { r, done } = rollout();
    const seen: string[] = [];
    const f = r.follow((e) => seen.push(e.type));
    r.emit(ev('step'));
    done.resolve('ok');
    await expect(f).resolves.toBe('ok');
    expect(seen).toEqual(['step']);
  });

  it('follow rejects with the rollout error', async () => {
    const { r, done } = rollout();
    const f = r.follow(() => {});
    done.reject(new Error('canary analysis: error_rate 0.5'));
    await expect(f).rejects.toThrow('canary analysis: error_rate 0.5');
  });

  it('follow resolves at a "paused" event with the release and the message; the rollout goes on', async () => {
    const { r, done } = rollout();
    const seen: string[] = [];
    const f = r.follow((e) => seen.push(e.type));
    r.emit(ev('step'));
    r.emit(ev('paused', 'r7 waits for `shipit promote web`'));
    await expect(f).resolves.toEqual({
      paused: true,
      release: 7,
      message: 'r7 waits for `shipit promote web`',
    });
    expect(r.lastPause).toEqual({
      paused: true,
      release: 7,
      message: 'r7 waits for `shipit promote web`',
    });
    // the sink saw the pause itself, and nothing after the follow returned
    r.emit(ev('step', 'later'));
    expect(seen).toEqual(['step', 'paused']);
    done.resolve('ok');
    await expect(r.done).resolves.toBe('ok');
  });

  it('forwards events only while following; a second follower gets the rest', async () => {
    const { r, done } = rollout();
    const first: string[] = [];
    const second: string[] = [];
    const f1 = r.follow((e) => first.push(e.message));
    r.emit(ev('step', 'a'));
    r.emit(ev('paused', 'p1'));
    await f1;
    r.emit(ev('info', 'nobody follows'));
    const f2 = r.follow((e) => second.push(e.message));
    r.emit(ev('step', 'b'));
    r.emit(ev('live', 'c'));
    done.resolve('out');
    await expect(f2).resolves.toBe('out');
    r.emit(ev('info', 'after the end'));
    expect(first).toEqual(['a', 'p1']);
    expect(second).toEqual(['b', 'c']);
  });

  it('every follower waiting is released at the same pause', async () => {
    const { r } = rollout();
    const a = r.follow(() => {});
    const b = r.follow(() => {});
    r.emit(ev('paused', 'hold'));
    await expect(a).resolves.toMatchObject({ paused: true, message: 'hold' });
    await expect(b).resolves.toMatchObject({ paused: true, message: 'hold' });
  });

  it('a follow started after a pause waits for the next pause (or the end)', async () => {
    const { r, done } = rollout();
    r.emit(ev('paused', 'first'));
    let state = 'pending';
    const f = r.follow(() => {}).then((v) => (state = JSON.stringify(v)));
    await flush();
    expect(state).toBe('pending');
    r.emit(ev('step'));
    r.emit(ev('paused', 'second'));
    await f;
    expect(JSON.parse(state)).toMatchObject({ message: 'second' });
    done.resolve('x');
  });

  it('lastPause is set by "paused", kept by other events and cleared by the next "step"', () => {
    const { r } = rollout();
    expect(r.lastPause).toBeNull();
    r.emit(ev('paused', 'hold'));
    r.emit(ev('analysis'));
    r.emit(ev('info'));
    expect(r.lastPause?.message).toBe('hold');
    r.emit(ev('step'));
    expect(r.lastPause).toBeNull();
  });

  it('listen / unlisten add and remove a sink without following', () => {
    const { r } = rollout();
    const seen: string[] = [];
    const sink = (e: DeployEvent) => seen.push(e.message);
    r.listen(sink);
    r.listen(sink); // a set: once
    r.emit(ev('info', 'one'));
    r.unlisten(sink);
    r.emit(ev('info', 'two'));
    expect(seen).toEqual(['one']);
    expect(r.release).toBe(7);
  });
});
