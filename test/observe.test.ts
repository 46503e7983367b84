// Metrics and alerts against the real engine and real HTTP: the daemon runs in
// this process (for coverage); requests go through its proxy, Prometheus text
// and the event stream come from its API over TCP, a webhook receiver listens here.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import pino from 'pino';
import { Daemon } from '../src/daemon';
import { loadConfig } from '../src/config/load';
import { runCli } from '../src/testing/cli';
import { TestProject, containerIds, freePort } from './support/harness';

jest.setTimeout(120_000);

const FOR_MS = 2000;
const WINDOW_MS = 3000;
const TICK_MS = 1000;

interface Hook {
  at: number;
  body: Record<string, unknown>;
}

function request(
  port: number,
  p: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      })
      .on('error', reject);
  });
}

/** Sum of the samples of one series whose labels include all of `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const have = Object.fromEntries(
      [...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[2]);
  }
  return sum;
}

async function until<T>(
  what: string,
  ms: number,
  f: () => Promise<T | null | undefined>,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('metrics and alerts (real engine, daemon in process)', () => {
  const t = new TestProject();
  let daemon: Daemon;
  let apiPort: number;
  let token: string;
  let hookServer: http.Server;
  const hooks: Hook[] = [];

  const metrics = async () => {
    const r = await request(apiPort, '/metrics', { authorization: `Bearer ${token}` });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('text/plain');
    return r.body;
  };

  beforeAll(async () => {
    hookServer = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        hooks.push({ at: Date.now(), body: JSON.parse(body) });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
    const hookPort = (hookServer.address() as { port: number }).port;
    apiPort = await freePort();
    await t.init({
      replicas: 2,
      extraYaml: `api:
  listen: 127.0.0.1:${apiPort}
alerts:
  - name: web-errors
    service: web
    when: { metric: error_rate, above: 0.2, for: ${FOR_MS}ms, window: ${WINDOW_MS}ms }
    notify: { webhook: "http://127.0.0.1:${hookPort}/hook" }
`,
    });
    daemon = await Daemon.start(loadConfig({ path: path.join(t.dir, 'shipit.yml') }), {
      log: pino({ level: 'silent' }),
      tickMs: TICK_MS,
      usageIntervalMs: 1000,
    });
    await daemon.deployMissing();
    token = fs.readFileSync(path.join(t.dir, '.shipit', 'token'), 'utf8').trim();
  });

  afterAll(async () => {
    await daemon?.shutdown(true);
    await new Promise((r) => hookServer?.close(r));
    await t.cleanup();
  });

  it('refuses /metrics without the token', async () => {
    const r = await request(apiPort, '/metrics');
    expect(r.status).toBe(401);
  });

  it('counts every request through the proxy: requests_total and the histogram count both move by N', async () => {
    const before = await metrics();
    const N = 57;
    for (let i = 0; i < N; i++) {
      const r = await request(t.port, '/');
      expect(r.status).toBe(200);
      expect(r.headers['x-shipit-release']).toBe('1');
    }
    const after = await metrics();
    const delta = (name: string, labels: Record<string, string>) =>
      sample(after, name, labels) - sample(before, name, labels);
    const ours = { service: 'web', release: '1' };
    expect(delta('shipit_http_requests_total', { ...ours, code: '200' })).toBe(N);
    expect(delta('shipit_http_requests_total', ours)).toBe(N);
    expect(delta('shipit_http_request_duration_seconds_count', ours)).toBe(N);
    expect(delta('shipit_http_request_duration_seconds_bucket', { ...ours, le: '+Inf' })).toBe(N);
    expect(delta('shipit_http_request_duration_seconds_sum', ours)).toBeGreaterThan(0);
    expect(sample(after, 'shipit_release_weight', ours)).toBe(100);
    expect(sample(after, 'shipit_http_inflight_requests', ours)).toBe(0);
    expect(sample(after, 'shipit_deploys_total', { service: 'web', result: 'succeeded' })).toBe(1);
    expect(sample(after, 'shipit_deploy_duration_seconds_count', { service: 'web' })).toBe(1);
    expect(after).toMatch(/^process_cpu_user_seconds_total \d/m);
  });

  it('reports non-zero memory and a CPU ratio for each running container, and the replica count', async () => {
    const ids = containerIds(t.project);
    expect(ids).toHaveLength(2);
    const names = ids.map((id) => daemon.router.target(id)?.name as string);
    const text = await until('container metrics of both containers', 15_000, async () => {
      const m = await metrics();
      const ok = names.every(
        (n) =>
          sample(m, 'shipit_container_memory_bytes', { container: n }) > 0 &&
          m.includes(`shipit_container_cpu_ratio{service="web",release="1",container="${n}"}`),
      );
      return ok ? m : null;
    });
    for (const n of names) {
      const mem = sample(text, 'shipit_container_memory_bytes', { container: n });
      expect(mem).toBeGreaterThan(64 * 1024);
      expect(mem).toBeLessThan(64 * 1024 * 1024);
      const cpu = sample(text, 'shipit_container_cpu_ratio', { container: n });
      expect(cpu).toBeGreaterThanOrEqual(0);
      expect(cpu).toBeLessThan(2);
    }
    expect(sample(text, 'shipit_replicas', { service: 'web', release: '1' })).toBe(2);
  });

  it('streams live stats to an event-stream subscriber', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const req = http.get(
        {
          host: '127.0.0.1',
          port: apiPort,
          path: '/v1/events?service=web',
          headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
          agent: false,
        },
        (res) => {
          expect(res.headers['content-type']).toBe('text/event-stream');
          let buf = '';
          res.on('data', (c) => {
            buf += c;
            // the immediate snapshot plus one tick later
            if ((buf.match(/^event: stats$/gm) ?? []).length >= 2) {
              req.destroy();
              resolve(buf);
            }
          });
        },
      );
      req.on('error', reject);
    });
    const data = got
      .split('\n\n')
      .filter((b) => b.startsWith('event: stats'))
      .map((b) => JSON.parse(b.split('\ndata: ')[1]));
    expect(data[0].services).toEqual([
      {
        name: 'web',
        releases: [expect.objectContaining({ number: 1, weight: 100, healthy: 2, total: 2 })],
      },
    ]);
  });

  it('fires an error_rate alert within for + one evaluation interval, posts it, and resolves after recovery', async () => {
    // Traffic that is all 500s: the rate over the window passes 0.2 at the next tick.
    let failing = true;
    let stop = false;
    const driver = (async () => {
      while (!stop) {
        await request(t.port, failing ? '/status?500' : '/').catch(() => undefined);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const t0 = Date.now();
    try {
      const firing = await until('the firing webhook', FOR_MS + 8000, async () =>
        hooks.find((h) => h.body.status === 'firing'),
      );
      const firedAfter = firing.at - t0;
      // for + one evaluation interval (the first tick to see the 500s), plus request and delivery time
      expect(firedAfter).toBeGreaterThanOrEqual(FOR_MS);
      expect(firedAfter).toBeLessThanOrEqual(FOR_MS + TICK_MS + 300);
      expect(firing.body).toMatchObject({
        alert: 'web-errors',
        service: 'web',
        status: 'firing',
        metric: 'error_rate',
        op: 'above',
        threshold: 0.2,
        project: t.project,
        endsAt: null,
      });
      expect(firing.body.value as number).toBeGreaterThan(0.2);
      const m = await metrics();
      expect(sample(m, 'shipit_alerts_firing', { alert: 'web-errors' })).toBe(1);
      expect(
        sample(m, 'shipit_http_requests_total', { service: 'web', code: '500' }),
      ).toBeGreaterThan(0);
      const st = await runCli(['status', '--config', path.join(t.dir, 'shipit.yml')]);
      expect(st.code).toBe(0);
      expect(st.stdout).toMatch(/web-errors\s+web\s+FIRING\s+error_rate above 0.2/);

      failing = false;
      const t1 = Date.now();
      const resolved = await until('the resolved webhook', WINDOW_MS + 8000, async () =>
        hooks.find((h) => h.body.status === 'resolved'),
      );
      expect(resolved.at - t1).toBeLessThanOrEqual(WINDOW_MS + TICK_MS + 300);
      console.log(
        `alert: fired ${firedAfter}ms after the first 500 (for ${FOR_MS}ms, tick ${TICK_MS}ms); resolved ${resolved.at - t1}ms after recovery (window ${WINDOW_MS}ms)`,
      );
      expect(resolved.body).toMatchObject({ alert: 'web-errors', status: 'resolved' });
      expect(resolved.body.endsAt).toEqual(expect.any(String));
      expect(resolved.body.startsAt).toBe(firing.body.startsAt);
      expect(hooks.filter((h) => h.body.status === 'firing')).toHaveLength(1);
      const after = await metrics();
      expect(sample(after, 'shipit_alerts_firing', { alert: 'web-errors' })).toBe(0);
      const events = daemon.store.listEvents('web').map((e) => e.type);
      expect(events).toEqual(expect.arrayContaining(['alert-firing', 'alert-resolved']));
    } finally {
      stop = true;
      await driver;
    }
  });
});
