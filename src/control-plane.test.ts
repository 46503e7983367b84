// The control plane as the daemon wires it (FakeRuntime, no Docker): the token file check at
// start, `shipit token rotate` rewriting the daemon's own token file, and the audit log in state.db.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from './config/load';
import { Daemon } from './daemon';
import { ShipitError } from './domain/errors';
import { FakeRuntime } from './testing/fake-runtime';
import { runCli as run } from './testing/cli';

const silent = pino({ level: 'silent' });

describe('control plane wiring in the daemon', () => {
  let dir: string;
  let cfgPath: string;
  let tokenFile: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-cp-'));
    cfgPath = path.join(dir, 'shipit.yml');
    fs.writeFileSync(
      cfgPath,
      'project: cp\nproxy:\n  listen: 127.0.0.1:0\nservices:\n  web: { image: demo-web:v1, port: 8080 }\n',
    );
    tokenFile = path.join(dir, '.shipit', 'token');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses to start when the token file is readable by others: exit 2, file, mode and fix', async () => {
    fs.mkdirSync(path.dirname(tokenFile));
    fs.writeFileSync(tokenFile, 'some-token\n', { mode: 0o644 });
    fs.chmodSync(tokenFile, 0o644);
    const err = await Daemon.start(loadConfig({ path: cfgPath }), {
      runtime: new FakeRuntime(),
      log: silent,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShipitError);
    expect((err as ShipitError).exitCode).toBe(2);
    expect((err as ShipitError).message).toContain(`${tokenFile} has mode 0644`);
    expect((err as ShipitError).message).toContain(`chmod 600 ${tokenFile}`);
    // `up --detach` checks before it spawns the daemon, so the user sees the reason at once.
    const up = await run(['up', '--detach', '--config', cfgPath]);
    expect(up.code).toBe(2);
    expect(up.stderr).toContain(`chmod 600 ${tokenFile}`);
  });

  it('starts without an access log when its file cannot be opened, and says so', async () => {
    fs.mkdirSync(path.join(dir, '.shipit', 'access.log'), { recursive: true }); // a directory
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => lines.push(l) });
    const daemon = await Daemon.start(loadConfig({ path: cfgPath }), {
      runtime: new FakeRuntime(),
      log,
    });
    try {
      expect((await run(['status', '--config', cfgPath])).code).toBe(0);
      expect(lines.map((l) => JSON.parse(l) as { msg: string; err: string })).toContainEqual(
        expect.objectContaining({
          msg: 'cannot open the access log: running without it',
          err: expect.stringMatching(/EISDIR/),
        }),
      );
    } finally {
      await daemon.shutdown(false);
    }
  });

  it('token rotate rewrites the daemon token file; the audit log lands in state.db', async () => {
    const daemon = await Daemon.start(loadConfig({ path: cfgPath }), {
      runtime: new FakeRuntime(),
      log: silent,
    });
    try {
      const old = fs.readFileSync(tokenFile, 'utf8').trim();
      const r = await run(['token', 'rotate', '--config', cfgPath]);
      expect([r.code, r.stderr]).toEqual([0, '']);
      const fresh = fs.readFileSync(tokenFile, 'utf8').trim();
      expect(fresh).not.toBe(old);
      expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
      expect((await run(['status', '--config', cfgPath], { SHIPIT_TOKEN: old })).code).toBe(3);
      expect((await run(['status', '--config', cfgPath])).code).toBe(0);
      const h = await run(['history', '--audit', '--json', '--config', cfgPath]);
      expect(JSON.parse(h.stdout).entries).toEqual([
        expect.objectContaining({
          who: 'token',
          address: 'unix',
          method: 'POST',
          path: '/v1/token/rotate',
          action: 'token-rotate',
          result: 'ok',
          status: 200,
          detail: { file: tokenFile },
        }),
      ]);
    } finally {
      await daemon.shutdown(false);
    }
  });
});
