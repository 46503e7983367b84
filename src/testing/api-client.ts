// For tests of the control API in process: a raw HTTP client (TCP or unix socket) and a stand-in
// control plane that records what it was asked to do.
import http from 'node:http';
import type { ControlPlane } from '../api/server';
import type { AuditRecord } from '../ports/audit';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Target = { port: number } | { socketPath: string };

export function request(
  to: Target,
  method: string,
  urlPath: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        ...to,
        method,
        path: urlPath,
        headers:
          body === undefined ? headers : { 'content-length': Buffer.byteLength(body), ...headers },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export interface FakePlane {
  plane: ControlPlane;
  /** "method arg" for every call that reached the plane (audit writes excluded). */
  calls: string[];
  audited: AuditRecord[];
}

/** Every ControlPlane method, answering at once; operations emit one event and return `{service, release: 2}`. */
export function fakePlane(over: Partial<ControlPlane> = {}): FakePlane {
  const calls: string[] = [];
  const audited: AuditRecord[] = [];
  const op =
    (name: string) =>
    async (service: string, ...rest: unknown[]) => {
      calls.push(`${name} ${service}`);
      const sink = rest.at(-1) as (e: unknown) => void;
      sink({ service, release: 2, at: 1, type: 'step', message: `${name} ${service}` });
      return { service, release: 2 };
    };
  const plane: ControlPlane = {
    status: (s) => (calls.push(`status ${s}`), { project: 'p', services: [] }),
    releases: () => (calls.push('releases'), { releases: [] }),
    events: () => (calls.push('events'), { events: [] }),
    deploy: async (body, service, sink) => op('deploy')(service, body, sink),
    rollback: op('rollback'),
    promote: op('promote'),
    scale: op('scale'),
    abort: op('abort'),
    shutdown: async () => void calls.push('shutdown'),
    handOver: async () => (calls.push('handover'), { from: 1, to: 2 }),
    logs: async function* () {
      calls.push('logs');
      yield* [];
    },
    audit: (r) => void audited.push(r),
    auditLog: (limit) => (
      calls.push(`auditLog ${limit}`),
      { entries: audited.slice(-(limit ?? 100)) }
    ),
    rotateToken: () => {
      calls.push('rotateToken');
      return { token: 'rotated-token-0123456789', file: '/nowhere/token' };
    },
    previewUp: async (b, sink) => op('previewUp')(b.name, sink),
    previewDown: async (name) => (calls.push(`previewDown ${name}`), { name }),
    previews: () => (calls.push('previews'), { previews: [] }),
    endpoints: (s) => (calls.push(`endpoints ${s}`), { service: s }),
    metrics: async () => (calls.push('metrics'), { contentType: 'text/plain', text: 'x 1\n' }),
    subscribe: () => (calls.push('subscribe'), () => {}),
    live: () => ({ at: 0, services: [] }),
    ...over,
  };
  return { plane, calls, audited };
}
