import type { Logger } from 'pino';
import type { ContainerRuntime } from '../ports/runtime';
import { EngineWatch } from './engine-watch';

/** A runtime whose ping answers or fails as the test says, or hangs until released. */
class PingControl {
  up = true;
  calls = 0;
  private gate: Promise<void> | null = null;

  /** The next pings wait until the returned function is called. */
  block(): () => void {
    let release!: () => void;
    this.gate = new Promise<void>((r) => (release = r));
    return () => {
      this.gate = null;
      release();
    };
  }

  readonly runtime = {
    ping: async () => {
      this.calls++;
      if (this.gate) await this.gate;
      if (!this.up) throw new Error('connect ENOENT /var/run/docker.sock');
    },
  } as unknown as ContainerRuntime;
}

function logger() {
  const log = { warn: jest.fn(), error: jest.fn(), info: jest.fn() };
  return { log, logger: log as unknown as Logger };
}

function setup(onBack: () => Promise<void> = async () => undefined, intervalMs?: number) {
  const ping = new PingControl();
  const { log, logger: l } = logger();
  const back = jest.fn(onBack);
  const watch = new EngineWatch({ runtime: ping.runtime, log: l, onBack: back, intervalMs });
  return { ping, log, back, watch };
}

afterEach(() => {
  jest.useRealTimers();
});

