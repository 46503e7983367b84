// HTTPS with certificates from a real ACME server on loopback (Debian's pebble, HTTP-01
// validated for real through the proxy's HTTP listener), renewal under HTTPS load, the
// redirect and the expiry metric. The daemon runs in this process against the real Docker engine.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import pino from 'pino';
import { Daemon } from '../src/daemon';
import { loadConfig } from '../src/config/load';
import { BIN, TestProject, freePort } from './support/harness';
import { selfSigned } from '../src/testing/certs';
import { havePebble, pebbleCerts, startDns, startPebble, type Pebble } from './support/pebble';

jest.setTimeout(180_000);

const HOST = 'app.shipit.test';
/** Served from certificate files (self-signed) beside the ACME host. */
const FILES_HOST = 'files.shipit.test';
/** pebble's certificate lifetime here, and when shipit renews: ~15 s after each issuance. */
const VALIDITY_S = 45;
const RENEW_BEFORE_S = 30;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what} not within ${ms} ms (last: ${String(last)})`);
    await sleep(200);
  }
}

describe('TLS with ACME (pebble) through the daemon', () => {
  const t = new TestProject();
  const logLines: string[] = [];
  let daemon: Daemon;
  let pebble: Pebble | null = null;
  let dns: Awaited<ReturnType<typeof startDns>> | null = null;
  let httpsPort: number;
  let apiPort: number;
  let acmePort: number;
  let trust: string[] = [];
  let pebbleCa: ReturnType<typeof pebbleCerts>;
  let successor = 0;
  let filesCert: { cert: string; key: string };

  /** One HTTPS GET on a new connection (or the agent's), verified against pebble's roots. */
  function httpsGet(
    p = '/version',
    agent: https.Agent | false = false,
    host = HOST,
    ca: string[] = trust,
  ): Promise<{ status: number; body: string; serial: string; issuer: string }> {
    return new Promise((resolve, reject) => {
      const req = https.get(
        {
          host: '127.0.0.1',
          port: httpsPort,
          path: p,
          servername: host,
          headers: { host },
          ca,
          agent,
          timeout: 10_000,
        },
        (res) => {
          const cert = (res.socket as tls.TLSSocket).getPeerCertificate();
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body,
              serial: cert.serialNumber,
              issuer: String(cert.issuer?.CN ?? ''),
            }),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
  }

  function httpGet(p: string, host = HOST, port = t.port, headers: Record<string, string> = {}) {
    return new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>(
      (resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: p, headers: { host, ...headers } }, (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body, headers: res.headers }),
            );
          })
          .on('error', reject);
      },
    );
  }

  /** HTTPS load: 8 keep-alive clients, and one that opens a new connection per request (sees swaps). */
  function httpsLoad() {
    let ok = 0;
    const failures: string[] = [];
    const serials = new Set<string>();
    let stop = false;
    const workers = Array.from({ length: 9 }, async (_, i) => {
      const agent = i < 8 ? new https.Agent({ keepAlive: true, maxSockets: 1 }) : false;
      while (!stop) {
        try {
          const r = await httpsGet('/version', agent);
          if (r.status === 200) ok++;
          else failures.push(`status ${r.status}`);
          if (!agent) serials.add(r.serial); // a new handshake: the certificate served now
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
      if (agent) agent.destroy();
    });
    return {
      serials,
      stop: async () => {
        stop = true;
        await Promise.all(workers);
        return { ok, failures, serials };
      },
    };
  }

  beforeAll(async () => {
    if (!havePebble()) throw new Error('pebble is not installed: run scripts/pebble-bootstrap.sh');
    await t.init({ replicas: 1 });
    [httpsPort, apiPort, acmePort] = [await freePort(), await freePort(), await freePort()];
    dns = await startDns();
    pebbleCa = pebbleCerts(path.join(t.dir, 'pebble'));
    filesCert = selfSigned(path.join(t.dir, 'certs'), 'files', [FILES_HOST]);
    t.writeConfig(`project: ${t.project}
proxy:
  listen: 127.0.0.1:${t.port}
  tls:
    listen: 127.0.0.1:${httpsPort}
    redirect: true
    certificates:
      - { hosts: [${FILES_HOST}], cert: certs/files.pem, key: certs/files.key }
    acme:
      directory: https://localhost:${acmePort}/dir
      email: ops@shipit.test
      hosts: [${HOST}]
      renewBefore: ${RENEW_BEFORE_S}s
      checkInterval: 1s
      caFile: ${path.relative(t.dir, pebbleCa.ca)}
api:
  listen: 127.0.0.1:${apiPort}
services:
  web:
    image: demo-web:v1
    port: 8080
    hosts: [${HOST}, ${FILES_HOST}]
    replicas: 1
    healthcheck: { path: /healthz, interval: 500ms, timeout: 1s }
