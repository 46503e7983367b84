import { PassThrough } from 'node:stream';
import { runtimeError } from '../domain/errors';
import type { RuntimeLogLine } from '../ports/runtime';
import { muxFrame } from './demux';
import { followServiceLogs, serviceLogs } from './swarm-logs';
import type { SwarmApi } from './swarm-api';

/** The narrow part of SwarmApi the log functions use: stream() and translate(). */
function fakeApi(open: () => Promise<NodeJS.ReadableStream>) {
  const calls: { path: string; query: Record<string, unknown> }[] = [];
  const api = {
    stream: jest.fn(async (path: string, query: Record<string, unknown>) => {
      calls.push({ path, query });
      return open();
    }),
    translate: jest.fn((e: unknown) => runtimeError(`translated: ${(e as Error).message}`)),
  } as unknown as SwarmApi;
  return { api, calls };
}

const httpErr = (statusCode: number, message = 'HTTP error') =>
  Object.assign(new Error(message), { statusCode });

const T1 = '2024-05-01T10:00:00.123456789Z';
const T2 = '2024-05-01T10:00:01Z';
const NS1 = `${Date.parse('2024-05-01T10:00:00Z') / 1000}.123456789`;
const NS2 = `${Date.parse('2024-05-01T10:00:01Z') / 1000}.000000000`;

describe('serviceLogs', () => {
  it('asks for the last `tail` lines without following, and demuxes stdout and stderr in order', async () => {
    const s = new PassThrough();
    const { api, calls } = fakeApi(async () => s);
    const p = serviceLogs(api, 'svc1', 12.7);
    await new Promise((r) => setImmediate(r));
    s.write(Buffer.concat([muxFrame(1, 'out 1\n'), muxFrame(2, 'err 1\n')]));
    s.end(muxFrame(1, 'out 2\n'));
    await expect(p).resolves.toBe('out 1\nerr 1\nout 2\n');
    expect(calls).toEqual([
      {
        path: '/services/svc1/logs',
        query: { stdout: true, stderr: true, follow: false, tail: 12 },
      },
    ]);
  });

  it('clamps a negative tail to 0', async () => {
    const s = new PassThrough();
    const { api, calls } = fakeApi(async () => s);
    const p = serviceLogs(api, 'svc1', -5);
    await new Promise((r) => setImmediate(r));
    s.end();
    await expect(p).resolves.toBe('');
    expect(calls[0].query.tail).toBe(0);
  });

  it('translates a failure to open the stream, and rejects on a stream error', async () => {
    const { api } = fakeApi(async () => {
      throw httpErr(500, 'boom');
    });
    await expect(serviceLogs(api, 'svc1', 10)).rejects.toMatchObject({
      code: 'runtime',
      message: 'translated: boom',
    });
    const s = new PassThrough();
    const { api: api2 } = fakeApi(async () => s);
    const p = serviceLogs(api2, 'svc1', 10);
    await new Promise((r) => setImmediate(r));
    s.destroy(new Error('socket hang up'));
    await expect(p).rejects.toThrow('socket hang up');
  });
});

