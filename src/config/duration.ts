import { usageError } from '../domain/errors';

// Durations: "500ms", "30s", "5m", "1h", "7d", compounds like "1m30s", or integer milliseconds.
// Sizes: "512k", "128m", "1g" (binary: k = 1024), or integer bytes.

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** One or more `<number><unit>` parts, or bare digits (milliseconds). Used in the JSON Schema too. */
export const DURATION_PATTERN = '^\\s*(?:\\d+|(?:\\d+(?:\\.\\d+)?(?:ms|s|m|h|d))+)\\s*$';
const DURATION_RE = new RegExp(DURATION_PATTERN);
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/** A number with an optional k/m/g/t suffix (any case, optionally followed by "b" or "ib"). */
export const SIZE_PATTERN = '^\\s*\\d+(?:\\.\\d+)?\\s*(?:[kKmMgGtT](?:[iI]?[bB])?|[bB])?\\s*$';
const SIZE_RE = new RegExp(SIZE_PATTERN);

export const DURATION_EXPECTED = 'a duration like "5s"';
export const SIZE_EXPECTED = 'a size like "128m"';

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Milliseconds, or undefined when the value is not a duration. */
export function tryParseDuration(value: unknown): number | undefined {
  if (isNonNegativeInteger(value)) return value;
  if (typeof value !== 'string' || !DURATION_RE.test(value)) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  let total = 0;
  for (const m of text.matchAll(DURATION_PART_RE)) total += Number(m[1]) * DURATION_UNITS[m[2]];
  const ms = Math.round(total);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Bytes, or undefined when the value is not a size. */
export function tryParseSize(value: unknown): number | undefined {
  if (isNonNegativeInteger(value)) return value;
  if (typeof value !== 'string' || !SIZE_RE.test(value)) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)/.exec(value.trim().toLowerCase());
  /* istanbul ignore next -- SIZE_RE already guarantees the match */
  if (!m) return undefined;
  const bytes = Math.round(Number(m[1]) * SIZE_UNITS[m[2]]);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** How a rejected value is shown in messages: strings quoted, structures named. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null (an empty value)';
  if (Array.isArray(value)) return value.length ? 'a list' : 'an empty list';
  if (typeof value === 'object')
    return Object.keys(value).length ? 'a mapping' : 'an empty mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

/** Parses "500ms", "30s", "5m", "1h", "7d", "1m30s" or integer milliseconds; throws a usage error otherwise. */
export function parseDuration(value: string | number): number {
  const ms = tryParseDuration(value);
  if (ms === undefined) {
    throw usageError(
      `expected ${DURATION_EXPECTED}, got ${describeValue(value)}`,
      'durations are like 500ms, 30s, 5m, 1h, 7d, or integer milliseconds',
    );
  }
  return ms;
}

/** Parses "512k", "10m", "128m", "1g" (k = 1024) or integer bytes; throws a usage error otherwise. */
export function parseSize(value: string | number): number {
  const bytes = tryParseSize(value);
  if (bytes === undefined) {
    throw usageError(
      `expected ${SIZE_EXPECTED}, got ${describeValue(value)}`,
      'sizes are like 512k, 10m, 1g (k = 1024), or integer bytes',
    );
  }
  return bytes;
}

/** Renders milliseconds in the largest unit that divides them (90000 -> "90s", 60000 -> "1m"). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit];
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
