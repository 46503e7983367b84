import { ShipitError } from '../domain/errors';
import {
  describeValue,
  formatDuration,
  parseDuration,
  parseSize,
  tryParseDuration,
  tryParseSize,
} from './duration';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    [' 2s ', 2000],
    ['250', 250],
    [0, 0],
    [1500, 1500],
  ])('%p -> %p ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['fast', '', '5x', '-1s', 's', '1.5', '1 s'])(
    'rejects %p with a usage error',
    (input) => {
      expect(() => parseDuration(input)).toThrow(ShipitError);
      expect(() => parseDuration(input)).toThrow(`expected a duration like "5s", got "${input}"`);
    },
  );

  it('rejects negative, fractional and unsafe numbers', () => {
    expect(() => parseDuration(-1)).toThrow('expected a duration like "5s", got -1');
    expect(() => parseDuration(1.5)).toThrow('got 1.5');
    expect(tryParseDuration(Number.MAX_SAFE_INTEGER + 2)).toBeUndefined();
    expect(tryParseDuration('99999999999999999999d')).toBeUndefined();
    expect(tryParseDuration(NaN)).toBeUndefined();
    expect(tryParseDuration(null)).toBeUndefined();
  });

  it('throws a usage error (exit code 2)', () => {
    try {
      parseDuration('soon');
      throw new Error('not thrown');
    } catch (e) {
      expect((e as ShipitError).code).toBe('usage');
      expect((e as ShipitError).exitCode).toBe(2);
      expect((e as ShipitError).hint).toMatch(/500ms, 30s/);
    }
  });
});

describe('parseSize', () => {
  it.each([
    ['10m', 10 * 1024 * 1024],
    ['128m', 128 * 1024 * 1024],
    ['1g', 1024 ** 3],
    ['512k', 512 * 1024],
    ['512K', 512 * 1024],
    ['128mb', 128 * 1024 * 1024],
    ['1GiB', 1024 ** 3],
    ['1.5k', 1536],
    ['100b', 100],
    ['100', 100],
    ['2t', 2 * 1024 ** 4],
    [4096, 4096],
  ])('%p -> %p bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each(['big', '', '10x', '-1k', 'k'])('rejects %p', (input) => {
    expect(() => parseSize(input)).toThrow(`expected a size like "128m", got "${input}"`);
  });

  it('rejects negative and fractional numbers', () => {
    expect(() => parseSize(-5)).toThrow('got -5');
    expect(tryParseSize(0.5)).toBeUndefined();
    expect(tryParseSize('99999999999999t')).toBeUndefined();
    expect(tryParseSize({})).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [500, '500ms'],
    [1000, '1s'],
    [90_000, '90s'],
    [60_000, '1m'],
    [3_600_000, '1h'],
    [86_400_000, '1d'],
    [1500, '1500ms'],
  ])('%p -> %p', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});

describe('describeValue', () => {
  it.each([
    [undefined, 'nothing'],
    [null, 'null (an empty value)'],
    [[], 'an empty list'],
    [[1], 'a list'],
    [{}, 'an empty mapping'],
    [{ a: 1 }, 'a mapping'],
    ['x', '"x"'],
    [3, '3'],
    [true, 'true'],
  ])('%p -> %p', (value, text) => {
    expect(describeValue(value)).toBe(text);
  });
});
