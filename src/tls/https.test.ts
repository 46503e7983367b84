// HttpsService in front of a real ProxyServer, with certificate files made by openssl: SNI,
// the default certificate, the redirect, ACME challenges, a swap without restart, bad input.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import pino from 'pino';
import { ProxyRouter } from '../proxy/router';
import { ProxyServer } from '../proxy/server';
import { ShipitMetrics } from '../observe/metrics';
import { tlsSchema } from '../config/tls-schema';
import { ShipitError } from '../domain/errors';
import { makeCa, selfSigned } from '../testing/certs';
import { HttpsService } from './https';
import { parseCertificate } from './certs';

const log = pino({ level: 'silent' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-tls-'));
let upstream: http.Server;
let proxy: ProxyServer;
let svc: HttpsService;
let httpPort: number;
let httpsPort: number;
let ca: { ca: string; cert: string; key: string };
let other: { cert: string; key: string };

function service(tlsYaml: object): HttpsService {
  return new HttpsService(tlsSchema.parse(tlsYaml), { configDir: dir, stateDir: dir, log });
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  serial?: string;
}

function get(o: {
  host: string;
  path?: string;
  tls?: boolean;
  servername?: string | false;
  agent?: http.Agent;
  trust?: string;
}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const common = {
      host: '127.0.0.1',
      path: o.path ?? '/',
      headers: { host: o.host },
      agent: o.agent ?? false,
    };
    const done = (res: http.IncomingMessage) => {
      // read now: a kept-alive socket goes back to its agent (res.socket null) at 'end'
      const sock = res.socket as tls.TLSSocket;
      const serial = o.tls ? sock.getPeerCertificate().serialNumber : undefined;
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, serial }),
      );
    };
    const req = o.tls
      ? https.get(
          {
            ...common,
            port: httpsPort,
            ca: [ca.ca, other.cert, ...(o.trust ? [o.trust] : [])].map((f) => fs.readFileSync(f)),
            // node sends no SNI for an IP; the tests name the host they want (or none)
            servername: o.servername === false ? '' : (o.servername ?? o.host),
            checkServerIdentity: () => undefined,
          },
          done,
        )
      : http.get({ ...common, port: httpPort }, done);
    req.on('error', reject);
  });
}

const serialOf = (file: string) => new X509Certificate(fs.readFileSync(file)).serialNumber;

