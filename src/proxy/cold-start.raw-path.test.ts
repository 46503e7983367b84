// The same tests as cold-start.test.ts, on the 'raw' data path (llhttp on both sides' sockets);
// cold-start.test.ts itself runs on the default one. ProxyServer reads the variable when it is made.
import pino from 'pino';
import { ProxyRouter } from './router';
import { ProxyServer } from './server';
import './cold-start.test';

process.env.SHIPIT_PROXY_DATAPATH = 'raw';

it('runs on the raw data path', () => {
  const opts = {
    upstreamTimeoutMs: 1,
    maxBodyBytes: 1,
    accessLog: null,
    log: pino({ enabled: false }),
  };
  expect(new ProxyServer(new ProxyRouter(), opts).dataPath).toBe('raw');
});
