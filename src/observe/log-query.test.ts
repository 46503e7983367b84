import { DEFAULT_LOG_LIMIT, parseLogRequest, parseSince } from './log-query';

const NOW = 1_700_000_000_000;
const parse = (qs: string) => parseLogRequest(new URLSearchParams(qs), NOW);

describe('parseLogRequest', () => {
  it('defaults: container logs, newest 100, no follow', () => {
    expect(parse('')).toEqual({ access: false, follow: false, limit: DEFAULT_LOG_LIMIT });
  });

  it('reads every parameter', () => {
    expect(
      parse('service=web&release=3&since=5m&grep=err(or)?&limit=20&after=41&follow=1&access=0'),
    ).toEqual({
      access: false,
      follow: true,
      limit: 20,
      service: 'web',
      release: 3,
      sinceMs: NOW - 300_000,
      grep: 'err(or)?',
      afterId: 41,
    });
    expect(parse('access=1&follow=true&limit=0')).toMatchObject({
      access: true,
      follow: true,
      limit: 0,
    });
  });

  it('rejects bad values with usage errors that name the parameter', () => {
    const bad: [string, RegExp][] = [
      ['grep=(unclosed', /^grep: invalid regular expression/],
      [`grep=${'a'.repeat(1001)}`, /^grep: the pattern is longer/],
      ['since=yesterday', /^since: expected a duration like "5m"/],
      ['limit=-1', /^limit: expected a whole number from 0 to 100000, got "-1"/],
      ['limit=100001', /^limit: /],
      ['limit=ten', /^limit: /],
      ['release=0', /^release: /],
      ['after=1.5', /^after: /],
      ['service=Web!', /^service: expected a service name/],
    ];
    for (const [qs, msg] of bad) {
      let err: unknown;
      try {
        parse(qs);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'usage', exitCode: 2, httpStatus: 400 });
      expect((err as Error).message).toMatch(msg);
    }
  });
});

describe('parseSince', () => {
  it('takes durations back from now, ms epochs and ISO times', () => {
    expect(parseSince('90s', NOW)).toBe(NOW - 90_000);
    expect(parseSince('1h30m', NOW)).toBe(NOW - 5_400_000);
    expect(parseSince('2d', NOW)).toBe(NOW - 172_800_000);
    expect(parseSince('1699999999000', NOW)).toBe(1_699_999_999_000);
    expect(parseSince('2023-11-14T22:13:20Z', NOW)).toBe(1_700_000_000_000);
    expect(parseSince('2023-11-14', NOW)).toBe(Date.parse('2023-11-14'));
    expect(() => parseSince('2023-99-99', NOW)).toThrow(/since: expected/);
    expect(() => parseSince('-5m', NOW)).toThrow(/since: expected/);
  });
});
