import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type * as AcmeClient from 'acme-client';
import { parseCertificate, type CertStore } from './certs';
import { renewalDue, retryDelay, type HeldCertificate } from './renewal';

// Obtains and renews certificates over ACME (HTTP-01). The proxy's HTTP listener answers the
// challenges from `challenges`. Account key and certificates live under <state>/tls/acme/.

export interface AcmeOptions {
  directory: string;
  email?: string;
  hosts: readonly string[];
  renewBeforeMs: number;
  checkIntervalMs: number;
  /** PEM of an extra CA trusted for the directory (a private or test ACME server). */
  ca?: string;
  /** Where the account key and certificates are kept. */
  dir: string;
  store: CertStore;
  log: Logger;
  now?: () => number;
  /** First wait after a failed attempt (doubles up to checkInterval). Default 5 s. */
  firstRetryMs?: number;
}

// Loaded on first use: acme-client (axios, forge) is heavy and only needed with ACME configured.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const acmeLib = (): typeof AcmeClient => require('acme-client') as typeof AcmeClient;

/** The DNS names of a certificate's subjectAltName. */
export function certificateHosts(certPem: string): string[] {
  const san = new X509Certificate(certPem).subjectAltName ?? '';
  return san
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
}

/** Writes a file by rename, so a crash never leaves half a key; `mode` applies from the start. */
function writeAtomic(file: string, data: string | Buffer, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

export class AcmeManager {
  /** token -> key authorization, answered at /.well-known/acme-challenge/<token>. */
  readonly challenges = new Map<string, string>();
  private readonly held = new Map<string, HeldCertificate>();
  private client: AcmeClient.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private failures = 0;
  private stopped = true;
  private readonly now: () => number;
  /** Certificates obtained by this process (renewals included): for status and tests. */
  issued = 0;

  constructor(private readonly o: AcmeOptions) {
    this.now = o.now ?? Date.now;
    fs.mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  }

  private file(host: string, ext: 'crt' | 'key'): string {
    return path.join(this.o.dir, `${host}.${ext}`);
  }

  /** Serves the certificates a previous run stored (still valid ones), before any ACME traffic. */
  loadStored(): void {
    for (const host of this.o.hosts) {
      let cert: string;
      let key: string;
      try {
        cert = fs.readFileSync(this.file(host, 'crt'), 'utf8');
        key = fs.readFileSync(this.file(host, 'key'), 'utf8');
      } catch {
        continue; // none yet
      }
      try {
        const entry = parseCertificate(cert, key);
        this.held.set(host, { notAfter: entry.notAfter, hosts: certificateHosts(cert) });
        if (entry.notAfter > this.now()) this.o.store.set([host], entry, 'acme');
      } catch (e) {
        this.o.log.warn({ host, err: (e as Error).message }, 'stored ACME certificate unusable');
      }
    }
  }

  /** Checks now, then every checkInterval (after a failure: sooner, with backoff). */
  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.check(), ms);
    this.timer.unref();
  }

  /** Obtains every certificate that is missing or due; one check at a time. */
  check(): Promise<void> {
    this.running ??= this.checkAll().finally(() => (this.running = null));
    return this.running;
  }

  private async checkAll(): Promise<void> {
    let failed = false;
    for (const host of this.o.hosts) {
      const reason = renewalDue(host, this.held.get(host), this.now(), this.o.renewBeforeMs);
      if (!reason || this.stopped) continue;
      const started = this.now();
      try {
        const serial = await this.obtain(host);
        this.o.log.info(
          { host, reason, serial, ms: this.now() - started },
          'ACME certificate obtained',
        );
      } catch (e) {
        failed = true;
        this.o.log.error(
          { host, reason, directory: this.o.directory, err: (e as Error).message },
          'ACME certificate request failed; retrying with backoff',
        );
      }
    }
    this.failures = failed ? this.failures + 1 : 0;
    this.schedule(
      failed
        ? retryDelay(this.failures, this.o.checkIntervalMs, this.o.firstRetryMs)
        : this.o.checkIntervalMs,
    );
  }

  /**
   * Fails with a clear message when the directory cannot be reached: acme-client 5.4 turns a
   * network error into "Cannot read properties of undefined (reading 'config')".
   */
  private directoryReachable(): Promise<void> {
    const url = this.o.directory;
    const ca = this.o.ca ? [...tls.rootCertificates, this.o.ca] : undefined;
    return new Promise((resolve, reject) => {
      const req = https.get(url, { ca, timeout: 10_000 }, (res) => {
        res.resume();
        if (res.statusCode === 200) resolve();
        else reject(new Error(`ACME directory ${url} answered ${res.statusCode}`));
      });
      req.on('timeout', () => req.destroy(new Error('timed out after 10 s')));
      req.on('error', (e: NodeJS.ErrnoException) =>
        reject(new Error(`ACME directory ${url} unreachable: ${e.code ?? e.message}`)),
      );
    });
  }

  private async obtain(host: string): Promise<string> {
    const acme = acmeLib();
    await this.directoryReachable();
    const client = this.client ?? (this.client = await this.newClient(acme));
    const certKey = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    const [, csr] = await acme.crypto.createCsr({ altNames: [host] }, certKey);
    const cert = await client.auto({
      csr,
      email: this.o.email,
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // The self-check would fetch http://<host>:80 from here: behind NAT or a port mapping
      // that says nothing about what the CA sees; the CA's own validation decides.
      skipChallengeVerification: true,
      challengeCreateFn: (_authz, challenge, keyAuthorization) => {
        this.challenges.set(challenge.token, keyAuthorization);
        return Promise.resolve();
      },
      challengeRemoveFn: (_authz, challenge) => {
        this.challenges.delete(challenge.token);
        return Promise.resolve();
      },
    });
    const entry = parseCertificate(cert, certKey); // refuses a chain that does not fit the key
    writeAtomic(this.file(host, 'key'), certKey, 0o600);
    writeAtomic(this.file(host, 'crt'), cert, 0o644);
    this.held.set(host, { notAfter: entry.notAfter, hosts: certificateHosts(cert) });
    this.o.store.set([host], entry, 'acme');
    this.issued++;
    return entry.serial;
  }

  private async newClient(acme: typeof AcmeClient): Promise<AcmeClient.Client> {
    const keyFile = path.join(this.o.dir, 'account.key');
    let accountKey: string;
    try {
      accountKey = fs.readFileSync(keyFile, 'utf8');
    } catch {
      accountKey = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
      writeAtomic(keyFile, accountKey, 0o600);
    }
    if (this.o.ca) {
      // acme-client has one axios instance: this daemon is its only user.
      acme.axios.defaults.httpsAgent = new https.Agent({
        ca: [...tls.rootCertificates, this.o.ca],
      });
    }
    // Our own backoff (retryDelay) retries a failed attempt; acme-client's would first spend
    // 75 s on its own retries of an unreachable directory.
    const settings = (acme.axios.defaults as { acmeSettings?: { retryMaxAttempts: number } })
      .acmeSettings;
    if (settings) settings.retryMaxAttempts = 0;
    return new acme.Client({ directoryUrl: this.o.directory, accountKey });
  }
}
