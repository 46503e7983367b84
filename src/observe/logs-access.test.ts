import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccessLogReader, type AccessLine } from './logs-access';
import type { LogRequest } from './log-query';

const T0 = 1_700_000_000_000;
const line = (i: number, over: Record<string, unknown> = {}) =>
  `${JSON.stringify({
    level: 30,
    time: T0 + i,
    service: 'web',
    release: 1,
    method: 'GET',
    url: `/item/${i}`,
    status: 200,
    ...over,
  })}\n`;

describe('AccessLogReader', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-access-'));
    file = path.join(dir, 'access.log');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const req = (over: Partial<LogRequest> = {}): LogRequest => ({
    access: true,
    follow: false,
    limit: 100,
    ...over,
  });
  const read = async (q: LogRequest) => {
    const out: AccessLine[] = [];
    for await (const l of new AccessLogReader(file).lines(q, new AbortController().signal))
      out.push(l);
    return out;
  };

  it('returns nothing when the file does not exist yet', async () => {
    expect(await read(req())).toEqual([]);
  });

  it('gives the newest matching lines oldest first, across 64 KiB chunks', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) lines.push(line(i, i % 3 === 0 ? { status: 500 } : {}));
    fs.writeFileSync(file, `not json\n${lines.join('')}`);
    expect(fs.statSync(file).size).toBeGreaterThan(3 * 64 * 1024);
    const last = await read(req({ limit: 3 }));
    expect(last.map((l) => l.url)).toEqual(['/item/2997', '/item/2998', '/item/2999']);
    expect(last[2]).toMatchObject({ ts: T0 + 2999, time: new Date(T0 + 2999).toISOString() });
    const all = await read(req({ limit: 100_000 }));
    expect(all).toHaveLength(3000);
    expect(all.map((l) => l.url)).toEqual(lines.map((_, i) => `/item/${i}`));
    const errors = await read(req({ grep: '"status":5\\d\\d', limit: 2 }));
    expect(errors.map((l) => l.url)).toEqual(['/item/2994', '/item/2997']);
    expect(await read(req({ limit: 0 }))).toEqual([]);
  });

  it('filters by service, release and since', async () => {
    fs.writeFileSync(
      file,
      [line(1), line(2, { service: 'api' }), line(3, { release: 2 }), line(4)].join(''),
    );
    expect((await read(req({ service: 'web' }))).map((l) => l.url)).toEqual([
      '/item/1',
      '/item/3',
      '/item/4',
    ]);
    expect((await read(req({ release: 2 }))).map((l) => l.url)).toEqual(['/item/3']);
    expect((await read(req({ sinceMs: T0 + 3 }))).map((l) => l.url)).toEqual([
      '/item/3',
      '/item/4',
    ]);
  });

  it('follows appended lines, a line written in two parts included, until aborted', async () => {
    fs.writeFileSync(file, line(1));
    const ac = new AbortController();
    const got: unknown[] = [];
    const done = (async () => {
      const reader = new AccessLogReader(file, { pollMs: 10 });
      for await (const l of reader.lines(req({ follow: true, grep: 'item' }), ac.signal))
        got.push(l.url);
    })();
    const until = async (n: number) => {
      const deadline = Date.now() + 2000;
      while (got.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    };
    await until(1);
    const two = line(2);
    fs.appendFileSync(file, two.slice(0, 20));
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual(['/item/1']);
    fs.appendFileSync(file, two.slice(20) + line(3, { url: '/other' }) + line(4));
    await until(3);
    expect(got).toEqual(['/item/1', '/item/2', '/item/4']);
    // Truncated (rotated by hand): read again from the start.
    fs.writeFileSync(file, line(5));
    await until(4);
    expect(got[3]).toBe('/item/5');
    ac.abort();
    await done;
  });
});
