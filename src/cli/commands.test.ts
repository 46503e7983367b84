// `shipit status`, `history`, `down` and `up` (upgrade and --detach) against the real API server
// over the config's unix socket, with a stand-in control plane; and main's error handling.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ApiServer, type ControlPlane } from '../api/server';
import { fakePlane } from '../testing/api-client';
import { runCli as run } from '../testing/cli';

const TOKEN = 'test-token-0123456789';

let dir: string;
let cfg: string;
let state: string;
let sock: string;
let api: ApiServer | null = null;
let calls: string[];

async function serve(over: Partial<ControlPlane> = {}) {
  const f = fakePlane(over);
  calls = f.calls;
  api = new ApiServer(f.plane, TOKEN, pino({ level: 'silent' }));
  await api.listen({ socketPath: sock });
  return f;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-cmd-'));
  cfg = path.join(dir, 'shipit.yml');
  fs.writeFileSync(
    cfg,
    'project: demo\nservices:\n  web: { image: demo-web:v1, port: 8080 }\n  api: { image: demo-api:v1, port: 9090, hosts: [api.local] }\n',
  );
  state = path.join(dir, '.shipit');
  fs.mkdirSync(state);
  fs.writeFileSync(path.join(state, 'token'), TOKEN, { mode: 0o600 });
  sock = path.join(state, 'daemon.sock');
});
afterEach(async () => {
  if (api) await api.close();
  api = null;
  fs.rmSync(dir, { recursive: true, force: true });
});

const target = (o: Record<string, unknown>) => ({
  name: 'demo-web-r2-0',
  release: 2,
  address: '10.0.0.2:8080',
  healthy: true,
  inflight: 0,
  draining: false,
  ...o,
});

const STATUS = {
  project: 'demo',
  pid: 4242,
  proxy: { host: '0.0.0.0', port: 8000 },
  ready: false,
  services: [
    {
      name: 'web',
      hosts: ['web.local', 'www.local'],
      busy: 'deploy',
      rollout: { release: 3, paused: 'waiting for promote' },
      autoscale: { replicas: 2, desired: 4, reason: 'cpu 91%' },
      releases: [
        { number: 3, image: 'demo-web:v3', status: 'canary', weight: 10, replicas: 1 },
        { number: 2, image: 'demo-web:v2', status: 'live', weight: 90, replicas: 2 },
      ],
      targets: [
        target({}),
        target({ name: 'demo-web-r3-0', release: 3, healthy: false, inflight: 3 }),
        target({ name: 'demo-web-r1-0', release: 1, draining: true }),
      ],
    },
    {
      name: 'api',
      hosts: ['api.local'],
      busy: null,
      rollout: { release: 5, paused: null },
      autoscale: { replicas: 1, desired: 1, reason: 'steady' },
      releases: [],
      targets: [],
    },
  ],
  alerts: [
    {
      name: 'errors',
      service: 'web',
      state: 'firing',
      metric: 'error_rate',
      op: '>',
      threshold: 0.05,
      value: 0.123456,
      since: 0,
    },
    {
      name: 'slow',
      service: 'api',
      state: 'ok',
      metric: 'p99_ms',
      op: '>',
      threshold: 500,
      value: null,
      since: 1000,
    },
  ],
};

