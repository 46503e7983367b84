// Daemon upgrade with the old daemon in this process (so coverage sees the
// handover's old side): a successor that cannot start changes nothing; a good
// one takes the sockets under load, and this daemon drains and shuts down.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Daemon } from '../src/daemon';
import { loadConfig } from '../src/config/load';
import { startLoadProcess } from '../scripts/lib/load.js';
import { BIN, TestProject } from './support/harness';

jest.setTimeout(120_000);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('daemon upgrade, the old daemon in process', () => {
  const t = new TestProject();
  let daemon: Daemon;
  let successor = 0;

  beforeAll(async () => {
    await t.init({ replicas: 1, drainTimeout: '3s' });
    daemon = await Daemon.start(loadConfig({ path: path.join(t.dir, 'shipit.yml') }), {
      log: pino({ level: process.env.SHIPIT_TEST_LOG ?? 'silent' }),
    });
    await daemon.deployMissing();
  });
  afterAll(async () => {
    await t.cli(['down', '--remove']);
    if (successor) {
      try {
        process.kill(successor, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (!daemon.replaced) await daemon.shutdown(true);
    await t.cleanup();
  });

  it('a successor that fails to start changes nothing: this daemon keeps serving', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-bad-'));
    const script = path.join(dir, 'shipit.js');
    fs.writeFileSync(script, 'process.exit(7)\n');
    try {
      await expect(daemon.handOver({ node: process.execPath, script })).rejects.toThrow(
        /exited \(code 7\) before it was ready/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const s = await t.cli(['status', '--json']);
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout).pid).toBe(process.pid);
    // every lock was given back: the service can be operated again
    expect(daemon.locks.holder('web')).toBeUndefined();
  });

  it('hands over under load with 0 failed requests, then drains and shuts down', async () => {
    const load = startLoadProcess({
      port: t.port,
      clients: 10,
      slowClients: 2,
      slowPath: '/slow?1',
    });
    await load.ready;
    await sleep(500);
    const r = await daemon.handOver({ node: process.execPath, script: BIN });
    successor = r.to;
    expect(r.from).toBe(process.pid);
    await expect(daemon.handOver({ node: process.execPath, script: BIN })).rejects.toMatchObject({
      code: 'conflict',
    });
    await daemon.closed;
    expect(daemon.replaced).toBe(true);
    await sleep(500);
    const s = await load.stop();
    expect(s.failed).toBe(0);
    expect(s.slowFailed).toBe(0);
    const st = await t.cli(['status', '--json']);
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout).pid).toBe(r.to);
  });
});