beforeAll(async () => {
  ca = makeCa(dir, 'files', ['a.test', '*.wild.test']);
  other = selfSigned(dir, 'other', ['b.test']);
  upstream = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ proto: req.headers['x-forwarded-proto'], url: req.url }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upPort = (upstream.address() as net.AddressInfo).port;
  svc = service({
    listen: '127.0.0.1:0',
    redirect: true,
    certificates: [
      { hosts: ['a.test', '*.wild.test'], cert: ca.cert, key: ca.key },
      { hosts: ['b.test'], cert: path.basename(other.cert), key: path.basename(other.key) },
    ],
  });
  const router = new ProxyRouter();
  for (const [name, host] of [
    ['a', 'a.test'],
    ['b', 'b.test'],
    ['w', 'x.wild.test'],
    ['plain', 'plain.test'],
  ])
    router.setService(
      name,
      [host],
      [{ number: 1, weight: 100, targets: [{ id: name, name, host: '127.0.0.1', port: upPort }] }],
    );
  proxy = new ProxyServer(router, {
    upstreamTimeoutMs: 2000,
    maxBodyBytes: 1024,
    accessLog: null,
    log,
    intercept: svc.intercept,
  });
  await proxy.listen(0, '127.0.0.1');
  await proxy.listenTls(svc.server, 0, '127.0.0.1');
  httpPort = proxy.address().port;
  httpsPort = (svc.server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  proxy.server.closeAllConnections();
  await proxy.close();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('HTTPS from certificate files', () => {
  it('picks the certificate by SNI (exact and wildcard) and sets X-Forwarded-Proto: https', async () => {
    const a = await get({ host: 'a.test', tls: true, path: '/x?y=1' });
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toEqual({ proto: 'https', url: '/x?y=1' });
    expect(a.serial).toBe(serialOf(ca.cert));
    const b = await get({ host: 'b.test', tls: true });
    expect(b.serial).toBe(serialOf(other.cert));
    const w = await get({ host: 'x.wild.test', tls: true });
    expect(w.serial).toBe(serialOf(ca.cert));
    expect(JSON.parse(w.body).proto).toBe('https');
  });

  it('serves the default certificate (the first entry) for an unknown name and without SNI', async () => {
    const unknown = await get({ host: 'plain.test', tls: true });
    expect(unknown.serial).toBe(serialOf(ca.cert));
    expect(unknown.status).toBe(200);
    const noSni = await get({ host: 'b.test', tls: true, servername: false });
    expect(noSni.serial).toBe(serialOf(ca.cert));
  });

  it('redirects plain HTTP with 308 to https, keeping path and query, for hosts it has a certificate for', async () => {
    const r = await get({ host: `a.test:${httpPort}`, path: '/p/q?x=1&y=2' });
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe(`https://a.test:${httpsPort}/p/q?x=1&y=2`);
    expect((await get({ host: 'x.wild.test' })).status).toBe(308);
    // no certificate for this host: plain HTTP keeps working, with X-Forwarded-Proto: http
    const plain = await get({ host: 'plain.test' });
    expect(plain.status).toBe(200);
    expect(JSON.parse(plain.body).proto).toBe('http');
  });

  it('never redirects an ACME challenge; an unknown token goes to routing', async () => {
    const r = await get({ host: 'a.test', path: '/.well-known/acme-challenge/nope' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).url).toBe('/.well-known/acme-challenge/nope');
  });

  it('swaps a certificate without restarting the listener; open connections keep working', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const before = await get({ host: 'b.test', tls: true, agent });
    const fresh = selfSigned(dir, 'b2', ['b.test']);
    svc.store.set(
      ['b.test'],
      parseCertificate(fs.readFileSync(fresh.cert, 'utf8'), fs.readFileSync(fresh.key, 'utf8')),
      'file',
    );
    // the kept-alive connection still answers (its handshake is done)...
    const same = await get({ host: 'b.test', tls: true, agent });
    expect(same.status).toBe(200);
    expect(same.serial).toBe(before.serial);
    agent.destroy();
    // ...and a new one gets the new certificate
    const after = await get({ host: 'b.test', tls: true, trust: fresh.cert });
    expect(after.serial).toBe(serialOf(fresh.cert));
    expect(after.serial).not.toBe(before.serial);
  });

  it('exports shipit_tls_cert_expiry_seconds per host', async () => {
    const m = new ShipitMetrics(
      {
        counters: () => [],
        services: () => [],
        weights: () => ({}),
        containers: () => [],
        alerts: () => [],
      },
      { processMetrics: false },
    );
    m.tlsCertificates(() => svc.store.expiries());
    const text = await m.text();
    expect(text).toContain('# TYPE shipit_tls_cert_expiry_seconds gauge');
    const v = Number(/shipit_tls_cert_expiry_seconds\{host="a.test"\} (\S+)/.exec(text)?.[1]);
    // openssl -days 2: a little under two days from now
    expect(v).toBeGreaterThan(2 * 86400 - 600);
    expect(v).toBeLessThanOrEqual(2 * 86400);
    expect(text).toContain('shipit_tls_cert_expiry_seconds{host="*.wild.test"}');
  });
});

describe('bad TLS input is refused before anything starts', () => {
  const refused = (tlsYaml: object): ShipitError => {
    try {
      service(tlsYaml);
    } catch (e) {
      if (e instanceof ShipitError) return e;
      throw e;
    }
    throw new Error('expected a config error');
  };

  it('names a missing certificate file by key path', () => {
    const e = refused({ certificates: [{ hosts: ['a.test'], cert: 'missing.pem', key: ca.key }] });
    expect(e.code).toBe('config');
    expect(e.message).toMatch(
      /^proxy\.tls\.certificates\[0\]\.cert: cannot read .*missing\.pem: ENOENT/,
    );
  });

  it('refuses a key that does not match the certificate, and a file that is not PEM', () => {
    const e = refused({
      certificates: [
        { hosts: ['a.test'], cert: ca.cert, key: ca.key },
        { hosts: ['b.test'], cert: other.cert, key: ca.key },
      ],
    });
    expect(e.message).toMatch(
      /^proxy\.tls\.certificates\[1\]: .* the key does not match the certificate/,
    );
    const notPem = refused({ certificates: [{ hosts: ['a.test'], cert: ca.key, key: ca.key }] });
    expect(notPem.message).toMatch(/not a PEM certificate/);
  });

  it('names an unreadable ACME caFile', () => {
    const e = refused({
      acme: { directory: 'https://acme.test/dir', hosts: ['a.test'], caFile: 'nope.pem' },
    });
    expect(e.message).toMatch(/^proxy\.tls\.acme\.caFile: cannot read .*nope\.pem/);
  });

  it('reports a TLS port in use (the daemon turns it into a listen error)', async () => {
    const s = service({ certificates: [{ hosts: ['a.test'], cert: ca.cert, key: ca.key }] });
    const p = new ProxyServer(new ProxyRouter(), {
      upstreamTimeoutMs: 1000,
      maxBodyBytes: 1,
      accessLog: null,
      log,
    });
    await expect(p.listenTls(s.server, httpsPort, '127.0.0.1')).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
    await p.close();
  });
});
