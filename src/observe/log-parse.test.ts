import { levelOf, nsToMs, parseLogLine } from './log-parse';

describe('parseLogLine', () => {
  it('reads pino lines: numeric level, msg, ms time', () => {
    expect(
      parseLogLine(
        '{"level":50,"time":1700000000123,"pid":1,"msg":"db down","err":"ECONNREFUSED"}',
      ),
    ).toEqual({ level: 'error', msg: 'db down', timeMs: 1700000000123 });
  });

  it('reads bunyan and other JSON loggers: ISO time, message, string levels', () => {
    expect(
      parseLogLine('{"name":"app","level":30,"msg":"listening","time":"2023-11-14T22:13:20.000Z"}'),
    ).toEqual({ level: 'info', msg: 'listening', timeMs: 1700000000000 });
    expect(
      parseLogLine('{"level":"WARNING","message":"disk 91%","timestamp":1700000000.5}'),
    ).toEqual({ level: 'warn', msg: 'disk 91%', timeMs: 1700000000500 });
    expect(parseLogLine('  {"severity":"CRITICAL","message":"boom"}  ')).toMatchObject({
      level: 'fatal',
      msg: 'boom',
      timeMs: null,
    });
  });

  it('keeps the whole line as msg when a JSON line has no message', () => {
    const line = '{"level":20,"event":"tick"}';
    expect(parseLogLine(line)).toEqual({ level: 'debug', msg: line, timeMs: null });
  });

  it('gives plain text level null, whatever it says', () => {
    for (const text of [
      'ERROR something failed',
      'listening on :8080',
      '',
      '{not json}',
      '[1,2,3]',
      '{"level":30',
      '"just a string"',
    ]) {
      expect(parseLogLine(text)).toEqual({ level: null, msg: text, timeMs: null });
    }
    expect(parseLogLine('[{"a":1}]').level).toBeNull();
    expect(parseLogLine('{"time":"never","msg":"x"}')).toEqual({
      level: null,
      msg: 'x',
      timeMs: null,
    });
  });
});

describe('levelOf', () => {
  it('maps pino/bunyan numbers by range and names case-insensitively', () => {
    expect([10, 20, 30, 40, 50, 60, 5, 35, 70].map(levelOf)).toEqual([
      'trace',
      'debug',
      'info',
      'warn',
      'error',
      'fatal',
      'trace',
      'warn',
      'fatal',
    ]);
    expect(['Info', 'err', 'notice', 'panic', '40', 'verbose', ''].map(levelOf)).toEqual([
      'info',
      'error',
      'info',
      'fatal',
      'warn',
      null,
      null,
    ]);
    expect(levelOf(undefined)).toBeNull();
    expect(levelOf(Number.NaN)).toBeNull();
    expect(levelOf(true)).toBeNull();
  });
});

describe('nsToMs', () => {
  it('turns fixed-width ns timestamps into ms', () => {
    expect(nsToMs('1700000000.123456789')).toBe(1700000000123);
    expect(nsToMs('0000000001.000000000')).toBe(1000);
    expect(nsToMs('1700000000.5')).toBe(1700000000500);
    expect(nsToMs('1700000000')).toBe(1700000000000);
  });
});
