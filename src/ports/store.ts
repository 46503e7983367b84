import type { DeployEvent, ReleaseRecord, ReleaseStatus } from '../domain/types';
import type { AuditRecord } from './audit';

/** Durable state. Every write is committed before the call returns. */
export interface StateStore {
  /** Next release number for a service: 1 + the highest ever recorded. */
  nextReleaseNumber(service: string): number;
  insertRelease(r: ReleaseRecord): void;
  updateRelease(
    service: string,
    number: number,
    patch: Partial<
      Pick<ReleaseRecord, 'status' | 'finishedAt' | 'result' | 'reason' | 'replicas' | 'demotedAt'>
    >,
  ): void;
  getRelease(service: string, number: number): ReleaseRecord | null;
  /** Newest first. */
  listReleases(service?: string, limit?: number): ReleaseRecord[];
  /** Releases in the given statuses, newest first. */
  releasesWithStatus(statuses: ReleaseStatus[], service?: string): ReleaseRecord[];
  appendEvent(e: DeployEvent): void;
  /** Oldest first. */
  listEvents(service?: string, release?: number, limit?: number): DeployEvent[];
  /** Appends one row to the audit log of mutating API calls (bounded: old rows are trimmed). */
  audit(r: AuditRecord): void;
  /** Runs fn in one transaction: every write inside lands together or not at all. */
  atomically<T>(fn: () => T): T;
  close(): void;
}