describe('EngineWatch', () => {
  it('starts up, and stays quiet while the engine answers', async () => {
    const s = setup();
    expect(s.watch.state().up).toBe(true);
    await s.watch.tick();
    await s.watch.tick();
    expect(s.ping.calls).toBe(2);
    expect(s.watch.state().up).toBe(true);
    expect(s.back).not.toHaveBeenCalled();
    expect(s.log.error).not.toHaveBeenCalled();
    expect(s.log.warn).not.toHaveBeenCalled();
  });

  it('logs the engine going away once, however many pings fail', async () => {
    const s = setup();
    s.ping.up = false;
    await s.watch.tick();
    await s.watch.tick();
    await s.watch.tick();
    expect(s.watch.state().up).toBe(false);
    expect(s.log.error).toHaveBeenCalledTimes(1);
    expect(s.log.error).toHaveBeenCalledWith(
      { err: 'connect ENOENT /var/run/docker.sock' },
      'the Docker engine does not answer',
    );
    expect(s.back).not.toHaveBeenCalled();
  });

  it('calls onBack once when the engine answers again, and logs how long it was down', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const s = setup();
    s.ping.up = false;
    await s.watch.tick();
    jest.setSystemTime(1_004_500);
    await s.watch.tick();
    s.ping.up = true;
    jest.setSystemTime(1_007_000);
    await s.watch.tick();
    await s.watch.tick();
    await s.watch.tick();
    expect(s.back).toHaveBeenCalledTimes(1);
    expect(s.log.warn).toHaveBeenCalledTimes(1);
    expect(s.log.warn).toHaveBeenCalledWith({ downMs: 7000 }, 'the Docker engine answers again');
    expect(s.watch.state()).toEqual({ up: true, since: 1_007_000 });
  });

  it('calls onBack again after each further outage', async () => {
    const s = setup();
    for (let i = 0; i < 3; i++) {
      s.ping.up = false;
      await s.watch.tick();
      s.ping.up = true;
      await s.watch.tick();
    }
    expect(s.back).toHaveBeenCalledTimes(3);
    expect(s.log.error).toHaveBeenCalledTimes(3);
  });

  it('logs a failing onBack instead of throwing, and stays up', async () => {
    const s = setup(async () => {
      throw new Error('resync broke');
    });
    s.ping.up = false;
    await s.watch.tick();
    s.ping.up = true;
    await expect(s.watch.tick()).resolves.toBeUndefined();
    expect(s.back).toHaveBeenCalledTimes(1);
    expect(s.log.error).toHaveBeenLastCalledWith(
      { err: 'resync broke' },
      'resync after the engine came back failed',
    );
    expect(s.watch.state().up).toBe(true);
    // not retried on the next tick: the engine did not go away again
    await s.watch.tick();
    expect(s.back).toHaveBeenCalledTimes(1);
  });

  it('moves since only when the state changes', async () => {
    jest.useFakeTimers({ now: 5_000 });
    const s = setup();
    expect(s.watch.state()).toEqual({ up: true, since: 5_000 });
    jest.setSystemTime(6_000);
    await s.watch.tick();
    expect(s.watch.state()).toEqual({ up: true, since: 5_000 });
    s.ping.up = false;
    jest.setSystemTime(7_000);
    await s.watch.tick();
    expect(s.watch.state()).toEqual({ up: false, since: 7_000 });
    jest.setSystemTime(9_000);
    await s.watch.tick();
    expect(s.watch.state()).toEqual({ up: false, since: 7_000 });
    s.ping.up = true;
    jest.setSystemTime(12_000);
    await s.watch.tick();
    expect(s.watch.state()).toEqual({ up: true, since: 12_000 });
  });

  it('skips a tick while the previous one is still pinging (no overlap)', async () => {
    const s = setup();
    s.ping.up = false;
    await s.watch.tick();
    s.ping.up = true;
    const release = s.ping.block();
    const first = s.watch.tick();
    const second = s.watch.tick();
    const third = s.watch.tick();
    await second;
    await third;
    expect(s.ping.calls).toBe(2); // the down tick, then only the first of the three
    release();
    await first;
    expect(s.back).toHaveBeenCalledTimes(1);
    // busy clears afterwards, also after a failed ping
    s.ping.up = false;
    await s.watch.tick();
    await s.watch.tick();
    expect(s.ping.calls).toBe(4);
  });

  it('counts onBack as part of the tick: no tick runs while it is in progress', async () => {
    let finish!: () => void;
    const s = setup(() => new Promise<void>((r) => (finish = r)));
    s.ping.up = false;
    await s.watch.tick();
    s.ping.up = true;
    const back = s.watch.tick();
    await new Promise((r) => setImmediate(r));
    expect(s.back).toHaveBeenCalledTimes(1);
    const calls = s.ping.calls;
    await s.watch.tick();
    expect(s.ping.calls).toBe(calls);
    finish();
    await back;
    await s.watch.tick();
    expect(s.ping.calls).toBe(calls + 1);
  });

  it('ticks every interval after start, and no more after stop', async () => {
    jest.useFakeTimers();
    const s = setup(undefined, 250);
    s.watch.start();
    expect(s.ping.calls).toBe(0);
    await jest.advanceTimersByTimeAsync(250);
    expect(s.ping.calls).toBe(1);
    s.ping.up = false;
    await jest.advanceTimersByTimeAsync(500);
    expect(s.ping.calls).toBe(3);
    expect(s.watch.state().up).toBe(false);
    s.ping.up = true;
    await jest.advanceTimersByTimeAsync(250);
    expect(s.back).toHaveBeenCalledTimes(1);
    s.watch.stop();
    await jest.advanceTimersByTimeAsync(2000);
    expect(s.ping.calls).toBe(4);
    s.watch.stop(); // twice is harmless
    expect(jest.getTimerCount()).toBe(0);
  });

  it('ticks every second by default, on a timer that does not hold the process open', async () => {
    jest.useFakeTimers();
    const setIntervalSpy = jest.spyOn(global, 'setInterval');
    const s = setup();
    s.watch.start();
    expect(setIntervalSpy).toHaveBeenCalledWith(expect.any(Function), 1000);
    const timer = setIntervalSpy.mock.results[0]!.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    await jest.advanceTimersByTimeAsync(999);
    expect(s.ping.calls).toBe(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(s.ping.calls).toBe(1);
    s.watch.stop();
    setIntervalSpy.mockRestore();
  });

  it('stop before start does nothing', () => {
    const s = setup();
    expect(() => s.watch.stop()).not.toThrow();
  });
});
