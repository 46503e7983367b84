// Certificates for tests, made with openssl (scripts/pebble-bootstrap.sh installs it).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** A CA, and a certificate it signed for `hosts` (SANs; IPs allowed); returns the file paths. */
export function makeCa(
  dir: string,
  name: string,
  hosts: string[],
): { ca: string; cert: string; key: string } {
  fs.mkdirSync(dir, { recursive: true });
  const f = (s: string) => path.join(dir, `${name}-${s}`);
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
      .concat([
        '-keyout',
        f('ca.key'),
        '-out',
        f('ca.pem'),
        '-days',
        '2',
        '-subj',
        `/CN=${name} CA`,
      ])
      .concat([
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign',
      ]),
    dir,
  );
  const san = hosts.map((h) => (/^[\d.]+$/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  openssl(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-keyout',
      f('key.pem'),
      '-out',
      f('csr.pem'),
      '-subj',
      `/CN=${hosts[0]}`,
    ]),
    dir,
  );
  fs.writeFileSync(f('ext.cnf'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  openssl(
    ['x509', '-req', '-in', f('csr.pem'), '-CA', f('ca.pem'), '-CAkey', f('ca.key')].concat([
      '-CAcreateserial',
      '-out',
      f('cert.pem'),
      '-days',
      '2',
      '-extfile',
      f('ext.cnf'),
    ]),
    dir,
  );
  return { ca: f('ca.pem'), cert: f('cert.pem'), key: f('key.pem') };
}

/** A self-signed certificate for `hosts`. */
export function selfSigned(
  dir: string,
  name: string,
  hosts: string[],
): { cert: string; key: string } {
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
      .concat(['-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${hosts[0]}`])
      .concat(['-addext', `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(',')}`]),
    dir,
  );
  return { cert, key };
}
