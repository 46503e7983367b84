// The Docker engine stopped and started again under a running daemon: while
// it is down a deploy fails with a clear error and changes nothing; once it is
// back the daemon notices, resyncs, brings the live release back to its count
// and serves again, and deploys work.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startLoadProcess } from '../scripts/lib/load.js';
import pino from 'pino';
import { Daemon } from '../src/daemon';
import { loadConfig } from '../src/config/load';
import { ROOT, TestProject } from './support/harness';

jest.setTimeout(240_000);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const PIDFILE = '/var/run/docker.pid';

function engineAnswers(): boolean {
  return spawnSync('docker', ['info'], { timeout: 10_000 }).status === 0;
}

function startEngine(): void {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'docker-bootstrap.sh')], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`docker-bootstrap failed: ${r.stderr}`);
}

function get(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

describe('the Docker engine restarted under a running daemon', () => {
  const t = new TestProject();
  let daemon: Daemon;

  beforeAll(async () => {
    await t.init({ replicas: 2 });
    // in process, so that coverage sees the engine watch and the resync wiring
    daemon = await Daemon.start(loadConfig({ path: path.join(t.dir, 'shipit.yml') }), {
      log: pino({ level: process.env.SHIPIT_TEST_LOG ?? 'silent' }),
    });
    await daemon.deployMissing();
  });
  afterAll(async () => {
    if (!engineAnswers()) startEngine(); // whatever happened, the next tests need an engine
    await daemon?.shutdown(true);
    await t.cleanup();
  });

  it('refuses a deploy while down (nothing changes), then resyncs and serves once it is back', async () => {
    const load = startLoadProcess({ port: t.port, clients: 10 });
    await load.ready;
    await sleep(500);
    const history = async () =>
      JSON.parse((await t.cli(['history', '--json'])).stdout) as { releases: unknown[] };
    const before = await history();

    const pid = Number(fs.readFileSync(PIDFILE, 'utf8').trim());
    const stopAt = Date.now();
    process.kill(pid, 'SIGTERM');
    while (fs.existsSync(`/proc/${pid}`) && Date.now() - stopAt < 60_000) await sleep(200);
    expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
    const stoppedMs = Date.now() - stopAt;

    // down: the daemon says so, and a deploy changes nothing
    let st: { engine: { up: boolean } } | null = null;
    for (let i = 0; i < 30; i++) {
      st = JSON.parse((await t.cli(['status', '--json'])).stdout);
      if (st && !st.engine.up) break;
      await sleep(200);
    }
    expect(st?.engine.up).toBe(false);
    const d = await t.cli(['deploy', '--image', 'demo-web:v2']);
    expect(d.code).toBe(3); // the Docker daemon is unreachable (exit 3, as for shipit's own)
    expect(d.stderr).toMatch(/Docker engine not reachable/);
    expect(d.stderr).toMatch(/hint:/);
    expect(await history()).toEqual(before);

    // back: serving again, at the recorded count, without anyone touching the daemon
    startEngine();
    const backAt = Date.now();
    let servedAfter = -1;
    let settledAfter = -1;
    while (Date.now() - backAt < 60_000) {
      if (servedAfter < 0 && (await get(t.port)) === 200) servedAfter = Date.now() - backAt;
      const s = await t.status();
      const healthy = s.services[0].targets.filter((x) => x.healthy && !x.draining);
      if (servedAfter >= 0 && healthy.length === 2) {
        settledAfter = Date.now() - backAt;
        break;
      }
      await sleep(100);
    }
    await sleep(500);
    const l = await load.stop();
    console.log(
      `engine stopped in ${stoppedMs} ms; after it came back: first 200 in ${servedAfter} ms, 2 healthy in ${settledAfter} ms; load ${l.ok} ok, ${l.failed} failed (while the engine and its containers were down)`,
    );
    expect(servedAfter).toBeGreaterThanOrEqual(0);
    expect(settledAfter).toBeGreaterThanOrEqual(0);
    const after = await t.status();
    expect(after.services[0].releases.filter((r) => r.status === 'live')).toHaveLength(1);

    // and it deploys as usual
    const d2 = await t.cli(['deploy', '--image', 'demo-web:v2']);
    expect(d2.stderr).toBe('');
    expect(d2.code).toBe(0);
  });
});
