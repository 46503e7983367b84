// When to obtain or renew an ACME certificate, and how long to wait after a failure. Pure.

export type RenewalReason = 'missing' | 'expiring' | 'hosts-changed';

export interface HeldCertificate {
  notAfter: number;
  /** Hosts the stored certificate covers. */
  hosts: readonly string[];
}

/**
 * Why the certificate for `host` must be (re)obtained now, or null when the one held is fine:
 * none held, it does not cover the host, or it expires within renewBeforeMs.
 */
export function renewalDue(
  host: string,
  held: HeldCertificate | undefined,
  now: number,
  renewBeforeMs: number,
): RenewalReason | null {
  if (!held) return 'missing';
  if (!held.hosts.includes(host)) return 'hosts-changed';
  if (held.notAfter - now <= renewBeforeMs) return 'expiring';
  return null;
}

export const FIRST_RETRY_MS = 5_000;
export const MAX_RETRY_MS = 3_600_000;

/** Wait before attempt number `failures + 1`: 5 s, 10 s, 20 s ... doubling, at most maxMs (1 h). */
export function retryDelay(
  failures: number,
  maxMs = MAX_RETRY_MS,
  firstMs = FIRST_RETRY_MS,
): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, firstMs * 2 ** Math.min(failures - 1, 30));
}
