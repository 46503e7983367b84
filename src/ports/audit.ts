/** How a mutating API call ended: done, tried and failed, or refused before it ran (401/403/429). */
export type AuditResult = 'ok' | 'failed' | 'refused';

/** One mutating control-API call, as the audit log keeps it. */
export interface AuditRecord {
  /** Who: "token" (the bearer token file), "dashboard" (a UI session), "anonymous" (not authenticated). */
  who: string;
  /** Client address: the remote IP over TCP, "unix" for the socket. */
  address: string;
  method: string;
  path: string;
  /** What: deploy, promote, abort, rollback, scale, preview-up, preview-down, token-rotate, shutdown, login, logout; null for an unknown route. */
  action: string | null;
  /** The service or preview the call was about, when it names one. */
  target: string | null;
  result: AuditResult;
  /** HTTP status the client was told (for a stream, the status of its final error line). */
  status: number | null;
  detail: Record<string, unknown>;
}

export interface AuditEntry extends Omit<AuditRecord, 'result'> {
  id: number;
  /** ms epoch */
  at: number;
  /** 'unknown' only on rows kept from before the audit log recorded outcomes. */
  result: AuditResult | 'unknown';
}

/** Durable, bounded audit log. */
export interface AuditLog {
  append(r: AuditRecord): void;
  /** The most recent `limit` entries, oldest first (newest last). */
  list(limit?: number): AuditEntry[];
}
