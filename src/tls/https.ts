import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import type http from 'node:http';
import type { Logger } from 'pino';
import { configError } from '../domain/errors';
import type { TlsConfig } from '../config/tls-schema';
import { parseHostPort } from '../config/listen';
import { CertStore, loadCertificateFile } from './certs';
import { AcmeManager } from './acme';
import { frontDoor } from './front-door';

// proxy.tls put together: the certificates (files and ACME), the TLS listener whose
// connections the proxy serves, and what the HTTP listener answers before routing.

export interface HttpsDeps {
  /** Directory of shipit.yml: certificate paths are relative to it. */
  configDir: string;
  stateDir: string;
  log: Logger;
  /** First wait after a failed ACME attempt. Default 5 s. */
  acmeFirstRetryMs?: number;
}

export class HttpsService {
  readonly store = new CertStore();
  readonly acme: AcmeManager | null;
  readonly server: tls.Server;
  readonly host: string;
  readonly port: number;
  /** For ProxyOptions.intercept: ACME challenges and the HTTPS redirect. */
  readonly intercept: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

  /**
   * Loads every configured certificate file and the ACME certificates stored by an earlier
   * run; throws a config error (nothing started) on a file that is missing or does not fit.
   */
  constructor(cfg: TlsConfig, deps: HttpsDeps) {
    const listen = parseHostPort(cfg.listen, '0.0.0.0');
    /* istanbul ignore next -- the schema already rejected malformed addresses */
    if (!listen) throw configError(`proxy.tls.listen: bad address ${cfg.listen}`);
    this.host = listen.host;
    this.port = listen.port;
    const at = (p: string) => path.resolve(deps.configDir, p);
    cfg.certificates.forEach((c, i) => {
      this.store.set(c.hosts, loadCertificateFile(i, { cert: at(c.cert), key: at(c.key) }), 'file');
    });
    const chosen = cfg.certificates.find((c) => c.default) ?? cfg.certificates[0];
    if (chosen) this.store.setDefault(chosen.hosts[0]);
    let ca: string | undefined;
    if (cfg.acme?.caFile) {
      try {
        ca = fs.readFileSync(at(cfg.acme.caFile), 'utf8');
      } catch (e) {
        throw configError(
          `proxy.tls.acme.caFile: cannot read ${at(cfg.acme.caFile)}: ${(e as Error).message}`,
        );
      }
    }
    this.acme = cfg.acme
      ? new AcmeManager({
          directory: cfg.acme.directory,
          email: cfg.acme.email,
          hosts: cfg.acme.hosts,
          renewBeforeMs: cfg.acme.renewBefore,
          checkIntervalMs: cfg.acme.checkInterval,
          ca,
          dir: path.join(deps.stateDir, 'tls', 'acme'),
          store: this.store,
          log: deps.log.child({ part: 'acme' }),
          firstRetryMs: deps.acmeFirstRetryMs,
        })
      : null;
    this.acme?.loadStored();
    const acme = this.acme;
    this.intercept = frontDoor({
      challenge: acme ? (token) => acme.challenges.get(token) : undefined,
      redirect: cfg.redirect
        ? {
            // the bound port when listen says 0 (tests)
            port: () =>
              cfg.redirectPort ??
              (this.server.address() as net.AddressInfo | null)?.port ??
              this.port,
            // Only hosts with a certificate now: an ACME host still waiting for its first one
            // stays on plain HTTP rather than sending clients to a handshake that fails.
            serves: (h) => this.store.serves(h),
          }
        : undefined,
    });
    this.server = tls.createServer({
      SNICallback: this.store.sniCallback,
      ALPNProtocols: ['http/1.1'],
      // a client that opens a connection and never finishes its handshake holds it this long
      handshakeTimeout: 10_000,
      ...this.store.defaultPem(),
    });
    // Clients that send no SNI get the listener's own context: keep it the default certificate.
    this.store.onChange = () => {
      const pem = this.store.defaultPem();
      if (pem) this.server.setSecureContext(pem);
    };
    this.server.on('tlsClientError', (err, socket) => {
      deps.log.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
    });
  }

  /** Starts obtaining and renewing ACME certificates (in the background). */
  start(): void {
    this.acme?.start();
  }

  async stop(): Promise<void> {
    await this.acme?.stop();
  }
}
