import { FakeTerminal } from '../testing/fake-terminal';
import { colours } from './render';
import { LiveProgress, elapsed, eventLine, eventSink, fit } from './progress';

const plain = colours({ isTTY: false }, {});
const tty = colours({ isTTY: true }, {});
/** A colour (SGR) escape sequence. */
const SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`);

/** What the daemon streams for a blue/green deploy of web r2 over r1 (executor + deployer). */
const ev = (type: string, message: string, data?: Record<string, unknown>) => ({
  service: 'web',
  release: 2,
  at: 0,
  type,
  message,
  ...(data ? { data } : {}),
});
const PLAN = ev(
  'plan',
  'plan: web r2 (blue-green)\n  1. start 2 container(s) of r2  — replaces r1\n  2. wait until r2 is healthy (timeout 60000ms)  — before any traffic',
);
const step = (k: number, text: string, kind: string, extra: Record<string, unknown> = {}) =>
  ev('step', `[${k}/4] ${text}`, { cause: `cause ${k}`, kind, ...extra });
const done = (k: number, ms: number) => ev('step-done', `[${k}/4] done in ${ms}ms`);

function setup(columns = 100) {
  const log: { name: string; text: string }[] = [];
  const out = new FakeTerminal(columns, log, 'out');
  const err = new FakeTerminal(columns, log, 'err');
  let t = 1_000;
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) };
  const live = new LiveProgress(out, err, plain, clock.now, plain, 'deploy web');
  return { out, err, log, clock, live };
}

describe('LiveProgress (the live deploy display on a terminal)', () => {
  it('shows the current step in a status line, and finished steps as lines above it', () => {
    const { out, clock, live } = setup();
    expect(out.cursorHidden).toBe(true);
    live.tick();
    expect(out.current()).toBe('⠙ deploy web · 0.0s');
    live.event(PLAN);
    expect(out.screen().slice(0, 3)).toEqual(PLAN.message.split('\n'));
    live.event(step(1, 'start 2 container(s) of r2', 'start'));
    clock.advance(1200);
    live.tick();
    expect(out.current()).toBe('⠹ [1/4] start 2 container(s) of r2 · 1.2s');
    live.event(ev('info', 'started web-r2-1, web-r2-2'));
    live.event(done(1, 1180));
    live.event(step(2, 'wait until r2 is healthy (timeout 60000ms)', 'wait-healthy'));
    live.event(ev('health', 'r2: 0/2 healthy', { healthy: 0, total: 2 }));
    expect(out.current()).toBe('⠹ [2/4] health-checking r2: 0/2 healthy · 1.2s');
    clock.advance(800);
    live.event(ev('health', 'r2: 1/2 healthy', { healthy: 1, total: 2 }));
    expect(out.current()).toBe('⠹ [2/4] health-checking r2: 1/2 healthy · 2.0s');
    live.event(ev('health', 'r2: 2/2 healthy', { healthy: 2, total: 2 }));
    live.event(done(2, 820));
    live.event(step(3, 'route r2=100%', 'set-weights', { weights: { 2: 100 } }));
    live.event(done(3, 3));
    expect(out.current()).toBe('⠹ deploy web r2 · traffic r2=100% · 2.0s');
    live.event(step(4, 'record r2 as live', 'mark'));
    live.event(done(4, 1));
    live.event(ev('live', 'web r2 is live'));
    live.close();
    expect(out.screen()).toEqual([
      ...PLAN.message.split('\n'),
      '  started web-r2-1, web-r2-2',
      '✓ [1/4] start 2 container(s) of r2  (cause 1)  1.2s',
      '✓ [2/4] wait until r2 is healthy (timeout 60000ms)  (cause 2)  820ms',
      '✓ [3/4] route r2=100%  (cause 3)  3ms',
      '✓ [4/4] record r2 as live  (cause 4)  1ms',
      '  web r2 is live',
      '', // the status line, cleared: the outcome line goes here
    ]);
    expect(out.cursorHidden).toBe(false);
    expect(out.writes.join('')).not.toMatch(SGR); // no colour when not asked
  });

  it('keeps the last traffic weights and shows canary analysis while paused', () => {
    const { out, live } = setup(200);
    live.event(step(1, 'route r1=90%, r2=10%', 'set-weights', { weights: { 1: 90, 2: 10 } }));
    live.event(done(1, 2));
    live.event(step(2, 'pause 60000ms with analysis', 'pause'));
    live.event(ev('analysis', 'r2: 120 requests, error_rate 0.000, p99 <= 25ms'));
    expect(out.current()).toBe(
      '⠋ [2/4] pause 60000ms with analysis · r2: 120 requests, error_rate 0.000, p99 <= 25ms · traffic r1=90% r2=10% · 0.0s',
    );
  });

  it('rewrites the status line only when its text changes', () => {
    const { out, clock, live } = setup();
    live.event(step(1, 'start 2 container(s) of r2', 'start'));
    const n = out.writes.length;
    live.event(ev('health', 'r2: 0/2 healthy'));
    live.event(ev('health', 'r2: 0/2 healthy'));
    expect(out.writes.length).toBe(n + 1); // the first changed the line, the second nothing
    clock.advance(30);
    live.tick();
    live.tick();
    expect(out.writes.length).toBe(n + 3); // each tick moves the spinner
    const last = out.writes.at(-1)!; // overwritten in one write, no blank frame
    expect([last.startsWith('\r⠹ '), last.endsWith('\x1b[K')]).toEqual([true, true]);
  });

  it('fits the status line to the width, following a resize, so it never wraps', () => {
    const { out, live } = setup(30);
    live.event(step(2, 'wait until r2 is healthy (timeout 60000ms)', 'wait-healthy'));
    expect(out.current()).toBe('⠋ [2/4] wait until r2… · 0.0s');
    expect(Array.from(out.current())).toHaveLength(29);
    out.columns = 20;
    live.tick();
    expect(out.current()).toBe('⠙ [2/4] wait until…');
    expect(Array.from(out.current())).toHaveLength(19);
    out.columns = 0; // unknown width: 80
    live.tick();
    expect(out.current()).toBe('⠹ [2/4] wait until r2 is healthy (timeout 60000ms) · 0.0s');
  });

  it('on failure: the failed step, the compensation, then the error on stderr below a cleared status', () => {
    const { out, err, log, live } = setup();
    live.event(step(2, 'wait until r2 is healthy (timeout 500ms)', 'wait-healthy'));
    live.event(ev('health', 'r2: 0/1 healthy'));
    live.event(ev('step-failed', 'web-r2-1 did not become healthy within 500ms', { step: 2 }));
    expect(out.current()).toBe('⠋ returning to the previous release · 0.0s');
    live.event(ev('compensate', 'stop and remove the containers of r2', { cause: 'undo' }));
    live.event(ev('failed', 'web-r2-1 did not become healthy within 500ms'));
    live.close();
    expect(out.screen()).toEqual([
      '✗ [2/4] wait until r2 is healthy (timeout 500ms)',
      '  web-r2-1 did not become healthy within 500ms',
      '  stop and remove the containers of r2',
      '',
    ]);
    expect(err.screen()).toEqual(['✗ web-r2-1 did not become healthy within 500ms', '']);
    // stdout had no status line left when stderr was written
    const before = log.slice(
      0,
      log.findIndex((w) => w.name === 'err'),
    );
    const screen = new FakeTerminal(100);
    before.forEach((w) => screen.write(w.text));
    expect(screen.current()).toBe('');
  });

  it('paints the marks on a colour terminal; cursor control either way', () => {
    const out = new FakeTerminal();
    const live = new LiveProgress(out, new FakeTerminal(), tty, () => 0, tty);
    live.event(step(1, 'start 2 container(s) of r2', 'start'));
    live.event(done(1, 5));
    expect(out.writes.join('')).toContain('\x1b[32m✓\x1b[0m [1/4] start 2 container(s) of r2');
    live.close();
    expect(out.writes[0]).toBe('\x1b[?25l');
    expect(out.writes.at(-1)!.endsWith('\x1b[?25h')).toBe(true);
  });

  it('ignores events and ticks after close, and closes once', () => {
    const { out, live } = setup();
    live.event(step(1, 'start 2 container(s) of r2', 'start'));
    live.close();
    const n = out.writes.length;
    live.close();
    live.tick();
    live.event(done(1, 5));
    expect(out.writes.length).toBe(n);
  });

  it('prints an unknown step-done as it came', () => {
    const { out, live } = setup();
    live.event(ev('step-done', 'something else'));
    live.close();
    expect(out.screen()[0]).toBe('  something else');
  });
});

describe('eventLine (the plain lines, shared by pipes and the live display)', () => {
  it('leaves the live-only events out', () => {
    expect(eventLine(ev('health', 'r2: 1/2 healthy'), plain)).toBeNull();
    expect(eventLine(done(1, 5), plain)).toBeNull();
    expect(eventLine(ev('failed', 'boom'), plain)).toEqual({ to: 'err', text: '✗ boom' });
    expect(eventLine(ev('info', 'started x'), plain)).toEqual({ to: 'out', text: '  started x' });
  });
});

describe('eventSink', () => {
  it('prints plain lines when stdout is not a terminal (as under jest)', () => {
    const lines: string[] = [];
    const out = { json: false, line: (s: string) => lines.push(s), err: () => {}, data: () => {} };
    const isTTY = process.stdout.isTTY;
    process.stdout.isTTY = false;
    try {
      const sink = eventSink(out, 'web', 'deploy', true, {});
      sink.event(step(1, 'start 2 container(s) of r2', 'start'));
      sink.event(ev('health', 'r2: 1/2 healthy'));
      sink.close();
    } finally {
      process.stdout.isTTY = isTTY;
    }
    expect(lines).toEqual(['→ [1/4] start 2 container(s) of r2  (cause 1)']);
  });
});

describe('eventSink on a terminal', () => {
  it('draws the live display on stdout, and on close leaves no timer or signal handler', () => {
    const term = new FakeTerminal();
    const write = jest
      .spyOn(process.stdout, 'write')
      .mockImplementation((c) => term.write(String(c)));
    const isTTY = process.stdout.isTTY;
    process.stdout.isTTY = true;
    const before = process.listenerCount('SIGINT');
    const out = { json: false, line: () => {}, err: () => {}, data: () => {} };
    try {
      const sink = eventSink(out, 'web', 'rollback', false, { NO_COLOR: '1' });
      expect(process.listenerCount('SIGINT')).toBe(before + 1);
      sink.event(step(1, 'start 2 container(s) of r2', 'start'));
      expect(term.current()).toMatch(/^⠋ \[1\/4\] start 2 container\(s\) of r2 · \d\.\ds$/);
      sink.event(done(1, 5));
      sink.close();
      expect(process.listenerCount('SIGINT')).toBe(before);
      expect(term.screen()).toEqual(['✓ [1/4] start 2 container(s) of r2  (cause 1)  5ms', '']);
      expect(term.cursorHidden).toBe(false);
    } finally {
      process.stdout.isTTY = isTTY;
      write.mockRestore();
    }
  });

  it('--json: the events as NDJSON, never the display', () => {
    const data: unknown[] = [];
    const out = { json: true, line: () => {}, err: () => {}, data: (o: unknown) => data.push(o) };
    const isTTY = process.stdout.isTTY;
    process.stdout.isTTY = true;
    try {
      const sink = eventSink(out, 'web', 'deploy', true, {});
      sink.event(ev('health', 'r2: 1/2 healthy'));
      sink.close();
    } finally {
      process.stdout.isTTY = isTTY;
    }
    expect(data).toEqual([ev('health', 'r2: 1/2 healthy')]);
  });
});

describe('fit and elapsed', () => {
  it('cuts by characters with an ellipsis', () => {
    expect(fit('⠋ abc', 10)).toBe('⠋ abc');
    expect(fit('⠋ abcdef', 5)).toBe('⠋ ab…');
    expect(fit('abc', 1)).toBe('a');
    expect(fit('abc', 0)).toBe('');
  });
  it('counts tenths under a minute, then minutes', () => {
    expect(elapsed(0)).toBe('0.0s');
    expect(elapsed(12_345)).toBe('12.3s');
    expect(elapsed(61_000)).toBe('1m01s');
  });
});
