import { buildServiceRoute, RoutingTable, type ServiceRoute } from './routing-table';
import { Target } from './target';

function route(name: string, hosts: string[]): ServiceRoute {
  return buildServiceRoute(name, hosts, [
    {
      number: 1,
      weight: 100,
      targets: [new Target(`${name}1`, `${name}-1`, name, 1, '10.0.0.2', 80)],
    },
  ]);
}

function table(...routes: ServiceRoute[]): RoutingTable {
  return new RoutingTable(new Map(routes.map((r) => [r.name, r])));
}

describe('RoutingTable.lookup', () => {
  const web = route('web', ['example.test', 'www.Example.test']);
  const api = route('api', ['api.example.test']);

  it('finds a service by exact host', () => {
    const tb = table(web, api);
    expect(tb.lookup('example.test')).toBe(web);
    expect(tb.lookup('api.example.test')).toBe(api);
  });

  it('is case-insensitive, both for the header and for the configured host', () => {
    const tb = table(web, api);
    expect(tb.lookup('EXAMPLE.Test')).toBe(web);
    expect(tb.lookup('www.example.test')).toBe(web);
    expect(tb.lookup('WWW.EXAMPLE.TEST')).toBe(web);
  });

  it('strips the port', () => {
    const tb = table(web, api);
    expect(tb.lookup('example.test:8080')).toBe(web);
    expect(tb.lookup('API.example.test:443')).toBe(api);
  });

  it('handles bracketed IPv6 hosts with and without a port', () => {
    const v6 = route('v6', ['[::1]']);
    const tb = table(v6);
    expect(tb.lookup('[::1]:8080')).toBe(v6);
    expect(tb.lookup('[::1]')).toBe(v6);
  });

  it('returns null when nothing matches and there is no default', () => {
    const tb = table(web, api);
    expect(tb.lookup('other.test')).toBeNull();
    expect(tb.lookup('example.test.evil')).toBeNull();
    expect(tb.lookup(undefined)).toBeNull();
    expect(tb.lookup('')).toBeNull();
  });

  it('falls back to the `*` service for unknown or missing hosts, but exact hosts win', () => {
    const any = route('any', ['*']);
    const tb = table(web, any);
    expect(tb.lookup('other.test')).toBe(any);
    expect(tb.lookup(undefined)).toBe(any);
    expect(tb.lookup('example.test:80')).toBe(web);
  });

  it('an empty table finds nothing', () => {
    expect(new RoutingTable(new Map()).lookup('example.test')).toBeNull();
  });
});

describe('buildServiceRoute', () => {
  it('indexes releases by number and marks splitting only when several take traffic', () => {
    const one = buildServiceRoute(
      'web',
      ['*'],
      [
        { number: 1, weight: 100, targets: [] },
        { number: 2, weight: 0, targets: [] },
      ],
    );
    expect([...one.releases.keys()].sort()).toEqual([1, 2]);
    expect(one.splitting).toBe(false);
    expect(one.split.only).toBe(1);
    expect(one.sticky).toEqual({ mode: 'cookie' });
    expect(one.acceptance).toBeNull();

    const two = buildServiceRoute(
      'web',
      ['*'],
      [
        { number: 1, weight: 90, targets: [] },
        { number: 2, weight: 10, targets: [] },
      ],
    );
    expect(two.splitting).toBe(true);
    expect(two.split.only).toBeNull();
  });
});

describe('RoutingTable.lookup with wildcard hosts', () => {
  const apps = route('apps', ['*.apps.test']);
  const deep = route('deep', ['*.eu.apps.test']);
  const exact = route('exact', ['admin.apps.test']);
  const any = route('any', ['*']);
  const tb = table(apps, deep, exact, any);

  it('matches any depth below the suffix, case-insensitive and without the port', () => {
    expect(tb.lookup('x.apps.test')).toBe(apps);
    expect(tb.lookup('a.b.apps.test:8080')).toBe(apps);
    expect(tb.lookup('X.APPS.test')).toBe(apps);
  });

  it('an exact host wins over a wildcard, and the most specific wildcard wins', () => {
    expect(tb.lookup('admin.apps.test')).toBe(exact);
    expect(tb.lookup('shop.eu.apps.test')).toBe(deep);
    expect(tb.lookup('eu.apps.test')).toBe(apps);
  });

  it('does not match the bare suffix or look-alike hosts; those fall back to `*`', () => {
    expect(tb.lookup('apps.test')).toBe(any);
    expect(tb.lookup('xapps.test')).toBe(any);
    expect(tb.lookup('x.apps.test.evil')).toBe(any);
    expect(table(apps).lookup('apps.test')).toBeNull();
  });
});
