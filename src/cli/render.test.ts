import { colours } from './render';
import { printEvent } from './deploy';

describe('colours', () => {
  it('paints only on a TTY, never with NO_COLOR or TERM=dumb', () => {
    expect(colours({ isTTY: true }, {})('green', 'ok')).toBe('\x1b[32mok\x1b[0m');
    expect(colours({ isTTY: false }, {})('green', 'ok')).toBe('ok');
    expect(colours({}, {})('red', 'x')).toBe('x');
    expect(colours({ isTTY: true }, { NO_COLOR: '1' })('red', 'x')).toBe('x');
    expect(colours({ isTTY: true }, { TERM: 'dumb' })('red', 'x')).toBe('x');
  });
});

describe('printEvent', () => {
  const capture = () => {
    const lines: string[] = [];
    const errs: string[] = [];
    return {
      lines,
      errs,
      out: {
        json: false,
        line: (s: string) => lines.push(s),
        err: (s: string) => errs.push(s),
        data: () => {},
      },
    };
  };
  const tty = colours({ isTTY: true }, {});
  const plain = colours({ isTTY: false }, {});

  it('colours a terminal: causes dim, live green, failures red', () => {
    const c = capture();
    printEvent(c.out, { type: 'step', message: '[1/2] start', data: { cause: 'why' } }, tty, tty);
    printEvent(c.out, { type: 'live', message: 'web r2 is live' }, tty, tty);
    printEvent(c.out, { type: 'failed', message: 'boom' }, tty, tty);
    expect(c.lines).toEqual([
      '→ [1/2] start\x1b[2m  (why)\x1b[0m',
      '\x1b[32m  web r2 is live\x1b[0m',
    ]);
    expect(c.errs).toEqual(['\x1b[31m✗ boom\x1b[0m']);
  });

  it('prints plain text elsewhere (pipes, CI logs)', () => {
    const c = capture();
    printEvent(
      c.out,
      { type: 'step', message: '[1/2] start', data: { cause: 'why' } },
      plain,
      plain,
    );
    printEvent(c.out, { type: 'step-failed', message: 'nope' }, plain, plain);
    expect(c.lines).toEqual(['→ [1/2] start  (why)', '  nope']);
  });
});
