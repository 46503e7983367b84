// The daemon killed with SIGKILL at a random step of each strategy's deploy,
// repeated: on restart the interrupted rollout is rolled back (or, if it had
// flipped, completed), no managed container is left over, traffic is served
// again within 2 s of the restart, and history says what happened.
// SHIPIT_CHAOS_SEED=<n> replays a run; SHIPIT_CHAOS_ROUNDS=<n> repeats more;
// SHIPIT_CHAOS_STRATEGIES=a,b and SHIPIT_CHAOS_STEP=<k> narrow it down to one case.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { TestProject, BIN, docker } from './support/harness';

jest.setTimeout(600_000);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const STRATEGIES = (process.env.SHIPIT_CHAOS_STRATEGIES?.split(',') ?? [
  'blue-green',
  'rolling',
  'canary',
  'rainbow',
]) as readonly string[];
/** Kill at this step instead of a random one (to replay one case). */
const STEP = Number(process.env.SHIPIT_CHAOS_STEP ?? 0);
const ROUNDS = Number(process.env.SHIPIT_CHAOS_ROUNDS ?? 2);
const SEED = Number(process.env.SHIPIT_CHAOS_SEED ?? Date.now() % 1_000_000);

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One GET on a fresh connection: the status code, or 0 when the connection failed. */
function get(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/', agent: false, timeout: 1000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** A GET on the control API's unix socket with the project's token. */
function api(t: TestProject, path: string): Promise<unknown> {
  const token = fs.readFileSync(`${t.dir}/.shipit/token`, 'utf8').trim();
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        socketPath: `${t.dir}/.shipit/daemon.sock`,
        path,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(JSON.parse(body)));
      },
    );
    req.on('error', reject);
  });
}

interface Container {
  id: string;
  release: number;
  running: boolean;
}

function managed(project: string): Container[] {
  const out = docker(
    'ps',
    '-a',
    '--filter',
    `label=io.shipit.project=${project}`,
    '--format',
    '{{.ID}} {{.Label "io.shipit.release"}} {{.State}}',
  );
  return out
    ? out.split('\n').map((l) => {
        const [id, release, state] = l.split(' ');
        return { id, release: Number(release), running: state === 'running' };
      })
    : [];
}

/**
 * Starts a deploy and kills the daemon with SIGKILL right after the CLI sees
 * step `k` (1-based, chosen at random once the step count is known) begin,
 * plus a random 0–150 ms. Resolves with what was killed where.
 */
function deployAndKill(
  t: TestProject,
  args: string[],
  rand: () => number,
): Promise<{ release: number; step: number; of: number; finished: boolean }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, 'deploy', '--json', ...args], { cwd: t.dir });
    let buf = '';
    let target = 0;
    let release = 0;
    let killed = false;
    const kill = (step: number, of: number) => {
      if (killed) return;
      killed = true;
      setTimeout(
        () => {
          t.kill9().then(
            () => resolve({ release, step, of, finished: false }),
            (e: Error) => reject(e),
          );
        },
        Math.floor(rand() * 150),
      );
    };
    p.stdout.on('data', (c) => {
      buf += String(c);
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let e: { type?: string; message?: string; release?: number };
        try {
          e = JSON.parse(line);
        } catch {
          continue;
        }
        if (e.type === 'plan' && e.release) release = e.release;
        const m = e.type === 'step' ? /^\[(\d+)\/(\d+)\]/.exec(e.message ?? '') : null;
        if (!m) continue;
        const [step, of] = [Number(m[1]), Number(m[2])];
        if (!target) target = STEP || 1 + Math.floor(rand() * of);
        if (step >= target) kill(step, of);
      }
    });
    p.on('close', (code) => {
      // The deploy ended before the chosen step (a paused canary returns): kill now.
      if (!killed) {
        killed = true;
        t.kill9().then(() => resolve({ release, step: 0, of: 0, finished: code === 0 }), reject);
      }
    });
  });
}

describe(`daemon killed with SIGKILL mid-deploy (seed ${SEED}, ${ROUNDS} round(s) per strategy)`, () => {
  const t = new TestProject();
  const rand = rng(SEED);
  const figures: string[] = [];

  beforeAll(async () => {
    await t.init({
      replicas: 2,
      keepPrevious: '10m',
      drainTimeout: '2s',
      extraYaml: `      rolling: { maxSurge: 1, maxUnavailable: 0 }
      canary:
        steps:
          - { weight: 20, pause: 300ms }
          - { weight: 60, pause: 300ms }
`,
    });
    await t.up();
  });
  afterAll(async () => {
    console.log(`seed ${SEED}\n${figures.join('\n')}`);
    await t.cleanup();
  });

  let image = 1;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const strategy of STRATEGIES) {
      it(`${strategy}, round ${round}: rolled back or completed, nothing left over, serving within 2 s`, async () => {
        image = 3 - image;
        const killed = await deployAndKill(
          t,
          ['--strategy', strategy, '--image', `demo-web:v${image}`],
          rand,
        );
        expect(killed.release).toBeGreaterThan(0);

        // restart, and time the first good answer through the proxy from the moment it was started
        const t0 = Date.now();
        let servedAfter = -1;
        const up = t.up();
        for (;;) {
          if ((await get(t.port)) === 200) {
            servedAfter = Date.now() - t0;
            break;
          }
          if (Date.now() - t0 > 10_000) break;
          await sleep(10);
        }
        await up;

        // the rollout ended one way or the other, and the records say which
        const history = JSON.parse((await t.cli(['history', '--json'])).stdout) as {
          releases: { number: number; status: string; result: string | null }[];
        };
        const r = history.releases.find((x) => x.number === killed.release);
        expect(r).toBeDefined();
        expect(r!.status).not.toBe('deploying');
        expect(['interrupted', 'succeeded']).toContain(r!.result);
        const events = (await api(t, '/v1/events?limit=300')) as {
          events: { release: number | null; type: string }[];
        };
        const mine = events.events.filter((e) => e.release === killed.release).map((e) => e.type);
        if (r!.result === 'interrupted') expect(mine).toContain('interrupted');
        else expect(mine.some((x) => x === 'live' || x === 'completed')).toBe(true);

        // settled: the serving release at its count, healthy, and no container outside live/previous
        const deadline = Date.now() + 30_000;
        for (;;) {
          const s = (await t.status()).services[0];
          const lives = s.releases.filter((x) => x.status === 'live');
          const keep = new Set(
            s.releases
              .filter((x) => x.status === 'live' || x.status === 'previous')
              .map((x) => x.number),
          );
          const newest = lives[0]?.number;
          const healthy = s.targets.filter((x) => x.release === newest && x.healthy && !x.draining);
          const all = managed(t.project);
          const weight = s.releases.reduce((sum, x) => sum + x.weight, 0);
          const orphans = all.filter((c) => !keep.has(c.release) || !c.running);
          const detail = JSON.stringify({ releases: s.releases, healthy: healthy.length, orphans });
          const oneLive = strategy === 'rainbow' ? lives.length >= 1 : lives.length === 1;
          if (oneLive && weight === 100 && healthy.length === 2 && orphans.length === 0) break;
          if (Date.now() > deadline) throw new Error(`did not settle: ${detail}`);
          await sleep(200);
        }
        expect(await get(t.port)).toBe(200);
        figures.push(
          `${strategy} r${killed.release}: killed at step ${killed.step}/${killed.of} -> ${r!.result}; first 200 ${servedAfter} ms after the restart began`,
        );
        expect(servedAfter).toBeGreaterThanOrEqual(0);
        expect(servedAfter).toBeLessThan(2000);
      });
    }
  }
});
