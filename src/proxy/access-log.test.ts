import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { AccessLogFile, accessLine, type AccessEntry } from './access-log';

const entry: AccessEntry = {
  service: 'web',
  release: 3,
  container: 'demo-web-r3-1',
  method: 'GET',
  url: '/a?b="c"&d=\\\n\u2028é',
  status: 200,
  ms: 1.3,
  reqId: 'f49ced7f-bd05-412e-a8c5-3b0c08065e16',
  aborted: false,
};

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-access-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** What pino with `base: null` writes for the same fields, at the same time. */
function pinoLine(fields: object, time: number): string {
  let out = '';
  const log = pino(
    { base: null, timestamp: () => `,"time":${time}` },
    { write: (s: string) => (out += s) },
  );
  log.info(fields);
  return out;
}

describe('accessLine', () => {
  it('is the line pino writes, byte for byte, escapes included', () => {
    expect(accessLine(entry, 1_700_000_000_123)).toBe(pinoLine(entry, 1_700_000_000_123));
    expect(JSON.parse(accessLine(entry, 1)).url).toBe(entry.url);
  });

  it('leaves out what is not known, as pino does with undefined fields', () => {
    const e: AccessEntry = {
      service: 'web',
      method: 'POST',
      url: '/',
      status: 503,
      ms: 0,
      aborted: true,
    };
    const line = accessLine(
      { ...e, release: undefined, container: undefined, reqId: undefined },
      5,
    );
    expect(line).toBe(pinoLine(e, 5));
    expect(JSON.parse(line)).toEqual({ level: 30, time: 5, ...e });
  });
});

describe('AccessLogFile', () => {
  const lines = (file: string) =>
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AccessEntry & { time: number });

  it('appends whole lines once a chunk is full, the rest on flush() and close()', async () => {
    const file = path.join(dir, 'access.log');
    fs.writeFileSync(file, '{"level":30,"time":1,"earlier":true}\n');
    const log = new AccessLogFile(file, { chunkBytes: 1000 });
    const n = Math.ceil(1000 / accessLine(entry, Date.now()).length);
    for (let i = 0; i < n; i++) log.write({ ...entry, status: 200 + i });
    await until(() => lines(file).length === 1 + n); // the chunk's write
    log.write({ ...entry, url: '/after' });
    await new Promise((r) => setTimeout(r, 100));
    expect(lines(file)).toHaveLength(1 + n); // below a chunk: waits for flush()
    log.flush();
    await until(() => lines(file).at(-1)?.url === '/after');
    log.write({ ...entry, url: '/last' });
    await log.close();
    log.write({ ...entry, url: '/too-late' });
    const all = lines(file);
    expect(all.map((l) => l.url).slice(-2)).toEqual(['/after', '/last']);
    expect(all.slice(1, 1 + n).map((l) => l.status)).toEqual(
      Array.from({ length: n }, (_, i) => 200 + i),
    );
  });

  it('drops lines beyond maxBufferedBytes and says so, at most once per 10 s', async () => {
    const errors: string[] = [];
    const file = path.join(dir, 'access.log');
    const len = accessLine(entry, Date.now()).length;
    const log = new AccessLogFile(file, {
      chunkBytes: 1 << 20,
      maxBufferedBytes: len * 3,
      onError: (m) => errors.push(m),
    });
    for (let i = 0; i < 10; i++) log.write(entry);
    expect(errors).toEqual(['the disk is behind the traffic: 1 access log line(s) dropped']);
    await log.close();
    expect(lines(file)).toHaveLength(3);
  });

  it('reports a failed write, at most once per 10 s, and goes on', async () => {
    const errors: string[] = [];
    // every write to /dev/full fails with ENOSPC
    const log = new AccessLogFile('/dev/full', { onError: (m) => errors.push(m) });
    log.write(entry);
    log.flush();
    await until(() => errors.length === 1);
    log.write(entry);
    await log.close();
    expect(errors).toEqual([expect.stringMatching(/^access log write failed: ENOSPC/)]);
  });

  it('cannot open a file it may not write: the constructor throws (the daemon then runs without)', () => {
    expect(() => new AccessLogFile(path.join(dir, 'no-such-dir', 'access.log'))).toThrow(/ENOENT/);
  });
});