`);
    const stream = { write: (s: string) => void logLines.push(s) };
    // pebble is not up yet: the daemon must start anyway and keep retrying.
    daemon = await Daemon.start(loadConfig({ path: path.join(t.dir, 'shipit.yml') }), {
      log: pino({ level: 'info' }, stream),
      acmeFirstRetryMs: 300,
    });
    await daemon.deployMissing();
  });

  afterAll(async () => {
    if (successor) {
      await t.cli(['down', '--remove']);
      try {
        process.kill(successor, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (daemon && !daemon.replaced) await daemon.shutdown(true);
    await pebble?.stop();
    dns?.close();
    await t.cleanup();
  });

  it('serves plain HTTP while the ACME directory is unreachable, and keeps retrying', async () => {
    const r = await httpGet('/version');
    expect(r.status).toBe(200); // no certificate yet: no redirect
    expect(r.body).toContain('version=v1');
    await until('two failed ACME attempts in the log', 10_000, async () =>
      logLines.filter((l) => l.includes('ACME certificate request failed')).length >= 2
        ? true
        : undefined,
    );
    expect(logLines.find((l) => l.includes('ACME certificate request failed'))).toMatch(
      /ACME directory https:\/\/localhost:\d+\/dir unreachable: ECONNREFUSED/,
    );
  });

  it('serves the certificate file for its host from the start, and redirects that host', async () => {
    const ca = [fs.readFileSync(filesCert.cert, 'utf8')];
    const r = await httpsGet('/version', false, FILES_HOST, ca);
    expect(r.status).toBe(200);
    expect(r.body).toContain('version=v1');
    expect(r.serial).toBe(new X509Certificate(ca[0]).serialNumber);
    const plain = await httpGet('/a?b=c', FILES_HOST);
    expect(plain.status).toBe(308);
    expect(plain.headers.location).toBe(`https://${FILES_HOST}:${httpsPort}/a?b=c`);
  });

  it('obtains a certificate from pebble (HTTP-01 through the proxy) and serves HTTPS with it', async () => {
    const t0 = Date.now();
    pebble = await startPebble({
      dir: path.join(t.dir, 'pebble'),
      httpPort: t.port,
      dnsPort: dns!.port,
      acmePort,
      validitySeconds: VALIDITY_S,
      certs: pebbleCa,
    });
    trust = await pebble.trust();
    const r = await until('HTTPS with a pebble certificate', 30_000, () => httpsGet());
    expect(r.status).toBe(200);
    expect(r.body).toContain('version=v1');
    expect(r.issuer).toMatch(/Pebble Intermediate/);
    // pebble resolved the name through our DNS server and fetched the challenge from the proxy
    expect(dns!.queries.some((q) => q.startsWith(`${HOST}/`))).toBe(true);
    process.stdout.write(`tls.test: first certificate after ${Date.now() - t0} ms\n`);
    // stored under the state dir, keys 0600
    const dir = path.join(t.dir, '.shipit', 'tls', 'acme');
    expect(fs.statSync(path.join(dir, 'account.key')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dir, `${HOST}.key`)).mode & 0o777).toBe(0o600);
    const stored = new X509Certificate(fs.readFileSync(path.join(dir, `${HOST}.crt`)));
    expect(stored.subjectAltName).toContain(`DNS:${HOST}`);
  });

  it('redirects plain HTTP to HTTPS with 308, keeping path and query', async () => {
    const r = await httpGet('/some/path?a=1&b=two');
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe(`https://${HOST}:${httpsPort}/some/path?a=1&b=two`);
  });

  it('exports shipit_tls_cert_expiry_seconds on GET /metrics', async () => {
    const token = fs.readFileSync(path.join(t.dir, '.shipit', 'token'), 'utf8').trim();
    const r = await httpGet('/metrics', '127.0.0.1', apiPort, { authorization: `Bearer ${token}` });
    expect(r.status).toBe(200);
    const m = new RegExp(`^shipit_tls_cert_expiry_seconds\\{host="${HOST}"\\} (\\S+)$`, 'm').exec(
      r.body,
    );
    expect(m).not.toBeNull();
    const seconds = Number(m![1]);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(VALIDITY_S);
  });

  it('renews the short-lived certificate while HTTPS keep-alive load runs, with 0 failures', async () => {
    const first = (await httpsGet()).serial;
    const load = httpsLoad();
    const t0 = Date.now();
    const issuedBefore = daemon.https!.acme!.issued;
    await until('a renewed certificate served', 45_000, async () =>
      [...load.serials].some((x) => x !== first) ? true : undefined,
    );
    const renewedAfter = Date.now() - t0;
    await sleep(2000); // load goes on across the swap
    const { ok, failures, serials } = await load.stop();
    process.stdout.write(
      `tls.test: renewal after ${renewedAfter} ms; ${ok} HTTPS requests, ${failures.length} failed; serials ${[...serials].join(' ')}\n`,
    );
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    expect(daemon.https!.acme!.issued).toBeGreaterThan(issuedBefore);
    const now = (await httpsGet()).serial;
    expect(now).not.toBe(first);
  });

  it('hands the HTTPS listener over on a daemon upgrade: 0 failed HTTPS requests', async () => {
    const load = httpsLoad();
    await sleep(500);
    const r = await daemon.handOver({ node: process.execPath, script: BIN });
    successor = r.to;
    await daemon.closed; // this daemon drained and closed its sockets: the successor serves alone
    await sleep(1000);
    const { ok, failures } = await load.stop();
    process.stdout.write(`tls.test: handover; ${ok} HTTPS requests, ${failures.length} failed\n`);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    // the successor serves the certificate this daemon stored (or one it renewed since)
    const after = await httpsGet();
    expect(after.status).toBe(200);
    expect(after.issuer).toMatch(/Pebble Intermediate/);
    const s = await t.cli(['status', '--json']);
    expect(JSON.parse(s.stdout).pid).toBe(successor);
  });
});
