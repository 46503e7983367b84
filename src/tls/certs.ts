import fs from 'node:fs';
import tls from 'node:tls';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { configError } from '../domain/errors';

// Certificates the HTTPS listener serves, by host. Swapping one is a map assignment:
// connections already open keep their context, new handshakes get the new one.

export interface CertInfo {
  /** Where it came from: "file" (config) or "acme". */
  source: 'file' | 'acme';
  /** Expiry, ms since the epoch. */
  notAfter: number;
  notBefore: number;
  /** Hex serial number (upper case, as node prints it). */
  serial: string;
}

interface Entry extends CertInfo {
  context: tls.SecureContext;
  /** The PEMs, for the listener's own context (clients that send no SNI skip SNICallback). */
  pem: { cert: string; key: string };
}

/**
 * Parses a PEM chain + key: checks the key matches the leaf and builds a SecureContext.
 * Throws an Error naming what is wrong (never a half-built entry).
 */
export function parseCertificate(certPem: string, keyPem: string): Omit<Entry, 'source'> {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
  } catch (e) {
    throw new Error(`not a PEM certificate (${(e as Error).message})`, { cause: e });
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new Error(`not a PEM private key (${(e as Error).message})`, { cause: e });
  }
  if (!leaf.checkPrivateKey(key)) throw new Error('the key does not match the certificate');
  return {
    context: tls.createSecureContext({ cert: certPem, key: keyPem }),
    pem: { cert: certPem, key: keyPem },
    notAfter: Date.parse(leaf.validTo),
    notBefore: Date.parse(leaf.validFrom),
    serial: leaf.serialNumber,
  };
}

/** Matches a name against exact hosts, then one-level wildcards ("*.example.com"). */
export function matchHost<T>(entries: ReadonlyMap<string, T>, servername: string): T | undefined {
  const name = servername.toLowerCase().replace(/\.$/, '');
  const exact = entries.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  return dot > 0 ? entries.get(`*${name.slice(dot)}`) : undefined;
}

export class CertStore {
  private readonly byHost = new Map<string, Entry>();
  private defaultHost: string | undefined;
  /** Called after every change (the listener refreshes its context for clients without SNI). */
  onChange: () => void = () => {};

  /** Serves this certificate for these hosts from the next handshake on. */
  set(hosts: readonly string[], entry: Omit<Entry, 'source'>, source: CertInfo['source']): void {
    for (const h of hosts) this.byHost.set(h, { ...entry, source });
    this.onChange();
  }

  /** The host whose certificate clients get when they name no known host. */
  setDefault(host: string): void {
    this.defaultHost = host;
    this.onChange();
  }

  /** The default certificate's PEMs: the one for defaultHost, else the first set. */
  defaultPem(): { cert: string; key: string } | undefined {
    return this.defaultEntry()?.pem;
  }

  private defaultEntry(): Entry | undefined {
    return (
      (this.defaultHost !== undefined ? this.byHost.get(this.defaultHost) : undefined) ??
      this.byHost.values().next().value
    );
  }

  info(host: string): CertInfo | undefined {
    const e = this.byHost.get(host);
    return (
      e && { source: e.source, notAfter: e.notAfter, notBefore: e.notBefore, serial: e.serial }
    );
  }

  /** Whether HTTPS can be served for this Host header value (port ignored). */
  serves(host: string | undefined): boolean {
    if (!host) return false;
    return matchHost(this.byHost, host.replace(/:\d+$/, '')) !== undefined;
  }

  /** Every host with a certificate and when it expires (for the expiry metric). */
  expiries(): { host: string; notAfter: number }[] {
    return [...this.byHost].map(([host, e]) => ({ host, notAfter: e.notAfter }));
  }

  /** The context for a handshake: the host's, else the default one (undefined: none at all). */
  contextFor(servername: string | undefined): tls.SecureContext | undefined {
    const e = (servername ? matchHost(this.byHost, servername) : undefined) ?? this.defaultEntry();
    return e?.context;
  }

  /** For tls.createServer: picks the certificate by SNI on every handshake. */
  readonly sniCallback = (
    servername: string,
    cb: (err: Error | null, ctx?: tls.SecureContext) => void,
  ): void => {
    const ctx = this.contextFor(servername);
    if (ctx) cb(null, ctx);
    else cb(new Error(`no certificate for "${servername}"`));
  };
}

/**
 * Loads proxy.tls.certificates[i] from files: a config error (exit 2) naming the key path
 * when a file is missing or unreadable, or the key does not match the certificate.
 */
export function loadCertificateFile(
  index: number,
  files: { cert: string; key: string },
): Omit<Entry, 'source'> {
  const at = `proxy.tls.certificates[${index}]`;
  const read = (which: 'cert' | 'key'): string => {
    try {
      return fs.readFileSync(files[which], 'utf8');
    } catch (e) {
      throw configError(`${at}.${which}: cannot read ${files[which]}: ${(e as Error).message}`);
    }
  };
  const cert = read('cert');
  const key = read('key');
  try {
    return parseCertificate(cert, key);
  } catch (e) {
    throw configError(`${at}: ${files.cert} / ${files.key}: ${(e as Error).message}`);
  }
}
