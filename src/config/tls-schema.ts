import { z } from 'zod';
import {
  bool,
  duration,
  expecting,
  hostPort,
  int,
  listOf,
  nonEmptyString,
  pattern,
  strict,
} from './fields';

// proxy.tls: HTTPS from certificate files and/or certificates obtained over ACME (HTTP-01).

// A certificate names exact hosts or one-level wildcards ("*.example.com"); no port, no bare "*".
// Upper case is allowed (lower-cased when parsed) so the JSON Schema agrees with the parser.
const CERT_HOST_RE =
  /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const CERT_HOST_WHAT = 'a host name like "app.example.com" or "*.example.com"';

const certHost = z
  .string(expecting(CERT_HOST_WHAT))
  .trim()
  .toLowerCase()
  .regex(CERT_HOST_RE, expecting(CERT_HOST_WHAT));

const hostList = listOf(certHost, 'a list of hosts like ["app.example.com"]')
  .min(1, expecting('at least one host'))
  .transform((hosts) => [...new Set(hosts)]);

const certificateSchema = strict({
  hosts: hostList.describe('host names this certificate is served for (SNI)'),
  cert: nonEmptyString('a file path').describe('PEM certificate (chain), relative to this file'),
  key: nonEmptyString('a file path').describe('PEM private key, relative to this file'),
  default: bool()
    .default(false)
    .describe('served to clients that name no host or an unknown one (default: the first entry)'),
});

const acmeSchema = strict({
  directory: pattern(/^https:\/\/\S+$/, 'an https URL of an ACME directory').describe(
    'ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory',
  ),
  email: pattern(/^[^@\s]+@[^@\s]+$/, 'an e-mail address like "ops@example.com"')
    .optional()
    .describe('contact address of the ACME account (expiry notices)'),
  hosts: hostList.describe(
    'hosts to obtain certificates for; the proxy HTTP listener must be reachable on port 80 for them',
  ),
  renewBefore: duration(undefined, 1)
    .prefault('30d')
    .describe('a certificate is renewed when it expires within this'),
  checkInterval: duration(undefined, 1000)
    .prefault('12h')
    .describe('how often certificates are checked for renewal'),
  caFile: nonEmptyString('a file path')
    .optional()
    .describe('extra CA (PEM) trusted for the ACME directory, relative to this file'),
}).superRefine(
  (a, ctx) => {
    if (!Array.isArray(a.hosts)) return;
    a.hosts.forEach((h, i) => {
      if (typeof h === 'string' && h.startsWith('*.')) {
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', i],
          message: `expected a host without a wildcard (HTTP-01 cannot validate one), got "${h}"`,
        });
      }
    });
  },
  { when: (p) => typeof p.value === 'object' && p.value !== null },
);

export const tlsSchema = strict({
  listen: hostPort('0.0.0.0:8443').default('0.0.0.0:8443').describe('public HTTPS listener'),
  redirect: bool()
    .default(false)
    .describe(
      'answer plain HTTP for hosts served over HTTPS with 308 to https:// (ACME challenges excepted)',
    ),
  redirectPort: int(1, 65535)
    .optional()
    .describe('port in the redirect URL when HTTPS is published on another port (default: listen)'),
  certificates: listOf(certificateSchema, 'a list like [{ hosts: [...], cert: FILE, key: FILE }]')
    .default([])
    .describe('certificate files; SNI picks the one whose hosts match'),
  acme: acmeSchema.optional().describe('obtain and renew certificates automatically (HTTP-01)'),
}).superRefine(
  (t, ctx) => {
    const certs = Array.isArray(t.certificates) ? t.certificates : [];
    if (certs.length === 0 && t.acme === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected certificates or acme (or both), got neither',
      });
    }
    const defaults = certs.filter((c) => c?.default === true).length;
    if (defaults > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['certificates'],
        message: `expected at most one certificate with default: true, got ${defaults}`,
      });
    }
  },
  { when: (p) => typeof p.value === 'object' && p.value !== null },
);

export type TlsConfig = z.output<typeof tlsSchema>;
export type AcmeConfig = NonNullable<TlsConfig['acme']>;
