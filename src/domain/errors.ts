// Typed errors: each carries the CLI exit code and the HTTP status it maps to.
// The CLI and the API translate them in one place each; nothing else exits.

export type ErrorCode =
  | 'usage'
  | 'config'
  | 'failed'
  | 'unreachable'
  | 'unauthorized'
  | 'conflict'
  | 'not-found'
  | 'rate-limited'
  | 'runtime';

const EXIT: Record<ErrorCode, number> = {
  usage: 2,
  config: 2,
  failed: 1,
  unreachable: 3,
  unauthorized: 3,
  conflict: 4,
  'not-found': 2,
  'rate-limited': 3,
  runtime: 1,
};

const HTTP: Record<ErrorCode, number> = {
  usage: 400,
  config: 400,
  failed: 500,
  unreachable: 503,
  unauthorized: 401,
  conflict: 409,
  'not-found': 404,
  'rate-limited': 429,
  runtime: 502,
};

export class ShipitError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message);
    this.name = 'ShipitError';
    this.code = code;
    this.hint = hint;
  }
  get exitCode(): number {
    return EXIT[this.code];
  }
  get httpStatus(): number {
    return HTTP[this.code];
  }
  toJSON(): { error: string; code: ErrorCode; hint?: string } {
    return { error: this.message, code: this.code, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

export const usageError = (msg: string, hint?: string) => new ShipitError('usage', msg, hint);
export const configError = (msg: string, hint?: string) => new ShipitError('config', msg, hint);
export const failed = (msg: string, hint?: string) => new ShipitError('failed', msg, hint);
export const conflict = (msg: string, hint?: string) => new ShipitError('conflict', msg, hint);
export const notFound = (msg: string, hint?: string) => new ShipitError('not-found', msg, hint);
export const unauthorized = (msg: string, hint?: string) =>
  new ShipitError('unauthorized', msg, hint);
export const unreachable = (msg: string, hint?: string) =>
  new ShipitError('unreachable', msg, hint);
export const runtimeError = (msg: string, hint?: string) => new ShipitError('runtime', msg, hint);

/** Rebuilds a ShipitError from its JSON form (API responses). */
export function fromJSON(body: unknown, fallbackStatus: number): ShipitError {
  const b = (body ?? {}) as { error?: unknown; code?: unknown; hint?: unknown };
  const code =
    typeof b.code === 'string' && b.code in EXIT
      ? (b.code as ErrorCode)
      : statusCode(fallbackStatus);
  const msg = typeof b.error === 'string' ? b.error : `HTTP ${fallbackStatus}`;
  return new ShipitError(code, msg, typeof b.hint === 'string' ? b.hint : undefined);
}

function statusCode(status: number): ErrorCode {
  const found = (Object.keys(HTTP) as ErrorCode[]).find((k) => HTTP[k] === status);
  return found ?? 'failed';
}

export function isShipitError(e: unknown): e is ShipitError {
  return e instanceof ShipitError;
}
