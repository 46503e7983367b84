// The same tests as hostility.test.ts, on the 'raw' data path (llhttp on both sides' sockets);
// hostility.test.ts itself runs on the default one. ProxyServer reads the variable when it is made.
import pino from 'pino';
import { ProxyRouter } from './router';
import { ProxyServer } from './server';
import './hostility.test';

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
