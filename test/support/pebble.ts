// A real ACME server on loopback for the TLS tests: Debian's pebble (scripts/pebble-bootstrap.sh),
// a tiny DNS server that sends every name to 127.0.0.1, and certificates made with openssl.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { freePort } from './harness';
import { makeCa } from '../../src/testing/certs';

const PEBBLE = process.env.SHIPIT_PEBBLE ?? 'pebble';

export function havePebble(): boolean {
  return spawnSync(PEBBLE, ['-h'], { stdio: 'ignore' }).error === undefined;
}

/** Answers every A query with 127.0.0.1 and anything else with an empty NOERROR. */
export async function startDns(): Promise<{ port: number; queries: string[]; close: () => void }> {
  const sock = dgram.createSocket('udp4');
  const queries: string[] = [];
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    let at = 12;
    const labels: string[] = [];
    while (at < msg.length && msg[at] !== 0) {
      labels.push(msg.subarray(at + 1, at + 1 + msg[at]).toString('ascii'));
      at += msg[at] + 1;
    }
    const qEnd = at + 5; // zero byte, QTYPE, QCLASS
    if (qEnd > msg.length) return;
    const qtype = msg.readUInt16BE(at + 1);
    queries.push(`${labels.join('.')}/${qtype}`);
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100), 2); // QR AA (+RD as asked)
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(qtype === 1 ? 1 : 0, 6);
    const question = msg.subarray(12, qEnd);
    const answer =
      qtype === 1
        ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1])
        : Buffer.alloc(0);
    sock.send(Buffer.concat([header, question, answer]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return { port: sock.address().port, queries, close: () => sock.close() };
}

/** The certificate pebble serves its directory with (for localhost), and its CA (caFile). */
export function pebbleCerts(dir: string): { ca: string; cert: string; key: string } {
  return makeCa(dir, 'pebble', ['localhost', '127.0.0.1']);
}

export interface Pebble {
  directory: string;
  /** PEM of the CA that signed pebble's own HTTPS certificate (for caFile). */
  caFile: string;
  /** Pebble's issuing root and intermediate, fetched from its management API. */
  trust(): Promise<string[]>;
  log(): string;
  stop(): Promise<void>;
}

/** Starts pebble on loopback: HTTP-01 validation connects to 127.0.0.1:httpPort (via `dnsPort`). */
export async function startPebble(o: {
  dir: string;
  httpPort: number;
  dnsPort: number;
  validitySeconds?: number;
  /** Port of the ACME directory (default: a free one). */
  acmePort?: number;
  /** pebble's own HTTPS certificate (default: made here, see pebbleCerts). */
  certs?: { ca: string; cert: string; key: string };
}): Promise<Pebble> {
  const certs = o.certs ?? pebbleCerts(o.dir);
  const acmePort = o.acmePort ?? (await freePort());
  const [mgmtPort, tlsPort] = [await freePort(), await freePort()];
  const config = path.join(o.dir, 'pebble-config.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: certs.cert,
        privateKey: certs.key,
        httpPort: o.httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        ...(o.validitySeconds ? { certificateValidityPeriod: o.validitySeconds } : {}),
      },
    }),
  );
  const out: string[] = [];
  const child: ChildProcess = spawn(
    PEBBLE,
    ['-config', config, '-dnsserver', `127.0.0.1:${o.dnsPort}`],
    {
      // Validation really happens (no PEBBLE_VA_ALWAYS_VALID), just without pebble's random sleeps.
      env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (c) => out.push(String(c)));
  child.stderr?.on('data', (c) => out.push(String(c)));
  const ca = fs.readFileSync(certs.ca, 'utf8');
  const get = (port: number, p: string) =>
    new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: p, ca, servername: 'localhost' }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () =>
            res.statusCode === 200 ? resolve(body) : reject(new Error(`${p}: ${res.statusCode}`)),
          );
        })
        .on('error', reject);
    });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await get(acmePort, '/dir');
      break;
    } catch (e) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`pebble did not start: ${(e as Error).message}\n${out.join('')}`, {
          cause: e,
        });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    directory: `https://localhost:${acmePort}/dir`,
    caFile: certs.ca,
    trust: async () => [await get(mgmtPort, '/roots/0'), await get(mgmtPort, '/intermediates/0')],
    log: () => out.join(''),
    stop,
  };
}
