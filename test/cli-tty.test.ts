// `shipit deploy` on a real pseudo-terminal (util-linux `script`): the live display, and the
// plain lines of the same deploy when piped. A stand-in control plane streams the events a
// blue/green deploy streams, with pauses, over the real API server.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ApiServer } from '../src/api/server';
import { ensureToken } from '../src/api/auth';
import { fakePlane } from '../src/testing/api-client';
import { FakeTerminal } from '../src/testing/fake-terminal';
import { BIN } from './support/harness';

const ESC = String.fromCharCode(27);
const hasScript = spawnSync('script', ['--version']).status === 0;

const ev = (type: string, message: string, data?: Record<string, unknown>) => ({
  service: 'web',
  release: 2,
  at: 0,
  type,
  message,
  ...(data ? { data } : {}),
});
const EVENTS = [
  ev('plan', 'plan: web r2 (blue-green)\n  1. start 2 container(s) of r2  — replaces r1'),
  ev('step', '[1/3] start 2 container(s) of r2', { cause: 'replaces r1', kind: 'start' }),
  ev('step-done', '[1/3] done in 310ms'),
  ev('step', '[2/3] wait until r2 is healthy (timeout 60000ms)', {
    cause: 'before any traffic',
    kind: 'wait-healthy',
  }),
  ev('health', 'r2: 0/2 healthy', { healthy: 0, total: 2 }),
  ev('health', 'r2: 1/2 healthy', { healthy: 1, total: 2 }),
  ev('health', 'r2: 2/2 healthy', { healthy: 2, total: 2 }),
  ev('step-done', '[2/3] done in 900ms'),
  ev('step', '[3/3] route r2=100%', { cause: 'flip', kind: 'set-weights', weights: { 2: 100 } }),
  ev('step-done', '[3/3] done in 2ms'),
  ev('live', 'web r2 is live'),
];

(hasScript ? describe : describe.skip)('shipit deploy on a terminal', () => {
  let dir: string;
  let cfg: string;
  let api: ApiServer;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-tty-'));
    cfg = path.join(dir, 'shipit.yml');
    fs.writeFileSync(cfg, 'project: demo\nservices:\n  web: { image: demo-web:v1, port: 8080 }\n');
    const f = fakePlane({
      deploy: async (body, service, sink) => {
        // --image x:slow: stuck at 1/2 healthy for a while, to be interrupted.
        const slow = body.spec.image.endsWith(':slow');
        for (const e of EVENTS) {
          sink(e);
          // Long enough for the timer to redraw the status line between events.
          const stuck = slow && e.message === 'r2: 1/2 healthy';
          await new Promise((r) => setTimeout(r, stuck ? 5000 : e.type === 'health' ? 250 : 60));
        }
        return { service, release: 2, plan: '', dryRun: false, durationMs: 1234 };
      },
    });
    api = new ApiServer(
      f.plane,
      ensureToken(path.join(dir, '.shipit', 'token')),
      pino({ level: 'silent' }),
    );
    await api.listen({ socketPath: path.join(dir, '.shipit', 'daemon.sock') });
  });
  afterAll(async () => {
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the CLI, on a 40-column pseudo-terminal when `tty`; resolves with its output. */
  function run(
    tty: boolean,
    env: Record<string, string | undefined> = {},
    extra = '',
    onOutput?: (out: string, input: NodeJS.WritableStream) => void,
  ) {
    const cli = `"${process.execPath}" "${BIN}" deploy --config "${cfg}"${extra}`;
    const [cmd, args] = tty
      ? ['script', ['-qec', `stty cols 40 rows 20; exec ${cli}`, '/dev/null']]
      : ['sh', ['-c', cli]];
    const child = spawn(cmd, args as string[], {
      env: { ...process.env, TERM: 'xterm', NO_COLOR: undefined, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      onOutput?.(out, child.stdin);
    });
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    return new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
      child.on('close', (code) => resolve({ code, out, err })),
    );
  }

  const finalScreen = (raw: string) => {
    const term = new FakeTerminal(60);
    term.write(raw);
    return term.screen().filter((l, i, all) => l || i < all.length - 1);
  };

  it('shows a live status line, then leaves only the finished steps and the outcome', async () => {
    const r = await run(true);
    expect([r.code, r.err]).toEqual([0, '']);
    expect(r.out.startsWith(`${ESC}[?25l`)).toBe(true); // cursor hidden while drawing
    expect(r.out).toMatch(/\r[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] \[2\/3\] health-checking r2: 1\/2… · \d\.\ds/);
    expect(r.out).toContain(`${ESC}[?25h`); // and shown again
    expect(r.out).toContain(`${ESC}[32m✓${ESC}[0m`); // colour on a terminal
    // Every status line fits in the 39 columns left of the cursor: it never wraps.
    const status = r.out.split('\r').filter((s) => /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] /.test(s));
    expect(status.length).toBeGreaterThan(5);
    for (const s of status) expect(Array.from(s.split(`${ESC}[K`)[0]).length).toBeLessThan(40);
    expect(finalScreen(r.out)).toEqual([
      'plan: web r2 (blue-green)',
      '  1. start 2 container(s) of r2  — replaces r1',
      '✓ [1/3] start 2 container(s) of r2  (replaces r1)  310ms',
      '✓ [2/3] wait until r2 is healthy (timeout 60000ms)  (before any traffic)  900ms',
      '✓ [3/3] route r2=100%  (flip)  2ms',
      '  web r2 is live',
      '✓ web r2 is live in 1.2s',
    ]);
  });

  it('Ctrl-C: clears the status line, shows the cursor, says the deploy goes on; exit 130', async () => {
    let sent = false;
    const r = await run(true, {}, ' --image demo-web:slow', (out, input) => {
      if (sent || !out.includes('1/2')) return;
      sent = true;
      input.write('\x03'); // the terminal's ^C: SIGINT to the foreground process
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    const tail = r.out.slice(r.out.lastIndexOf('1/2'));
    expect(tail).toContain(`${ESC}[2K${ESC}[?25h`);
    const screen = finalScreen(r.out).join('\n');
    expect(screen).toContain(
      'stopped watching; the deploy of web goes on in the daemon: see shipit status web, or stop it with shipit abort web',
    );
    expect(screen).not.toContain('health-checking');
  });

  it('with NO_COLOR: the same display without colour codes', async () => {
    const r = await run(true, { NO_COLOR: '1' });
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(new RegExp(`${ESC}\\[[0-9;]*m`));
    expect(r.out).toContain('health-checking r2:');
    expect(finalScreen(r.out).at(-1)).toBe('✓ web r2 is live in 1.2s');
  });

  it('piped: the plain lines, no control codes at all', async () => {
    const r = await run(false);
    expect([r.code, r.err]).toEqual([0, '']);
    expect(r.out).toBe(
      [
        'plan: web r2 (blue-green)',
        '  1. start 2 container(s) of r2  — replaces r1',
        '→ [1/3] start 2 container(s) of r2  (replaces r1)',
        '→ [2/3] wait until r2 is healthy (timeout 60000ms)  (before any traffic)',
        '→ [3/3] route r2=100%  (flip)',
        '  web r2 is live',
        '✓ web r2 is live in 1.2s',
        '',
      ].join('\n'),
    );
  });
});
