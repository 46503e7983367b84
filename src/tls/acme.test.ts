import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { makeCa, selfSigned } from '../testing/certs';
import { AcmeManager, certificateHosts } from './acme';
import { CertStore } from './certs';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-acme-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function manager(o: { hosts: string[]; directory?: string; lines?: string[] }) {
  const store = new CertStore();
  const lines = o.lines ?? [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
  const acme = new AcmeManager({
    directory: o.directory ?? 'https://127.0.0.1:1/dir',
    hosts: o.hosts,
    renewBeforeMs: 1000,
    checkIntervalMs: 60_000,
    dir: path.join(tmp, 'state', 'tls', 'acme'),
    store,
    log,
    firstRetryMs: 50,
  });
  return { acme, store, lines };
}

describe('certificateHosts', () => {
  it('lists the DNS names of the subjectAltName, lower-cased', () => {
    const c = makeCa(tmp, 'h', ['a.test', 'B.test', '127.0.0.1']);
    expect(certificateHosts(fs.readFileSync(c.cert, 'utf8'))).toEqual(['a.test', 'b.test']);
  });
});

describe('AcmeManager', () => {
  it('creates its directory private to the owner', () => {
    manager({ hosts: ['a.test'] });
    expect(fs.statSync(path.join(tmp, 'state', 'tls', 'acme')).mode & 0o777).toBe(0o700);
  });

  it('serves certificates a previous run stored; skips unusable ones with a warning', () => {
    const { acme, store, lines } = manager({ hosts: ['a.test', 'b.test', 'c.test'] });
    const dir = path.join(tmp, 'state', 'tls', 'acme');
    const a = selfSigned(tmp, 'a', ['a.test']);
    const b = selfSigned(tmp, 'b', ['b.test']);
    fs.copyFileSync(a.cert, path.join(dir, 'a.test.crt'));
    fs.copyFileSync(a.key, path.join(dir, 'a.test.key'));
    fs.copyFileSync(b.cert, path.join(dir, 'b.test.crt'));
    fs.copyFileSync(a.key, path.join(dir, 'b.test.key')); // wrong key
    acme.loadStored();
    expect(store.info('a.test')?.source).toBe('acme');
    expect(store.serves('a.test')).toBe(true);
    expect(store.serves('b.test')).toBe(false);
    expect(store.serves('c.test')).toBe(false); // none stored
    expect(lines.join('')).toContain('stored ACME certificate unusable');
    expect(lines.join('')).toContain('the key does not match the certificate');
  });

  it('retries an unreachable directory with backoff, says why, and stops retrying on stop()', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const lines: string[] = [];
    const { acme, store } = manager({
      hosts: ['a.test'],
      directory: `https://127.0.0.1:${port}/dir`,
      lines,
    });
    acme.start();
    const failures = () => lines.filter((l) => l.includes('ACME certificate request failed'));
    const end = Date.now() + 5000;
    while (failures().length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    await acme.stop();
    expect(failures().length).toBeGreaterThanOrEqual(3);
    expect(failures()[0]).toContain(
      `ACME directory https://127.0.0.1:${port}/dir unreachable: ECONNREFUSED`,
    );
    const after = failures().length;
    await new Promise((r) => setTimeout(r, 300));
    expect(failures().length).toBe(after);
    expect(store.serves('a.test')).toBe(false);
    expect(acme.issued).toBe(0);
  });
});
