// What the audit log keeps of one mutating API call: filled in while the request is handled,
// turned into a row once its response (for a stream: its last line) is written.

import { isShipitError } from '../domain/errors';
import type { AuditRecord, AuditResult } from '../ports/audit';

/** Calls that change nothing are not audited. */
export function isMutating(method: string | undefined): boolean {
  return method !== 'GET' && method !== 'HEAD';
}

/** Statuses meaning "not allowed to try": unauthenticated, CSRF-refused, rate-limited. */
const REFUSED = new Set([401, 403, 429]);

export class RequestAudit {
  who = 'anonymous';
  /** Set to false to leave the call out (a client's repeated 429s within one lock-out). */
  record = true;
  readonly detail: Record<string, unknown> = {};
  /** The error the call ended with (for a stream: after its 200 header had gone out). */
  private error: { status: number; message: string; code: string } | null = null;

  constructor(
    readonly method: string,
    readonly path: string,
    readonly address: string,
    public action: string | null,
    public target: string | null,
  ) {}

  /** Records the error the call ended with and the status the client was told. */
  failedWith(err: unknown, status: number): void {
    this.error = {
      status,
      message: err instanceof Error ? err.message : String(err),
      code: isShipitError(err) ? err.code : 'failed',
    };
  }

  toRecord(httpStatus: number): AuditRecord {
    const status = this.error?.status ?? httpStatus;
    let result: AuditResult = 'ok';
    if (this.error || status >= 400) result = REFUSED.has(status) ? 'refused' : 'failed';
    const detail = this.error
      ? { ...this.detail, error: this.error.message, code: this.error.code }
      : this.detail;
    return {
      who: this.who,
      address: this.address,
      method: this.method,
      path: this.path,
      action: this.action,
      target: this.target,
      result,
      status,
      detail,
    };
  }
}
