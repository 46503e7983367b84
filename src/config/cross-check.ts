import type { z } from 'zod';

// Checks that span services, run by configSchema after every service has been parsed.

type Ctx = z.core.$RefinementCtx;

/** Checks that span services: at least one service, one owner per host, known link and alert targets. */
export function crossCheck(cfg: { services?: unknown; alerts?: unknown }, ctx: Ctx): void {
  if (!cfg.services || typeof cfg.services !== 'object') return;
  const services = cfg.services as Record<string, { hosts?: unknown; links?: unknown }>;
  const names = Object.keys(services);
  if (names.length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['services'],
      message: 'expected at least one service, got none',
    });
    return;
  }
  const known = `services: ${names.join(', ')}`;
  // Own keys only: `in` would also find Object.prototype's "constructor", a valid service name.
  const isService = (name: string) => Object.prototype.hasOwnProperty.call(services, name);
  const owner = new Map<string, string>();
  for (const name of names) {
    const svc = services[name];
    if (!svc || typeof svc !== 'object') continue;
    if (Array.isArray(svc.hosts)) {
      for (const host of new Set(svc.hosts as unknown[])) {
        if (typeof host !== 'string') continue;
        const other = owner.get(host);
        if (other === undefined) owner.set(host, name);
        else
          ctx.addIssue({
            code: 'custom',
            path: ['services', name, 'hosts'],
            message: `host "${host}" is claimed by two services, ${other} and ${name} (a host routes to one service; use hosts: [] for a service only reached through links)`,
          });
      }
    }
    if (Array.isArray(svc.links)) {
      svc.links.forEach((link: unknown, i: number) => {
        if (typeof link === 'string' && !isService(link)) {
          ctx.addIssue({
            code: 'custom',
            path: ['services', name, 'links', i],
            message: `unknown service "${link}" (${known})`,
          });
        }
      });
    }
  }
  if (!Array.isArray(cfg.alerts)) return;
  const alertNames = new Set<string>();
  cfg.alerts.forEach((alert: { name?: unknown; service?: unknown } | undefined, i: number) => {
    if (typeof alert?.service === 'string' && !isService(alert.service)) {
      ctx.addIssue({
        code: 'custom',
        path: ['alerts', i, 'service'],
        message: `unknown service "${alert.service}" (${known})`,
      });
    }
    if (typeof alert?.name === 'string') {
      if (alertNames.has(alert.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['alerts', i, 'name'],
          message: `duplicate alert name "${alert.name}"`,
        });
      }
      alertNames.add(alert.name);
    }
  });
}