describe('shipit status', () => {
  it('prints services, rollouts, autoscale, releases, routed targets and alerts', async () => {
    await serve({ status: (s) => (calls.push(`status ${s}`), STATUS) });
    const r = await run(['status', '--config', cfg]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const o = r.stdout;
    expect(o).toContain('project demo  daemon pid 4242  proxy 0.0.0.0:8000  (starting)');
    expect(o).toContain('web  hosts web.local, www.local  [deploy in progress]');
    expect(o).toContain('  rollout of r3 in progress, paused: waiting for promote');
    expect(o).toContain('  autoscale: 2 replica(s) -> 4 (cpu 91%)');
    expect(o).toMatch(/r3 +canary +10% +1 +demo-web:v3/);
    expect(o).toMatch(/demo-web-r3-0 +r3 +10\.0\.0\.2:8080 +UNHEALTHY +3/);
    expect(o).toMatch(/demo-web-r2-0 +r2 +10\.0\.0\.2:8080 +healthy +0/);
    expect(o).not.toContain('demo-web-r1-0'); // draining: no longer routed
    expect(o).toContain('api  hosts api.local\n');
    expect(o).toContain('  rollout of r5 in progress\n');
    expect(o).toContain('  autoscale: 1 replica(s) (steady)');
    expect(o).toContain('  no release');
    expect(o).toMatch(
      /errors +web +FIRING +error_rate > 0\.05 +0\.1235 +1970-01-01T00:00:00\.000Z/,
    );
    expect(o).toMatch(/slow +api +ok +p99_ms > 500 +- +1970-01-01T00:00:01\.000Z/);
    expect(calls).toEqual(['status undefined']);
  });

  it('a ready daemon without alerts: no "(starting)", no alert table', async () => {
    await serve({
      status: () => ({ ...STATUS, ready: true, services: [], alerts: undefined }),
    });
    const r = await run(['status', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('project demo  daemon pid 4242  proxy 0.0.0.0:8000\n');
  });

  it('one service with --json: asks for it, prints the document as is', async () => {
    await serve({ status: (s) => (calls.push(`status ${s}`), STATUS) });
    const r = await run(['status', 'web', '--json', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(STATUS);
    expect(calls).toEqual(['status web']);
  });

  it('a typo of a service: exit 2, nothing asked', async () => {
    await serve();
    const r = await run(['status', 'wbe', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(calls).toEqual([]);
  });

  it('no daemon: exit 3 with a hint to start it', async () => {
    const r = await run(['status', '--config', cfg]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('the shipit daemon is not reachable at');
    expect(r.stderr).toContain('hint: start it with: shipit up --detach');
  });

  it('--json errors are also printed as a JSON line on stdout, with the exit code', async () => {
    const r = await run(['status', '--json', '--config', cfg]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({
      type: 'error',
      code: 'unreachable',
      exitCode: 3,
      hint: 'start it with: shipit up --detach',
    });
  });

  it('a wrong token: exit 3', async () => {
    await serve();
    const r = await run(['status', '--config', cfg, '--token', 'not-the-token']);
    expect(r.code).toBe(3);
    expect(calls).toEqual([]);
  });
});

const RELEASE = {
  number: 2,
  image: 'demo-web:v2',
  strategy: 'rolling',
  status: 'live',
  result: 'succeeded',
  reason: null,
  startedAt: Date.now() - 60_000,
  finishedAt: Date.now() - 30_000,
};

describe('shipit history', () => {
  let asked: [string | undefined, number | undefined][];
  beforeEach(async () => {
    asked = [];
    await serve({
      releases: (s, limit) => (
        asked.push([s, limit]),
        {
          releases:
            s === 'api'
              ? []
              : [RELEASE, { ...RELEASE, number: 3, status: 'deploying', finishedAt: null }],
        }
      ),
    });
  });

  it('prints one row per release with its duration', async () => {
    const r = await run(['history', 'web', '-n', '5', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^release +image +strategy +status +result +started +duration/);
    expect(r.stdout).toMatch(/r2 +demo-web:v2 +rolling +live +succeeded .* 30\.0s /);
    expect(r.stdout).toMatch(/r3 +demo-web:v2 +rolling +deploying/);
    expect(asked).toEqual([['web', 5]]);
  });

  it('with several services and none named, asks for all of them; --json prints the list', async () => {
    const r = await run(['history', '--json', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).releases).toHaveLength(2);
    expect(asked).toEqual([[undefined, 20]]);
  });

  it('no releases: says so', async () => {
    const r = await run(['history', 'api', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('no releases yet\n');
  });

  it('--audit with a SERVICE is a usage error (exit 2); without, shows the audit log', async () => {
    let r = await run(['history', 'web', '--audit', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('history --audit shows every service: drop the SERVICE');
    r = await run(['history', '--audit', '-n', '7', '--json', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(calls).toContain('auditLog 7');
  });

  it('the one service of a single-service config is the default', async () => {
    fs.writeFileSync(cfg, 'project: demo\nservices:\n  web: { image: demo-web:v1, port: 8080 }\n');
    const r = await run(['history', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(asked).toEqual([['web', 20]]);
  });
});

describe('shipit down', () => {
  it('asks the daemon to shut down and waits until its API stops answering', async () => {
    const f = await serve({
      shutdown: async (remove) => {
        calls.push(`shutdown ${remove}`);
        setTimeout(() => void api?.close().then(() => (api = null)), 150);
      },
    });
    const r = await run(['down', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('shipit daemon stopped\n');
    expect(f.calls).toEqual(['shutdown false']);
    expect(api).toBeNull(); // returned only once the API was gone
  });

  it('--remove is passed on and reported; --json prints the outcome', async () => {
    await serve({
      shutdown: async (remove) => {
        calls.push(`shutdown ${remove}`);
        setImmediate(() => void api?.close().then(() => (api = null)));
      },
    });
    const r = await run(['down', '--remove', '--json', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ stopped: true, removed: true });
    expect(calls).toEqual(['shutdown true']);
  });

  it('no daemon: exit 3', async () => {
    const r = await run(['down', '--config', cfg]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('not reachable');
  });
});

describe('shipit up', () => {
  const children: ChildProcess[] = [];
  const savedArgv1 = process.argv[1];
  afterEach(() => {
    process.argv[1] = savedArgv1;
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });
  /** A stand-in for the shipit script that `up --detach` starts. */
  const fakeScript = (code: string) => {
    const f = path.join(dir, 'fake-shipit.js');
    fs.writeFileSync(f, code);
    process.argv[1] = f;
  };

  it('with a daemon running already, upgrades it through the API (handover)', async () => {
    const old = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    children.push(old);
    fs.writeFileSync(path.join(state, 'daemon.pid'), String(old.pid));
    process.argv[1] = path.join(dir, 'bin', 'shipit.js');
    let asked: unknown;
    await serve({
      handOver: async (b) => ((asked = b), { from: old.pid!, to: 777 }),
    });
    const r = await run(['up', '--config', cfg]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `shipit daemon upgraded: pid ${old.pid} handed over to pid 777 without dropping a connection; log ${path.join(state, 'daemon.log')}\n`,
    );
    expect(asked).toEqual({ node: process.execPath, script: path.join(dir, 'bin', 'shipit.js') });
  });

  it('--detach: starts the daemon in the background and returns once it reports ready', async () => {
    fakeScript('setTimeout(() => {}, 30000);');
    let polls = 0;
    await serve({
      status: () => ({ ready: ++polls > 1, proxy: { host: '127.0.0.1', port: 8000 } }),
    });
    const r = await run(['up', '--detach', '--json', '--config', cfg], {
      SHIPIT_DAEMON_CHILD: '',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toEqual({
      pid: expect.any(Number),
      proxy: { host: '127.0.0.1', port: 8000 },
      log: path.join(state, 'daemon.log'),
    });
    expect(polls).toBe(2); // not ready at first: it polled again
    process.kill(out.pid, 'SIGKILL');
  });

  it('--detach: a daemon that exits while starting fails with the end of its log', async () => {
    fakeScript(
      'console.log("line " + process.argv.slice(2).join(" ")); console.error("fatal: no docker"); process.exit(5);',
    );
    const r = await run(['up', '-d', '--config', cfg], { SHIPIT_DAEMON_CHILD: '' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: the daemon exited (code 5) while starting');
    expect(r.stderr).toContain(`hint: last lines of ${path.join(state, 'daemon.log')}:`);
    expect(r.stderr).toContain(`line up --config ${cfg}`);
    expect(r.stderr).toContain('fatal: no docker');
  });

  it('--detach: a daemon that exits 3 (engine unreachable) while starting makes up exit 3 too', async () => {
    fakeScript('console.error("Docker engine not reachable"); process.exit(3);');
    const r = await run(['up', '-d', '--config', cfg], { SHIPIT_DAEMON_CHILD: '' });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('error: the daemon exited (code 3) while starting');
    expect(r.stderr).toContain('Docker engine not reachable');
  });

  it('--detach: a token file others can read is refused (exit 2) before anything starts', async () => {
    const started = path.join(dir, 'started');
    fakeScript(`require("fs").writeFileSync(${JSON.stringify(started)}, "")`);
    fs.chmodSync(path.join(state, 'token'), 0o644);
    const r = await run(['up', '--detach', '--config', cfg], { SHIPIT_DAEMON_CHILD: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('chmod 600');
    await new Promise((res) => setTimeout(res, 200));
    expect(fs.existsSync(started)).toBe(false);
  });
});

describe('main', () => {
  it('a 500 from the daemon: exit 1 with its message', async () => {
    await serve({
      status: () => {
        throw new Error('kaput');
      },
    });
    const r = await run(['status', '--config', cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: kaput\n');
  });

  it('an unexpected (non-shipit) error, here a reply that is not JSON: exit 1 with its stack', async () => {
    const srv = http.createServer((_q, res) => res.end('<html>not the daemon</html>'));
    await new Promise<void>((r) => srv.listen(sock, r));
    try {
      const r = await run(['status', '--config', cfg]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: SyntaxError: .*JSON/);
      expect(r.stderr).toMatch(/\n\s+at /); // the stack, for a bug report
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  it('completion prints a completion script for shipit', async () => {
    // yargs prints it with console.log, which jest may capture apart from stdout.
    const logged: string[] = [];
    const spy = jest
      .spyOn(console, 'log')
      .mockImplementation((...m: unknown[]) => void logged.push(m.join(' ')));
    try {
      const r = await run(['completion']);
      expect(r.code).toBe(0);
      const text = r.stdout + logged.join('\n');
      expect(text).toContain('_shipit_yargs_completions');
      expect(text).toMatch(/complete .*shipit/);
    } finally {
      spy.mockRestore();
    }
  });

  it('no command: exit 2 with usage help', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('name a command');
    expect(r.stderr).toContain('run shipit --help for usage');
  });

  it('--host and --token win for one run only and are restored after', async () => {
    await serve({ status: () => ({ ...STATUS, services: [], ready: true }) });
    const before = { host: process.env.SHIPIT_HOST, token: process.env.SHIPIT_TOKEN };
    const r = await run(['status', '--config', cfg, '--host', `unix:${sock}`, '--token', TOKEN]);
    expect(r.code).toBe(0);
    expect(process.env.SHIPIT_HOST).toBe(before.host);
    expect(process.env.SHIPIT_TOKEN).toBe(before.token);
  });
});
