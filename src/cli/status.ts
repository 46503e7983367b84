import type { Argv } from 'yargs';
import type { TargetState } from '../ports/router';
import type { AlertStatus } from '../observe/alerts';
import { call } from './client';
import { checkService, endpoint, locate, type GlobalArgs } from './context';
import { makeOut, table } from './render';

interface Status {
  project: string;
  pid: number;
  proxy: { host: string; port: number };
  ready: boolean;
  services: {
    name: string;
    hosts: string[];
    busy: string | null;
    rollout: { release: number; paused: string | null } | null;
    releases: { number: number; image: string; status: string; weight: number; replicas: number }[];
    targets: TargetState[];
    autoscale?: { replicas: number; desired: number; reason: string } | null;
  }[];
  alerts?: AlertStatus[];
}

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    'status [service]',
    'services, releases, replicas, health, traffic weights',
    (c) =>
      c
        .positional('service', { type: 'string' })
        .example('$0 status', 'every service')
        .example('$0 status web --json', 'one service, for scripts'),
    async (a) => {
      const out = makeOut(!!a.json);
      const cfg = locate(a);
      const svc = checkService(a.service as string | undefined, cfg.serviceNames, cfg.path);
      const q = svc ? `?service=${encodeURIComponent(svc)}` : '';
      const s = await call<Status>(endpoint(cfg), 'GET', `/v1/status${q}`);
      if (out.json) return out.data(s);
      out.line(
        `project ${s.project}  daemon pid ${s.pid}  proxy ${s.proxy.host}:${s.proxy.port}${s.ready ? '' : '  (starting)'}`,
      );
      for (const svc of s.services) {
        out.line(
          `\n${svc.name}  hosts ${svc.hosts.join(', ')}${svc.busy ? `  [${svc.busy} in progress]` : ''}`,
        );
        if (svc.rollout) {
          out.line(
            `  rollout of r${svc.rollout.release} in progress${svc.rollout.paused ? `, paused: ${svc.rollout.paused}` : ''}`,
          );
        }
        if (svc.autoscale) {
          const a = svc.autoscale;
          out.line(
            `  autoscale: ${a.replicas} replica(s)${a.desired !== a.replicas ? ` -> ${a.desired}` : ''} (${a.reason})`,
          );
        }
        if (!svc.releases.length) out.line('  no release');
        else
          out.line(
            table([
              ['  release', 'status', 'weight', 'replicas', 'image'],
              ...svc.releases.map((r) => [
                `  r${r.number}`,
                r.status,
                `${r.weight}%`,
                r.replicas,
                r.image,
              ]),
            ]),
          );
        const routed = svc.targets.filter((t) => !t.draining);
        if (routed.length) {
          out.line(
            table([
              ['  container', 'release', 'address', 'health', 'in-flight'],
              ...routed.map((t) => [
                `  ${t.name}`,
                `r${t.release}`,
                t.address,
                t.healthy ? 'healthy' : 'UNHEALTHY',
                t.inflight,
              ]),
            ]),
          );
        }
      }
      const alerts = s.alerts ?? [];
      if (alerts.length) {
        out.line('');
        out.line(
          table([
            ['alert', 'service', 'state', 'condition', 'value', 'since'],
            ...alerts.map((al) => [
              al.name,
              al.service,
              al.state === 'firing' ? 'FIRING' : al.state,
              `${al.metric} ${al.op} ${al.threshold}`,
              al.value === null ? '-' : Number(al.value.toPrecision(4)),
              new Date(al.since).toISOString(),
            ]),
          ]),
        );
      }
    },
  );
}
