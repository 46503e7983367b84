// `shipit logs` against the real API server (GET /v1/logs) over a unix socket, with a
// stand-in control plane: argument handling, output formats, follow, errors and exit codes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ApiServer, type ControlPlane } from '../api/server';
import type { LogRequest } from '../observe/log-query';
import { formatAccessLine, formatLogLine } from './logs';
import { main } from './main';
import { runCli as run } from '../testing/cli';

const TOKEN = 'test-token-0123456789';

const line = (i: number, over: Record<string, unknown> = {}) => ({
  id: i,
  ts: 1_700_000_000_000 + i,
  time: new Date(1_700_000_000_000 + i).toISOString(),
  service: 'web',
  release: 2,
  container: 'demo-web-r2-0',
  stream: 'stdout',
  level: null,
  msg: `hello ${i}`,
  ...over,
});

describe('shipit logs (CLI + API)', () => {
  let dir: string;
  let cfg: string;
  let api: ApiServer;
  const asked: LogRequest[] = [];
  /** Lines a follow gets after its backlog; push to it, then call wakeFollow(). */
  const live: Record<string, unknown>[] = [];
  let wakeFollow: () => void = () => {};
  let followAborted = false;
  let endFollowAfterBacklog = false;

  async function* lines(q: LogRequest, signal: AbortSignal) {
    asked.push(q);
    if (q.access) {
      yield {
        ts: 1,
        time: '1970-01-01T00:00:00.001Z',
        service: 'web',
        release: 2,
        container: 'demo-web-r2-0',
        method: 'GET',
        url: '/x',
        status: 503,
        ms: 1.5,
      };
      return;
    }
    for (let i = 1; i <= Math.min(q.limit, 3); i++)
      yield line(i, i === 3 ? { level: 'error', stream: 'stderr' } : {});
    if (!q.follow || endFollowAfterBacklog) return;
    while (!signal.aborted) {
      while (live.length) yield live.shift()!;
      await new Promise<void>((r) => {
        wakeFollow = r;
        signal.addEventListener('abort', () => r(), { once: true });
      });
    }
    followAborted = true;
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-cli-logs-'));
    cfg = path.join(dir, 'shipit.yml');
    fs.writeFileSync(cfg, 'project: demo\nservices:\n  web: { image: demo-web:v1, port: 8080 }\n');
    fs.mkdirSync(path.join(dir, '.shipit'));
    fs.writeFileSync(path.join(dir, '.shipit', 'token'), TOKEN);
    const plane = { logs: lines } as unknown as ControlPlane;
    api = new ApiServer(plane, TOKEN, pino({ level: 'silent' }));
    await api.listen({ socketPath: path.join(dir, '.shipit', 'daemon.sock') });
  });
  afterAll(async () => {
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    asked.length = 0;
  });

  it('prints every service by default, oldest first, one human line each', async () => {
    const r = await run(['logs', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        '2023-11-14T22:13:20.001Z web r2 demo-web-r2-0 stdout hello 1',
        '2023-11-14T22:13:20.002Z web r2 demo-web-r2-0 stdout hello 2',
        '2023-11-14T22:13:20.003Z web r2 demo-web-r2-0 stderr error hello 3',
        '',
      ].join('\n'),
    );
    expect(asked).toEqual([{ access: false, follow: false, limit: 100 }]);
  });

  it('passes the filters to the API and prints NDJSON with --json', async () => {
    const r = await run([
      'logs',
      'web',
      '--release',
      '2',
      '--since',
      '5m',
      '--grep',
      'hello [12]',
      '-n',
      '2',
      '--json',
      '--config',
      cfg,
    ]);
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([line(1), line(2)]);
    expect(asked[0]).toMatchObject({
      service: 'web',
      release: 2,
      grep: 'hello [12]',
      limit: 2,
      sinceMs: expect.any(Number),
    });
    expect(Math.abs(asked[0].sinceMs! - (Date.now() - 300_000))).toBeLessThan(10_000);
  });

  it('formats access-log lines with --access', async () => {
    const r = await run(['logs', '--access', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('1970-01-01T00:00:00.001Z web r2 demo-web-r2-0 503 GET /x 1.5ms\n');
    expect(asked[0].access).toBe(true);
  });

  it('bad --grep, --since or -n: exit 2 with the reason, before anything is read', async () => {
    for (const [args, msg] of [
      [['--grep', '(x'], 'grep: invalid regular expression'],
      [['--since', 'soon'], 'since: expected a duration'],
      [['-n', '-3'], 'limit: expected a whole number'],
      [['--release', '0'], 'release: expected a whole number'],
    ] as const) {
      const r = await run(['logs', ...args, '--config', cfg]);
      expect([r.code, r.stderr]).toEqual([2, expect.stringContaining(msg)]);
    }
    expect(asked).toEqual([]);
  });

  it('-f prints the backlog, then live lines, until Ctrl-C (exit 0)', async () => {
    followAborted = false;
    const out: string[] = [];
    const o = jest
      .spyOn(process.stdout, 'write')
      .mockImplementation((c) => (out.push(String(c)), true));
    try {
      const done = main(['logs', '-f', '-n', '1', '--json', '--config', cfg]);
      const until = async (n: number) => {
        const deadline = Date.now() + 3000;
        while (out.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      };
      await until(1);
      live.push(line(7, { msg: 'live one' }));
      wakeFollow();
      await until(2);
      expect(out.map((l) => JSON.parse(l).msg)).toEqual(['hello 1', 'live one']);
      expect(asked[0]).toMatchObject({ follow: true, limit: 1 });
      process.emit('SIGINT');
      expect(await done).toBe(0);
    } finally {
      o.mockRestore();
    }
    const deadline = Date.now() + 2000;
    while (!followAborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(followAborted).toBe(true);
  });

  it('-f when the daemon ends the stream: exit 3', async () => {
    endFollowAfterBacklog = true;
    try {
      const r = await run(['logs', '-f', '--config', cfg]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('the daemon ended the log stream');
      expect(r.stdout.split('\n')).toHaveLength(4);
    } finally {
      endFollowAfterBacklog = false;
    }
  });
});

describe('log line formats', () => {
  it('shows "-" for what a line lacks', () => {
    expect(formatLogLine({ msg: 'x' })).toBe('- - r- - - x');
    expect(formatAccessLine({ status: 200, aborted: true })).toBe('- - r- - 200 - - -ms aborted');
  });
});
