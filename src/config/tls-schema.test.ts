import { ShipitError } from '../domain/errors';
import { parseConfig } from './load';
import { configJsonSchema } from './schema';

const withTls = (tls: string) => `project: demo
proxy:
  listen: 127.0.0.1:8080
  tls:
${tls
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
services:
  web:
    image: demo-web:v1
    port: 8080
`;

const parse = (text: string) => parseConfig(text, { path: '/x/shipit.yml', env: {} });

function problems(text: string): string {
  try {
    parse(text);
  } catch (e) {
    if (e instanceof ShipitError) return e.message;
    throw e;
  }
  throw new Error('expected the config to be refused');
}

describe('proxy.tls', () => {
  it('is absent by default', () => {
    const plain = withTls('redirect: true').replace(/ {2}tls:\n {4}redirect: true\n/, '');
    expect(plain).not.toContain('tls');
    expect(parse(plain).raw.proxy.tls).toBeUndefined();
  });

  it('reads certificate files and ACME with defaults; hosts lower-cased, durations in ms', () => {
    const tls = parse(
      withTls(`
redirect: true
certificates:
  - { hosts: [Example.com, "*.example.com"], cert: certs/a.pem, key: certs/a.key }
  - { hosts: [other.test], cert: b.pem, key: b.key, default: true }
acme:
  directory: https://acme.test/dir
  email: ops@example.com
  hosts: [app.example.com]
  renewBefore: 20d
`),
    ).raw.proxy.tls;
    expect(tls).toEqual({
      listen: '0.0.0.0:8443',
      redirect: true,
      certificates: [
        {
          hosts: ['example.com', '*.example.com'],
          cert: 'certs/a.pem',
          key: 'certs/a.key',
          default: false,
        },
        { hosts: ['other.test'], cert: 'b.pem', key: 'b.key', default: true },
      ],
      acme: {
        directory: 'https://acme.test/dir',
        email: 'ops@example.com',
        hosts: ['app.example.com'],
        renewBefore: 20 * 86_400_000,
        checkInterval: 12 * 3_600_000,
      },
    });
  });

  it('names the key path of every problem', () => {
    const msg = problems(
      withTls(`
listen: nowhere
redirect: yes-please
certificates:
  - { hosts: [], cert: a.pem }
  - { hosts: ["bad host"], cert: a.pem, key: a.key, colour: red }
acme:
  directory: http://insecure.test/dir
  hosts: ["*.example.com"]
  renewBefore: soon
`),
    );
    for (const line of [
      'proxy.tls.listen: expected an address like "0.0.0.0:8443", got "nowhere"',
      'proxy.tls.redirect: expected true or false, got "yes-please"',
      'proxy.tls.certificates[0].hosts: expected at least one host, got an empty list',
      'proxy.tls.certificates[0].key: is required (expected a file path)',
      'proxy.tls.certificates[1].hosts[0]: expected a host name like "app.example.com" or "*.example.com", got "bad host"',
      'proxy.tls.certificates[1].colour: unknown key (allowed: hosts, cert, key, default)',
      'proxy.tls.acme.directory: expected an https URL of an ACME directory, got "http://insecure.test/dir"',
      'proxy.tls.acme.hosts[0]: expected a host without a wildcard (HTTP-01 cannot validate one), got "*.example.com"',
      'proxy.tls.acme.renewBefore: expected a duration like "5s", got "soon"',
    ]) {
      expect(msg).toContain(line);
    }
  });

  it('needs certificates or acme, and at most one default certificate', () => {
    expect(problems(withTls('redirect: true'))).toContain(
      'proxy.tls: expected certificates or acme (or both), got neither',
    );
    expect(
      problems(
        withTls(`
certificates:
  - { hosts: [a.test], cert: a.pem, key: a.key, default: true }
  - { hosts: [b.test], cert: b.pem, key: b.key, default: true }
`),
      ),
    ).toContain(
      'proxy.tls.certificates: expected at most one certificate with default: true, got 2',
    );
  });

  it('rejects unknown keys under proxy.tls and proxy.tls.acme', () => {
    const msg = problems(
      withTls(`
cert: a.pem
acme: { directory: https://a.test/dir, hosts: [a.test], staging: true }
`),
    );
    expect(msg).toContain(
      'proxy.tls.cert: unknown key (allowed: listen, redirect, redirectPort, certificates, acme)',
    );
    expect(msg).toContain(
      'proxy.tls.acme.staging: unknown key (allowed: directory, email, hosts, renewBefore, checkInterval, caFile)',
    );
  });

  it('is documented in the JSON Schema', () => {
    const schema = configJsonSchema() as {
      properties: {
        proxy: {
          properties: Record<
            string,
            { description?: string; properties?: Record<string, { description?: string }> }
          >;
        };
      };
    };
    const tls = schema.properties.proxy.properties.tls;
    expect(tls.description).toMatch(/HTTPS/);
    expect(tls.properties?.acme.description).toMatch(/HTTP-01/);
    expect(tls.properties?.redirect.description).toMatch(/308/);
  });
});
