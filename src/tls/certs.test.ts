import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeCa } from '../testing/certs';
import { CertStore, matchHost, parseCertificate } from './certs';

describe('matchHost', () => {
  const m = new Map([
    ['a.test', 'exact'],
    ['*.a.test', 'wild'],
  ]);

  it('prefers the exact name, then a one-level wildcard; case and a trailing dot ignored', () => {
    expect(matchHost(m, 'a.test')).toBe('exact');
    expect(matchHost(m, 'A.Test.')).toBe('exact');
    expect(matchHost(m, 'x.a.test')).toBe('wild');
    expect(matchHost(m, 'y.x.a.test')).toBeUndefined(); // a wildcard covers one label only
    expect(matchHost(m, 'b.test')).toBeUndefined();
    expect(matchHost(m, 'localhost')).toBeUndefined();
  });
});

describe('CertStore', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-certs-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const c = makeCa(dir, 's', ['a.test']);
  const entry = () =>
    parseCertificate(fs.readFileSync(c.cert, 'utf8'), fs.readFileSync(c.key, 'utf8'));

  it('serves a Host header with or without a port; nothing before a certificate is set', () => {
    const s = new CertStore();
    expect(s.serves('a.test')).toBe(false);
    expect(s.contextFor('a.test')).toBeUndefined();
    expect(s.defaultPem()).toBeUndefined();
    const changes: number[] = [];
    s.onChange = () => changes.push(1);
    s.set(['a.test'], entry(), 'file');
    expect(changes).toHaveLength(1);
    expect(s.serves('a.test:8443')).toBe(true);
    expect(s.serves(undefined)).toBe(false);
    expect(s.serves('b.test')).toBe(false);
    // the only certificate is the default one, for unknown names too
    expect(s.contextFor('b.test')).toBe(s.contextFor('a.test'));
    expect(s.info('a.test')).toMatchObject({ source: 'file', serial: entry().serial });
    expect(s.expiries()).toEqual([{ host: 'a.test', notAfter: entry().notAfter }]);
  });

  it('fails a handshake for an unknown name only when it has no certificate at all', (done) => {
    new CertStore().sniCallback('a.test', (err, ctx) => {
      expect(err?.message).toBe('no certificate for "a.test"');
      expect(ctx).toBeUndefined();
      done();
    });
  });
});
