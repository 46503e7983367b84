// `shipit logs` end to end: the daemon (a child process), the real engine, the demo app's
// /log endpoint writing to the containers' stdout/stderr, and the CLI.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { BIN, TestProject, containerIds, docker } from './support/harness';

jest.setTimeout(180_000);

interface Container {
  id: string;
  name: string;
  ip: string;
}

interface Line {
  id: number;
  ts: number;
  time: string;
  service: string;
  release: number;
  container: string;
  stream: string;
  level: string | null;
  msg: string;
}

function containers(project: string, release: number): Container[] {
  return containerIds(project, release).map((id) => {
    const [name, ip] = docker(
      'inspect',
      '-f',
      '{{.Name}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
      id,
    ).split(' ');
    return { id, name: name.replace(/^\//, ''), ip };
  });
}

function get(
  host: string,
  port: number,
  urlPath: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host, port, path: urlPath, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Makes a container write one line through the demo app's /log endpoint. */
async function say(c: Container, msg: string, extra = ''): Promise<void> {
  const r = await get(c.ip, 8080, `/log?msg=${encodeURIComponent(msg)}${extra}`);
  if (r.status !== 200) throw new Error(`/log on ${c.name}: ${r.status} ${r.body}`);
}

/** A `shipit logs -f …` child with its stdout lines. */
class Follower {
  readonly lines: { at: number; text: string }[] = [];
  readonly proc: ChildProcess;
  private buf = '';
  constructor(dir: string, args: string[]) {
    this.proc = spawn(process.execPath, [BIN, 'logs', '-f', ...args], { cwd: dir });
    this.proc.stdout?.on('data', (c: Buffer) => {
      this.buf += c.toString();
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push({ at: Date.now(), text: this.buf.slice(0, nl) });
        this.buf = this.buf.slice(nl + 1);
      }
    });
  }
  async waitFor(re: RegExp, ms = 10_000): Promise<number> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find((l) => re.test(l.text));
      if (hit) return hit.at;
      if (Date.now() > deadline)
        throw new Error(`no line matching ${re} within ${ms}ms: ${JSON.stringify(this.lines)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  /** Ctrl-C; resolves with the exit code. */
  interrupt(): Promise<number | null> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null) return resolve(this.proc.exitCode);
      this.proc.once('exit', (code) => resolve(code));
      this.proc.kill('SIGINT');
    });
  }
}

describe('shipit logs (real engine)', () => {
  const t = new TestProject();
  const followers: Follower[] = [];
  let r1: Container[] = [];
  let r2: Container[] = [];

  const logs = async (...args: string[]): Promise<Line[]> => {
    const r = await t.cli(['logs', '--json', ...args]);
    if (r.code !== 0) throw new Error(`shipit logs ${args.join(' ')}: ${r.code} ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);
  };
  const waitLogs = async (args: string[], n: number, ms = 10_000): Promise<Line[]> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const got = await logs(...args);
      if (got.length >= n) return got;
      if (Date.now() > deadline)
        throw new Error(`expected ${n} lines for ${args.join(' ')}, got ${JSON.stringify(got)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    await t.init({ replicas: 2, keepPrevious: '10m' });
    await t.up();
    r1 = containers(t.project, 1);
    // r2 with one replica: r1 (2 containers) stays running as the previous release.
    const cfg = path.join(t.dir, 'shipit.yml');
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('replicas: 2', 'replicas: 1'));
    for (const c of r1) await say(c, `hello-${c.name}`);
    const d = await t.cli(['deploy', '--image', 'demo-web:v2']);
    if (d.code !== 0) throw new Error(`deploy failed: ${d.stderr}\n${t.log()}`);
    r2 = containers(t.project, 2);
    for (const c of r2) await say(c, `hello-${c.name}`);
  });
  afterAll(async () => {
    for (const f of followers) if (f.proc.exitCode === null) f.proc.kill('SIGKILL');
    await t.cleanup();
  });

  it('has the lines of three containers of two releases, by --release and --grep', async () => {
    expect(r1).toHaveLength(2);
    expect(r2).toHaveLength(1);
    const hello = await waitLogs(['--grep', '^hello-'], 3);
    expect(hello.map((l) => [l.release, l.container, l.stream, l.level, l.msg]).sort()).toEqual(
      [...r1.map((c) => [1, c, 'stdout']), ...r2.map((c) => [2, c, 'stdout'])]
        .map(([rel, c, s]) => {
          const { name } = c as Container;
          return [rel, name, s, null, `hello-${name}`];
        })
        .sort(),
    );
    for (const l of hello) {
      expect(l.service).toBe('web');
      expect(l.time).toBe(new Date(l.ts).toISOString());
      expect(Math.abs(l.ts - Date.now())).toBeLessThan(120_000);
    }
    const byRelease1 = await logs('--release', '1', '--grep', 'hello-');
    expect(byRelease1.map((l) => l.container).sort()).toEqual(r1.map((c) => c.name).sort());
    const byRelease2 = await logs('--release', '2');
    expect(byRelease2.map((l) => l.container)).toEqual(byRelease2.map(() => r2[0].name));
    expect(byRelease2.map((l) => l.msg)).toContain(`hello-${r2[0].name}`);
    // Each container's start-up line was collected too, from its very first line.
    const started = await logs('--grep', 'listening on :8080');
    expect(started.map((l) => l.container).sort()).toEqual(
      [...r1, ...r2].map((c) => c.name).sort(),
    );
    // Newest last, and -n keeps the newest.
    expect((await logs('--grep', 'hello-|listening', '-n', '2')).map((l) => l.id)).toEqual(
      [...started, ...hello]
        .sort((a, b) => a.ts - b.ts || a.id - b.id)
        .slice(-2)
        .map((l) => l.id),
    );
    // Human output: `<ISO time> <service> r<release> <container> <stream> <msg>`.
    const human = await t.cli(['logs', 'web', '--release', '2', '--grep', '^hello-']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z web r2 ${r2[0].name} stdout hello-${r2[0].name}\\n$`,
      ),
    );
  });

  it('parses the level and message of a JSON line', async () => {
    await say(r2[0], 'disk almost "full"', '&level=50&stream=stderr');
    const [l] = await waitLogs(['--grep', 'almost'], 1);
    expect(l).toMatchObject({
      release: 2,
      container: r2[0].name,
      stream: 'stderr',
      level: 'error',
      msg: 'disk almost "full"',
    });
    const human = await t.cli(['logs', '--grep', 'almost']);
    expect(human.stdout.trim()).toMatch(
      new RegExp(` web r2 ${r2[0].name} stderr error disk almost "full"$`),
    );
  });

  it('rejects a bad --grep or --since with exit 2', async () => {
    const re = await t.cli(['logs', '--grep', '(unclosed']);
    expect(re.code).toBe(2);
    expect(re.stderr).toContain('grep: invalid regular expression');
    const since = await t.cli(['logs', '--since', 'last tuesday']);
    expect(since.code).toBe(2);
    expect(since.stderr).toContain('since: expected a duration');
    expect(await logs('--since', '1h', '--grep', '^hello-')).toHaveLength(3);
    expect(await logs('--since', String(Date.now() + 60_000))).toEqual([]);
  });

  it('-f prints a new line within a second, until Ctrl-C', async () => {
    await say(r1[0], 'live-0');
    await waitLogs(['--grep', '^live-'], 1);
    const f = new Follower(t.dir, ['--grep', '^live-', '-n', '1']);
    followers.push(f);
    await f.waitFor(/ live-0$/); // the backlog: the stream is open
    const t0 = Date.now();
    await say(r1[1], 'live-1');
    const took = (await f.waitFor(/ live-1$/)) - t0;
    process.stdout.write(`logs -f: a new line showed after ${took} ms\n`);
    expect(took).toBeLessThan(1000);
    expect(f.lines.map((l) => l.text)).toEqual([
      expect.stringMatching(new RegExp(` web r1 ${r1[0].name} stdout live-0$`)),
      expect.stringMatching(new RegExp(` web r1 ${r1[1].name} stdout live-1$`)),
    ]);
    expect(await f.interrupt()).toBe(0);
  });

  it('--access -f shows proxy requests within about a second', async () => {
    expect((await get('127.0.0.1', t.port, '/version?probe=0')).status).toBe(200);
    await waitLogs(['--access', '--grep', 'probe=0'], 1, 5000);
    const f = new Follower(t.dir, ['--access', '--grep', 'probe=', '-n', '1']);
    followers.push(f);
    await f.waitFor(/probe=0/);
    const t0 = Date.now();
    expect((await get('127.0.0.1', t.port, '/version?probe=1')).status).toBe(200);
    const took = (await f.waitFor(/probe=1/)) - t0;
    process.stdout.write(`logs --access -f: a request showed after ${took} ms\n`);
    expect(took).toBeLessThan(1500);
    expect(f.lines[1].text).toMatch(
      new RegExp(`Z web r2 ${r2[0].name} 200 GET /version\\?probe=1 [\\d.]+ms$`),
    );
    expect(await f.interrupt()).toBe(0);
    const [json] = await logs('--access', '--grep', 'probe=1');
    expect(json).toMatchObject({ service: 'web', release: 2, status: 200, method: 'GET' });
  });

  it('catches up what was written while the daemon was down, each line exactly once', async () => {
    await t.kill9();
    for (const c of [...r1, ...r2]) await say(c, `down-${c.name}`);
    await t.up();
    const down = await waitLogs(['--grep', '^down-'], 3);
    expect(down.map((l) => l.msg).sort()).toEqual(
      [...r1, ...r2].map((c) => `down-${c.name}`).sort(),
    );
    // Still collecting after the restart.
    await say(r2[0], 'after-restart');
    await waitLogs(['--grep', '^after-restart$'], 1);
    const all = await logs('-n', '100000');
    const count = (msg: string) => all.filter((l) => l.msg === msg).length;
    for (const c of [...r1, ...r2]) {
      expect([c.name, count(`hello-${c.name}`), count(`down-${c.name}`)]).toEqual([c.name, 1, 1]);
      const startup = all.filter((l) => l.container === c.name && /listening on/.test(l.msg));
      expect(startup).toHaveLength(1);
    }
    expect([count('live-0'), count('live-1'), count('after-restart')]).toEqual([1, 1, 1]);
    expect(new Set(all.map((l) => l.id)).size).toBe(all.length);
  });
});
