import { endpoint, parseHost } from './context';

describe('parseHost (--host / SHIPIT_HOST)', () => {
  it('takes http://HOST:PORT, HOST:PORT, [v6]:PORT and unix:PATH', () => {
    expect(parseHost('http://deploy.example.com:7070')).toEqual({
      host: 'deploy.example.com',
      port: 7070,
    });
    expect(parseHost('10.0.0.5:7070/')).toEqual({ host: '10.0.0.5', port: 7070 });
    expect(parseHost('http://[::1]:7070')).toEqual({ host: '::1', port: 7070 });
    expect(parseHost('unix:/run/shipit.sock')).toEqual({ socketPath: '/run/shipit.sock' });
  });

  it.each(['deploy.example.com', 'http://h:0', 'http://h:70000', 'ftp://h:1', 'h:port', ''])(
    'refuses %j with a usage error (exit 2) naming the forms',
    (v) => {
      expect(() => parseHost(v)).toThrow(
        expect.objectContaining({ code: 'usage', message: expect.stringContaining('HOST:PORT') }),
      );
    },
  );

  it('says why for https', () => {
    expect(() => parseHost('https://h:443')).toThrow(
      expect.objectContaining({ hint: expect.stringContaining('TLS') }),
    );
  });
});

describe('endpoint', () => {
  const cfg = { stateDir: '/nonexistent/.shipit', api: { socketPath: '/x/daemon.sock' } };
  it('uses the config unless SHIPIT_HOST is set; the token from SHIPIT_TOKEN', () => {
    expect(endpoint(cfg, {})).toMatchObject({ socketPath: '/x/daemon.sock', token: null });
    expect(endpoint(cfg, { SHIPIT_HOST: 'h:1', SHIPIT_TOKEN: 't' })).toEqual({
      host: 'h',
      port: 1,
      token: 't',
      tokenFile: '/nonexistent/.shipit/token',
    });
  });
});
