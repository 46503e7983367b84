// `shipit history --audit`: the daemon's audit log of mutating API calls, newest last.
import type { AuditEntry } from '../ports/audit';
import { call, type Endpoint } from './client';
import { table, when, type Out } from './render';

export async function showAudit(ep: Endpoint, out: Out, n: number): Promise<void> {
  const { entries } = await call<{ entries: AuditEntry[] }>(
    ep,
    'GET',
    `/v1/audit?${new URLSearchParams({ limit: String(n) })}`,
  );
  if (out.json) return out.data({ entries });
  if (!entries.length) return out.line('no audited calls yet');
  out.line(auditTable(entries));
}

export function auditTable(entries: AuditEntry[]): string {
  return table([
    ['when', 'who', 'from', 'action', 'target', 'result', 'status', 'detail'],
    ...entries.map((e) => [
      when(e.at),
      e.who,
      e.address || null,
      e.action ?? `${e.method} ${e.path}`,
      e.target,
      e.result,
      e.status,
      detailText(e.detail),
    ]),
  ]);
}

/** `key=value` pairs on one line; strings bare, the rest as JSON. */
export function detailText(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}