describe('followServiceLogs', () => {
  afterEach(() => jest.useRealTimers());

  it('without follow: reads what is recorded with timestamps, lines whole across chunks, then ends', async () => {
    const s = new PassThrough();
    const { api, calls } = fakeApi(async () => s);
    const lines: RuntimeLogLine[] = [];
    const f = followServiceLogs(
      api,
      'svc1',
      { follow: false },
      (l) => lines.push(l),
      async () => {
        throw new Error('gone() is not asked without follow');
      },
    );
    await new Promise((r) => setImmediate(r));
    const frames = Buffer.concat([
      muxFrame(1, `${T1} hello wo`),
      muxFrame(2, `${T2} oops\r\n`),
      muxFrame(1, `${T2} rld\n`),
      muxFrame(1, `${T2} last, no newline`),
    ]);
    // Split in the middle of a frame header, to check frames are reassembled.
    s.write(frames.subarray(0, 5));
    s.write(frames.subarray(5));
    s.end();
    await f.done;
    expect(calls[0]).toEqual({
      path: '/services/svc1/logs',
      query: { stdout: true, stderr: true, follow: false, timestamps: true },
    });
    expect(lines).toEqual([
      { stream: 'stderr', ts: NS2, text: 'oops' },
      // A continuation's own timestamp is removed; the line keeps its first one.
      { stream: 'stdout', ts: NS1, text: 'hello world' },
      { stream: 'stdout', ts: NS2, text: 'last, no newline' },
    ]);
  });

  it('passes `since` without leading zeros of the epoch seconds', async () => {
    const s = new PassThrough();
    const { api, calls } = fakeApi(async () => s);
    const f = followServiceLogs(
      api,
      'svc1',
      { follow: false, since: '0001700000000.000000042' },
      () => undefined,
      async () => false,
    );
    await new Promise((r) => setImmediate(r));
    s.end();
    await f.done;
    expect(calls[0].query.since).toBe('1700000000.000000042');
  });

  it('a 404 means the service is gone; other failures are translated', async () => {
    const { api } = fakeApi(async () => {
      throw httpErr(404);
    });
    const f = followServiceLogs(
      api,
      'svc9',
      { follow: true },
      () => undefined,
      async () => false,
    );
    await expect(f.done).rejects.toMatchObject({
      code: 'runtime',
      message: 'service svc9 is gone',
    });
    const { api: api2 } = fakeApi(async () => {
      throw httpErr(500, 'rpc');
    });
    const g = followServiceLogs(
      api2,
      'svc9',
      { follow: true },
      () => undefined,
      async () => false,
    );
    await expect(g.done).rejects.toMatchObject({ message: 'translated: rpc' });
  });

  it('a stream error while reading is translated and rejects done', async () => {
    const s = new PassThrough();
    const { api } = fakeApi(async () => s);
    const f = followServiceLogs(
      api,
      'svc1',
      { follow: false },
      () => undefined,
      async () => false,
    );
    await new Promise((r) => setImmediate(r));
    s.destroy(new Error('reset'));
    await expect(f.done).rejects.toMatchObject({ message: 'translated: reset' });
  });

  it('with follow: ends shortly after gone() says the task stopped, keeping lines sent meanwhile', async () => {
    jest.useFakeTimers();
    const s = new PassThrough();
    const { api, calls } = fakeApi(async () => s);
    let isGone = false;
    const gone = jest.fn(async () => isGone);
    const lines: string[] = [];
    const f = followServiceLogs(api, 'svc1', { follow: true }, (l) => lines.push(l.text), gone);
    let settled = false;
    void f.done.then(() => (settled = true));
    await jest.advanceTimersByTimeAsync(0);
    expect(calls[0].query.follow).toBe(true);
    s.write(muxFrame(1, `${T1} one\n`));
    await jest.advanceTimersByTimeAsync(3000);
    expect(gone).toHaveBeenCalledTimes(3);
    expect(settled).toBe(false); // still running: keep following

    isGone = true;
    await jest.advanceTimersByTimeAsync(1000);
    // The grace: a last line that was on its way still comes.
    s.write(muxFrame(1, `${T2} two\n`));
    await jest.advanceTimersByTimeAsync(100);
    expect(settled).toBe(false);
    await jest.advanceTimersByTimeAsync(500);
    expect(settled).toBe(true);
    expect(s.destroyed).toBe(true);
    expect(lines).toEqual(['one', 'two']);
    const asked = gone.mock.calls.length;
    await jest.advanceTimersByTimeAsync(5000);
    expect(gone).toHaveBeenCalledTimes(asked); // no polling after the end
  });

  it('keeps following when gone() fails (manager unreachable)', async () => {
    jest.useFakeTimers();
    const s = new PassThrough();
    const { api } = fakeApi(async () => s);
    const gone = jest.fn(async (): Promise<boolean> => {
      throw new Error('unreachable');
    });
    const f = followServiceLogs(api, 'svc1', { follow: true }, () => undefined, gone);
    let settled = false;
    void f.done.then(() => (settled = true));
    await jest.advanceTimersByTimeAsync(2500);
    expect(gone).toHaveBeenCalledTimes(2);
    expect(settled).toBe(false);
    f.stop();
    await f.done;
  });

  it('stop() ends the stream, delivers nothing more and drops a partial last line', async () => {
    const s = new PassThrough();
    const { api } = fakeApi(async () => s);
    const lines: string[] = [];
    const f = followServiceLogs(
      api,
      'svc1',
      { follow: true },
      (l) => lines.push(l.text),
      async () => false,
    );
    await new Promise((r) => setImmediate(r));
    s.write(muxFrame(1, `${T1} whole\n${T1} part`));
    await new Promise((r) => setImmediate(r));
    f.stop();
    await f.done;
    expect(s.destroyed).toBe(true);
    expect(lines).toEqual(['whole']);
  });

  it('stop() before the stream is open destroys it as soon as it comes', async () => {
    const s = new PassThrough();
    let open!: () => void;
    const { api } = fakeApi(() => new Promise((r) => (open = () => r(s))));
    const f = followServiceLogs(
      api,
      'svc1',
      { follow: true },
      () => undefined,
      async () => false,
    );
    await new Promise((r) => setImmediate(r));
    f.stop();
    open();
    await f.done;
    expect(s.destroyed).toBe(true);
  });

  it('pause() holds delivery until resume(), also when asked before the stream opened', async () => {
    const s = new PassThrough();
    let open!: () => void;
    const { api } = fakeApi(() => new Promise((r) => (open = () => r(s))));
    const lines: string[] = [];
    const f = followServiceLogs(
      api,
      'svc1',
      { follow: false },
      (l) => lines.push(l.text),
      async () => false,
    );
    f.pause(); // before the stream exists
    open();
    await new Promise((r) => setImmediate(r));
    s.write(muxFrame(1, `${T1} a\n`));
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual([]);
    f.resume();
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual(['a']);
    f.pause();
    s.write(muxFrame(1, `${T1} b\n`));
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual(['a']);
    f.resume();
    s.end();
    await f.done;
    expect(lines).toEqual(['a', 'b']);
  });
  it('after stop(), late data is not delivered and an abort error does not fail done', async () => {
    const s = new PassThrough();
    // A socket that, once aborted, still flushes a chunk and then reports the abort as an error.
    s.destroy = () => {
      setImmediate(() => {
        s.emit('data', muxFrame(1, `${T1} late\n`));
        s.emit('error', new Error('aborted'));
      });
      return s;
    };
    const { api } = fakeApi(async () => s);
    const lines: string[] = [];
    const f = followServiceLogs(
      api,
      'svc1',
      { follow: true },
      (l) => lines.push(l.text),
      async () => false,
    );
    await new Promise((r) => setImmediate(r));
    f.stop();
    await expect(f.done).resolves.toBeUndefined();
    expect(lines).toEqual([]);
    expect(api.translate).not.toHaveBeenCalled();
  });
});
