import pino from 'pino';
import type { ContainerInfo } from '../domain/types';
import type { LogStore } from '../ports/logs';
import type { ContainerSpec, FollowLogsOptions, LogFollow, RuntimeLogLine } from '../ports/runtime';
import { SqliteStore } from '../store/sqlite';
import { FakeRuntime } from '../testing/fake-runtime';
import { LogCollector, type LogCollectorOptions } from './logs';
import type { LogLineOut, LogRequest } from './log-query';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(what: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

const spec = (over: Partial<ContainerSpec> = {}): ContainerSpec => ({
  project: 'p',
  service: 'web',
  release: 1,
  index: 0,
  image: 'app:1',
  port: 8080,
  env: {},
  ...over,
});

describe('LogCollector', () => {
  let store: SqliteStore;
  let rt: FakeRuntime;
  const collectors: LogCollector[] = [];

  const collector = (over: Partial<LogCollectorOptions> = {}, logStore: LogStore = store.logs) => {
    const c = new LogCollector({
      project: 'p',
      runtime: rt,
      store: logStore,
      log: silent,
      retentionMs: 7 * 86_400_000,
      maxLines: 1_000_000,
      flushMs: 10,
      ...over,
    });
    collectors.push(c);
    return c;
  };
  const stored = () => store.logs.tailLogs({}, 10_000);
  const texts = () => stored().map((e) => e.text);

  beforeEach(() => {
    store = SqliteStore.openMemory();
    rt = new FakeRuntime({ images: ['app:1'] });
  });
  afterEach(async () => {
    for (const c of collectors.splice(0)) await c.stop();
    store.close();
  });

  it('follows running containers from start and containers started later, tagging each line', async () => {
    const a = await rt.start(spec());
    rt.writeLog(a.id, 'before start');
    const c = collector();
    c.start();
    await c.ready;
    rt.writeLog(a.id, 'plain on stderr', 'stderr');
    rt.writeLog(a.id, '{"level":40,"time":1700000000000,"msg":"disk almost full","pct":91}');
    const b = await rt.start(spec({ release: 2 }));
    await until(() => c.following().includes(b.id));
    rt.writeLog(b.id, 'from r2');
    await until(() => stored().length === 4);
    const rows = stored();
    expect(rows.map((e) => [e.container, e.release, e.stream, e.level, e.msg])).toEqual([
      ['p-web-r1-0', 1, 'stdout', null, 'before start'],
      ['p-web-r1-0', 1, 'stderr', null, 'plain on stderr'],
      ['p-web-r1-0', 1, 'stdout', 'warn', 'disk almost full'],
      ['p-web-r2-0', 2, 'stdout', null, 'from r2'],
    ]);
    expect(rows[2].text).toContain('"pct":91');
    for (const e of rows) {
      expect(e.service).toBe('web');
      expect(e.tsNs).toMatch(/^\d{10}\.\d{9}$/);
      expect(Math.abs(e.ts - Date.now())).toBeLessThan(10_000);
    }
  });

  it('stores in batches: after flushMs, or at once when flushLines are pending', async () => {
    const a = await rt.start(spec());
    const appends: number[] = [];
    const counting: LogStore = Object.assign(Object.create(store.logs) as LogStore, {
      appendLogs: (...args: Parameters<LogStore['appendLogs']>) => {
        appends.push(args[0].length);
        store.logs.appendLogs(...args);
      },
    });
    const c = collector({ flushMs: 60_000, flushLines: 50 }, counting);
    c.start();
    await c.ready;
    for (let i = 0; i < 120; i++) rt.writeLog(a.id, `line ${i}`);
    expect(appends).toEqual([50, 50]);
    c.flush();
    expect(appends).toEqual([50, 50, 20]);
    expect(texts()).toHaveLength(120);

    const quick = collector({ flushMs: 20 }, counting);
    await c.stop();
    quick.start();
    await quick.ready;
    rt.writeLog(a.id, 'soon');
    await sleep(5);
    expect(texts()).not.toContain('soon');
    await until(() => texts().includes('soon'), 1000);
  });

  it('stores what is pending when stopped', async () => {
    const a = await rt.start(spec());
    const c = collector({ flushMs: 60_000 });
    c.start();
    await c.ready;
    rt.writeLog(a.id, 'pending 1\npending 2');
    expect(texts()).toEqual([]);
    await c.stop();
    expect(texts()).toEqual(['pending 1', 'pending 2']);
  });

  it('slows down a flood: at most maxLinesPerSec taken, the rest later, none lost', async () => {
    const a = await rt.start(spec());
    const quiet = await rt.start(spec({ index: 1 }));
    const c = collector({ maxLinesPerSec: 1000, flushLines: 10_000 });
    c.start();
    await c.ready;
    const t0 = Date.now();
    for (let i = 1; i <= 500; i++) rt.writeLog(a.id, `flood ${i}`);
    c.flush();
    // One 100 ms window's budget was taken; the engine (here the fake) holds the rest.
    expect(texts()).toHaveLength(100);
    rt.writeLog(quiet.id, 'quiet line');
    await until(() => texts().length === 501, 5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    const flood = stored().filter((e) => e.container === 'p-web-r1-0');
    expect(flood.map((e) => e.text)).toEqual(
      Array.from({ length: 500 }, (_, i) => `flood ${i + 1}`),
    );
    expect(texts()).toContain('quiet line');
  });

  it('catches up after a restart: lines missed while down are stored once, none twice', async () => {
    const a = await rt.start(spec());
    const gone = await rt.start(spec({ index: 1 }));
    // First daemon: stores 3 lines, then dies with one line not yet stored.
    let crashed = false;
    const crashing: LogStore = Object.assign(Object.create(store.logs) as LogStore, {
      appendLogs: (...args: Parameters<LogStore['appendLogs']>) => {
        if (!crashed) store.logs.appendLogs(...args);
      },
    });
    const first = collector({ flushMs: 60_000 }, crashing);
    first.start();
    await first.ready;
    rt.writeLog(a.id, 'a1\na2');
    rt.writeLog(gone.id, 'g1');
    first.flush();
    rt.writeLog(a.id, 'a3 lost by the crash, caught up later');
    crashed = true;
    await first.stop();

    // While down: more output, and a container that stops (caught up once, not followed).
    rt.writeLog(a.id, 'a4 while down');
    rt.writeLog(gone.id, 'g2 while down');
    rt.kill(gone.id, 0);
    const dead = await rt.start(spec({ index: 2 }));
    rt.writeLog(dead.id, 'd1 never seen before');
    rt.kill(dead.id, 0);

    const second = collector();
    second.start();
    await second.ready;
    await until(() => texts().length === 7);
    expect(second.following()).toEqual([a.id]);
    rt.writeLog(a.id, 'a5 live');
    await until(() => texts().includes('a5 live'));
    const byContainer = (name: string) =>
      stored()
        .filter((e) => e.container === name)
        .map((e) => e.text);
    expect(byContainer('p-web-r1-0')).toEqual([
      'a1',
      'a2',
      'a3 lost by the crash, caught up later',
      'a4 while down',
      'a5 live',
    ]);
    expect(byContainer('p-web-r1-1')).toEqual(['g1', 'g2 while down']);
    expect(byContainer('p-web-r1-2')).toEqual(['d1 never seen before']);
    // The engine was asked only for what was missing.
    const since = rt.callsOf('followLogs').map((args) => [args[0], args[1]]);
    expect(since).toContainEqual([a.id, { follow: true, since: stored()[1].tsNs }]);
    expect(since).toContainEqual([dead.id, { follow: false }]);

    // A third start with nothing new stores nothing more.
    await second.stop();
    const third = collector();
    third.start();
    await third.ready;
    await sleep(50);
    expect(texts()).toHaveLength(8);
  });

  it('skips exactly the stored lines that share the last timestamp', async () => {
    // An engine whose clock gave three lines the same nanosecond.
    const sec = Math.floor(Date.now() / 1000);
    const ts = `${sec}.000000001`;
    const lines: RuntimeLogLine[] = [
      { stream: 'stdout', ts: `${sec}.000000000`, text: 'zero' },
      { stream: 'stdout', ts, text: 'one' },
      { stream: 'stderr', ts, text: 'two' },
      { stream: 'stdout', ts, text: 'three' },
      { stream: 'stdout', ts: `${sec}.000000002`, text: 'four' },
    ];
    let visible = 3;
    class SameTickRuntime extends FakeRuntime {
      override followLogs(
        id: string,
        opts: FollowLogsOptions,
        onLine: (l: RuntimeLogLine) => void,
      ): LogFollow {
        const done = (async () => {
          await sleep(1);
          for (const l of lines.slice(0, visible)) if (!opts.since || l.ts >= opts.since) onLine(l);
        })();
        return { stop: () => undefined, pause: () => undefined, resume: () => undefined, done };
      }
    }
    rt = new SameTickRuntime({ images: ['app:1'] });
    const info: ContainerInfo = await rt.start(spec());
    rt.kill(info.id, 0);
    const first = collector();
    first.start();
    await first.ready;
    await until(() => texts().length === 3);
    await first.stop();
    expect(store.logs.logCursors()).toEqual([{ containerId: info.id, ts, n: 2 }]);
    visible = 5;
    const second = collector();
    second.start();
    await second.ready;
    await until(() => texts().length === 5);
    await sleep(30);
    expect(texts()).toEqual(['zero', 'one', 'two', 'three', 'four']);
  });

  it('forgets the cursor of a container when it is removed', async () => {
    const a = await rt.start(spec());
    const b = await rt.start(spec({ index: 1 }));
    const c = collector();
    c.start();
    await c.ready;
    rt.writeLog(a.id, 'from a');
    rt.writeLog(b.id, 'from b');
    await until(() => store.logs.logCursors().length === 2);
    await rt.remove(a.id);
    await until(() => store.logs.logCursors().length === 1);
    expect(store.logs.logCursors().map((k) => k.containerId)).toEqual([b.id]);
    expect(texts()).toEqual(['from a', 'from b']);
  });

  it('forgets the cursors of containers that no longer exist', async () => {
    const a = await rt.start(spec());
    rt.writeLog(a.id, 'x');
    const c = collector();
    c.start();
    await until(() => texts().length === 1);
    await c.stop();
    expect(store.logs.logCursors().map((k) => k.containerId)).toEqual([a.id]);
    await rt.remove(a.id);
    const again = collector();
    again.start();
    await again.ready;
    expect(store.logs.logCursors()).toEqual([]);
    expect(texts()).toEqual(['x']);
  });

  it('enforces retention by age and line count at start and periodically', async () => {
    let now = Date.now();
    const clock = { now: () => now, sleep };
    const a = await rt.start(spec());
    const c = collector({ retentionMs: 60_000, maxLines: 3, pruneEveryMs: 20, clock });
    c.start();
    await c.ready;
    for (let i = 1; i <= 5; i++) rt.writeLog(a.id, `l${i}`);
    c.flush();
    await until(() => texts().length === 3);
    expect(texts()).toEqual(['l3', 'l4', 'l5']);
    now += 61_000;
    await until(() => texts().length === 0);
  });

  describe('lines()', () => {
    const req = (over: Partial<LogRequest> = {}): LogRequest => ({
      access: false,
      follow: false,
      limit: 100,
      ...over,
    });
    const drain = async (it: AsyncIterable<LogLineOut>) => {
      const out: LogLineOut[] = [];
      for await (const l of it) out.push(l);
      return out;
    };

    it('gives the newest matching lines, newest last, in the API shape', async () => {
      const a = await rt.start(spec());
      const b = await rt.start(spec({ service: 'api' }));
      const c = collector();
      c.start();
      await c.ready;
      for (let i = 1; i <= 4; i++) rt.writeLog(a.id, `web ${i}`);
      rt.writeLog(b.id, 'api 1', 'stderr');
      c.flush();
      const signal = new AbortController().signal;
      const all = await drain(c.lines(req(), signal));
      expect(all.map((l) => l.msg)).toEqual(['web 1', 'web 2', 'web 3', 'web 4', 'api 1']);
      expect(all[4]).toEqual({
        id: 5,
        ts: expect.any(Number),
        time: new Date(all[4].ts).toISOString(),
        service: 'api',
        release: 1,
        container: 'p-api-r1-0',
        stream: 'stderr',
        level: null,
        msg: 'api 1',
      });
      const two = await drain(c.lines(req({ service: 'web', limit: 2 }), signal));
      expect(two.map((l) => l.msg)).toEqual(['web 3', 'web 4']);
      const grep = await drain(c.lines(req({ grep: '[13]$' }), signal));
      expect(grep.map((l) => l.msg)).toEqual(['web 1', 'web 3', 'api 1']);
    });

    it('follows: backlog, then new matching lines as they are stored, until aborted', async () => {
      const a = await rt.start(spec());
      const c = collector({ flushMs: 10 });
      c.start();
      await c.ready;
      rt.writeLog(a.id, 'old 1\nold 2\nskip me');
      c.flush();
      const ac = new AbortController();
      const got: string[] = [];
      const done = (async () => {
        for await (const l of c.lines(
          req({ follow: true, limit: 1, grep: '^(old|new)' }),
          ac.signal,
        ))
          got.push(l.msg);
      })();
      await until(() => got.length === 1);
      expect(got).toEqual(['old 2']);
      const t0 = Date.now();
      rt.writeLog(a.id, 'skip me too\nnew 1');
      await until(() => got.length === 2);
      expect(Date.now() - t0).toBeLessThan(500);
      for (let i = 2; i <= 700; i++) rt.writeLog(a.id, `new ${i}`);
      await until(() => got.length === 701);
      expect(got.slice(-2)).toEqual(['new 699', 'new 700']);
      ac.abort();
      await done;
      rt.writeLog(a.id, 'new after abort');
      c.flush();
      expect(got).toHaveLength(701);
    });
  });
});
