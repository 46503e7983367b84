// `shipit history --audit` and `shipit token rotate` against the real API server over a unix
// socket, with a stand-in control plane.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ApiServer } from '../api/server';
import { ensureToken, rotateTokenFile } from '../api/auth';
import type { AuditEntry } from '../ports/audit';
import { fakePlane } from '../testing/api-client';
import { runCli as run } from '../testing/cli';
import { auditTable, detailText } from './audit';

const entry = (over: Partial<AuditEntry>): AuditEntry => ({
  id: 1,
  at: Date.UTC(2024, 0, 2, 3, 4, 5),
  who: 'token',
  address: 'unix',
  method: 'POST',
  path: '/v1/services/web/deploy',
  action: 'deploy',
  target: 'web',
  result: 'ok',
  status: 200,
  detail: { image: 'app:2', strategy: 'rolling', release: 3 },
  ...over,
});

const ENTRIES = [
  entry({}),
  entry({
    id: 2,
    who: 'anonymous',
    address: '10.1.2.3',
    path: '/v1/token/rotate',
    action: 'token-rotate',
    target: null,
    result: 'refused',
    status: 429,
    detail: {},
  }),
  entry({
    id: 3,
    method: 'PUT',
    path: '/v1/x',
    action: null,
    target: null,
    result: 'failed',
    status: 404,
    detail: { error: 'no route PUT /v1/x' },
  }),
];

describe('shipit history --audit and shipit token rotate', () => {
  let dir: string;
  let cfg: string;
  let tokenFile: string;
  let daemonFile: string;
  let api: ApiServer;
  let limits: (number | undefined)[];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-cli-audit-'));
    cfg = path.join(dir, 'shipit.yml');
    fs.writeFileSync(cfg, 'project: demo\nservices:\n  web: { image: demo-web:v1, port: 8080 }\n');
    tokenFile = path.join(dir, '.shipit', 'token');
    daemonFile = tokenFile;
    limits = [];
    const f = fakePlane({
      auditLog: (limit) => (limits.push(limit), { entries: ENTRIES }),
      rotateToken: () => ({ token: rotateTokenFile(daemonFile), file: daemonFile }),
    });
    api = new ApiServer(f.plane, ensureToken(tokenFile), pino({ level: 'silent' }));
    await api.listen({ socketPath: path.join(dir, '.shipit', 'daemon.sock') });
  });
  afterEach(async () => {
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('history --audit prints a table, newest last, asking for -n rows', async () => {
    const r = await run(['history', '--audit', '-n', '3', '--config', cfg]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toBe(
      [
        'when                 who        from      action        target  result   status  detail',
        '2024-01-02 03:04:05  token      unix      deploy        web     ok       200     image=app:2 strategy=rolling release=3',
        '2024-01-02 03:04:05  anonymous  10.1.2.3  token-rotate  -       refused  429     ',
        '2024-01-02 03:04:05  token      unix      PUT /v1/x     -       failed   404     error=no route PUT /v1/x',
        '',
      ].join('\n'),
    );
    expect(limits).toEqual([3]);
  });

  it('history --audit --json prints the entries; a SERVICE with --audit is a usage error', async () => {
    const r = await run(['history', '--audit', '--json', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ entries: ENTRIES });
    expect(limits).toEqual([20]);
    const bad = await run(['history', 'web', '--audit', '--config', cfg]);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('drop the SERVICE')]);
  });

  it('token rotate: says where the new token is, never prints it; the old one stops working', async () => {
    const old = fs.readFileSync(tokenFile, 'utf8').trim();
    const r = await run(['token', 'rotate', '--config', cfg]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const fresh = fs.readFileSync(tokenFile, 'utf8').trim();
    expect(fresh).not.toBe(old);
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(r.stdout).toContain(`the daemon wrote the new one to ${tokenFile}`);
    expect(r.stdout).toContain('the old token is refused from now on');
    expect(r.stdout).not.toContain(fresh);
    expect((await run(['status', '--config', cfg], { SHIPIT_TOKEN: old })).code).toBe(3);
    expect((await run(['history', '--audit', '--config', cfg])).code).toBe(0);
  });

  it('token rotate --show prints only the token on stdout; --json has it only with --show', async () => {
    const r = await run(['token', 'rotate', '--show', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${fs.readFileSync(tokenFile, 'utf8').trim()}\n`);
    expect(r.stderr).toContain('API token rotated');
    const j = await run(['token', 'rotate', '--json', '--config', cfg]);
    expect(JSON.parse(j.stdout)).toEqual({ ok: true, file: tokenFile });
    const js = await run(['token', 'rotate', '--json', '--show', '--config', cfg]);
    expect(JSON.parse(js.stdout)).toEqual({
      ok: true,
      file: tokenFile,
      token: fs.readFileSync(tokenFile, 'utf8').trim(),
    });
  });

  it('token rotate from a client with its own copy of the token file (another host) updates that copy', async () => {
    daemonFile = path.join(dir, 'daemon-host-token');
    const r = await run(['token', 'rotate', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(tokenFile, 'utf8')).toBe(fs.readFileSync(daemonFile, 'utf8'));
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(r.stdout).toContain(`and this client's copy ${tokenFile} was updated`);
  });

  it('token rotate with SHIPIT_TOKEN: leaves the file alone and says the variable is stale', async () => {
    daemonFile = path.join(dir, 'daemon-host-token');
    const before = fs.readFileSync(tokenFile, 'utf8');
    const r = await run(['token', 'rotate', '--config', cfg], { SHIPIT_TOKEN: before.trim() });
    expect(r.code).toBe(0);
    expect(fs.readFileSync(tokenFile, 'utf8')).toBe(before);
    expect(r.stdout).toContain('SHIPIT_TOKEN still holds the old token');
  });

  it('token --help and token rotate --help explain it, with examples', async () => {
    // yargs prints help with console.log, which jest may take over: read it from both.
    const help = async (args: string[]) => {
      const logged: string[] = [];
      const spy = jest.spyOn(console, 'log').mockImplementation((s) => void logged.push(String(s)));
      try {
        const r = await run(args);
        expect(r.code).toBe(0);
        return r.stdout + logged.join('\n');
      } finally {
        spy.mockRestore();
      }
    };
    const h = await help(['token', 'rotate', '--help']);
    expect(h).toContain('the old one is refused at once');
    expect(h).toContain('--show');
    expect(h).toContain('shipit token rotate');
    expect((await run(['token'])).code).toBe(2);
    expect(await help(['history', '--help'])).toContain('--audit');
  });
});

describe('audit rendering', () => {
  it('detailText: key=value, strings bare, others as JSON, nulls dropped', () => {
    expect(detailText({ a: 'x y', n: 3, b: true, o: { k: 1 }, z: null, u: undefined })).toBe(
      'a=x y n=3 b=true o={"k":1}',
    );
  });

  it('auditTable shows "-" for what a row lacks', () => {
    expect(
      auditTable([entry({ address: '', target: null, status: null, result: 'unknown' })]),
    ).toContain('token  -     deploy  -       unknown  -');
  });
});
