import { parseApiListen, parseHostPort } from './listen';
import { formatKeyPath, problemsFromIssues } from './issues';

describe('parseHostPort', () => {
  it.each([
    ['0.0.0.0:8080', { host: '0.0.0.0', port: 8080 }],
    [':8080', { host: 'dflt', port: 8080 }],
    ['8080', { host: 'dflt', port: 8080 }],
    ['[::]:80', { host: '::', port: 80 }],
    ['example.com:443', { host: 'example.com', port: 443 }],
  ])('%p', (input, out) => {
    expect(parseHostPort(input, 'dflt')).toEqual(out);
  });

  it.each(['', 'host', 'host:', 'a b:1', '65536', 'host:-1', 'unix:/x'])('rejects %p', (input) => {
    expect(parseHostPort(input, 'dflt')).toBeUndefined();
  });
});

describe('parseApiListen', () => {
  it('reads unix sockets and addresses', () => {
    expect(parseApiListen('unix:.shipit/daemon.sock')).toEqual({
      socketPath: '.shipit/daemon.sock',
    });
    expect(parseApiListen('7070')).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(parseApiListen('unix: ')).toBeUndefined();
  });
});

describe('issue formatting', () => {
  it('formats key paths', () => {
    expect(formatKeyPath([])).toBe('(top level)');
    expect(formatKeyPath(['services', 'web', 'links', 0])).toBe('services.web.links[0]');
    expect(formatKeyPath(['alerts', 1, 'when', 'above'])).toBe('alerts[1].when.above');
  });

  it('dedupes and keeps problems without a position in order', () => {
    const problems = problemsFromIssues([
      { code: 'custom', path: ['b'], message: 'x', input: 1 },
      { code: 'custom', path: ['a'], message: 'y', input: 1 },
      { code: 'custom', path: ['b'], message: 'x', input: 1 },
    ]);
    expect(problems).toEqual([
      { path: 'b', message: 'x' },
      { path: 'a', message: 'y' },
    ]);
  });
});
