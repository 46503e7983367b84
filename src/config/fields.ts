import { z } from 'zod';
import {
  DURATION_EXPECTED,
  DURATION_PATTERN,
  SIZE_EXPECTED,
  SIZE_PATTERN,
  describeValue,
  tryParseDuration,
  tryParseSize,
} from './duration';
import { parseApiListen, parseHostPort } from './listen';

// Building blocks of the config schema. Each one carries its own "expected ..." message,
// so every issue zod reports already reads `expected <what>, got <value>`.

type RawIssue = z.core.$ZodRawIssue;

/** Error map for a field: `expected <what>, got <value>`, or `is required (expected <what>)`. */
export function expecting(what: string): { error: (iss: RawIssue) => string } {
  return {
    error: (iss) =>
      iss.input === undefined
        ? `is required (expected ${what})`
        : `expected ${what}, got ${describeValue(iss.input)}`,
  };
}

/** An object that rejects unknown keys, listing the allowed ones. */
export function strict<T extends z.core.$ZodLooseShape>(shape: T, what = 'a mapping') {
  const allowed = Object.keys(shape).join(', ');
  const expected = expecting(what).error;
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? `unknown key (allowed: ${allowed})` : expected(iss),
  });
}

export function str(what = 'a string') {
  return z.string(expecting(what));
}

export function nonEmptyString(what = 'a non-empty string') {
  const e = expecting(what);
  return z.string(e).trim().min(1, e);
}

export function pattern(re: RegExp, what: string) {
  const e = expecting(what);
  return z.string(e).regex(re, e);
}

export function bool(what = 'true or false') {
  return z.boolean(expecting(what));
}

/** A container count, or a percentage of the replicas ("25%"), as Kubernetes rolling updates take them. */
export function countOrPercent() {
  const e = expecting('an integer >= 0 or a percentage like "25%"');
  return z.union([z.number(e).int(e).min(0, e), z.string(e).regex(/^\d{1,3}%$/, e)], e);
}

export function int(min: number, max = Number.MAX_SAFE_INTEGER, what?: string) {
  const e = expecting(
    what ??
      (max === Number.MAX_SAFE_INTEGER
        ? `an integer >= ${min}`
        : `an integer from ${min} to ${max}`),
  );
  return z.number(e).int(e).min(min, e).max(max, e);
}

/** A finite number in [min, max] (exclusive lower bound when `gt` is set). */
export function num(opts: { min?: number; gt?: number; max?: number }, what: string) {
  const e = expecting(what);
  let s = z.number(e);
  if (opts.gt !== undefined) s = s.gt(opts.gt, e);
  if (opts.min !== undefined) s = s.min(opts.min, e);
  if (opts.max !== undefined) s = s.max(opts.max, e);
  return s;
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, expecting(`one of ${values.join(', ')}`));
}

/** The input side of a duration: the JSON Schema shows `string (pattern) | integer`. */
function durationInput(what: string) {
  const e = expecting(what);
  return [
    z.string(e).regex(new RegExp(DURATION_PATTERN), e),
    z.number(e).int(e).min(0, e),
  ] as const;
}

/** "500ms", "30s", "5m", "1h", "7d" or integer milliseconds, at least `min`; parsed to milliseconds. */
export function duration(what = DURATION_EXPECTED, min = 0) {
  const e = expecting(what);
  return z.union(durationInput(what), e).transform((v, ctx) => {
    const ms = tryParseDuration(v);
    if (ms !== undefined && ms >= min) return ms;
    const message =
      ms === undefined
        ? e.error({ input: v } as RawIssue)
        : `expected at least ${min}ms, got ${describeValue(v)}`;
    ctx.issues.push({ code: 'custom', input: v, message });
    return z.NEVER;
  });
}

/** A duration or the word "manual" (a canary pause that waits for `shipit promote`). */
export function durationOrManual() {
  const what = `${DURATION_EXPECTED} or "manual"`;
  const e = expecting(what);
  return z
    .union([z.literal('manual', e), ...durationInput(what)], e)
    .transform((v, ctx): number | 'manual' => {
      if (v === 'manual') return v;
      // a pause too long to count in milliseconds is an error, not 0 (no hold at all)
      const ms = tryParseDuration(v);
      if (ms !== undefined) return ms;
      ctx.issues.push({ code: 'custom', input: v, message: e.error({ input: v } as RawIssue) });
      return z.NEVER;
    });
}

/** "512k", "10m", "1g" (k = 1024) or integer bytes, at least `min`; parsed to bytes. */
export function size(what = SIZE_EXPECTED, min = 0) {
  const e = expecting(what);
  return z
    .union([z.string(e).regex(new RegExp(SIZE_PATTERN), e), z.number(e).int(e).min(0, e)], e)
    .transform((v, ctx) => {
      const bytes = tryParseSize(v);
      if (bytes !== undefined && bytes >= min) return bytes;
      const message =
        bytes === undefined
          ? e.error({ input: v } as RawIssue)
          : `expected at least ${min} bytes, got ${describeValue(v)}`;
      ctx.issues.push({ code: 'custom', input: v, message });
      return z.NEVER;
    });
}

/** A listen address as written; YAML reads a bare `9000` as a number, so numbers become strings. */
function address(e: ReturnType<typeof expecting>, valid: (s: string) => boolean) {
  return z
    .union([z.string(e), z.number(e).int(e)], e)
    .transform(String)
    .refine(valid, e);
}

/** "HOST:PORT", ":PORT" or "PORT" (kept as written; parse with parseHostPort). */
export function hostPort(example: string) {
  return address(
    expecting(`an address like "${example}"`),
    (s) => parseHostPort(s, '0.0.0.0') !== undefined,
  );
}

/** "unix:PATH" or "HOST:PORT" (kept as written; parse with parseApiListen). */
export function apiListen() {
  return address(
    expecting('"unix:PATH" or an address like "127.0.0.1:7070"'),
    (s) => parseApiListen(s) !== undefined,
  );
}

/** A mapping whose keys must match `keyRe`; a bad key reads `invalid <keyLabel> (expected <keyWhat>)`. */
export function recordOf<V extends z.core.SomeType>(
  keyRe: RegExp,
  keyLabel: string,
  keyWhat: string,
  value: V,
  what: string,
) {
  const expected = expecting(what).error;
  return z.record(z.string().regex(keyRe), value, {
    error: (iss) =>
      iss.code === 'invalid_key' ? `invalid ${keyLabel} (expected ${keyWhat})` : expected(iss),
  });
}

/** A list; a non-list reads `expected <what>, got ...`. */
export function listOf<T extends z.core.SomeType>(item: T, what: string) {
  return z.array(item, expecting(what));
}
