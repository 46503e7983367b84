// The same tests as hostility.test.ts, on the 'http' data path (http.Server and http-proxy-3);
// hostility.test.ts itself runs on the default one. ProxyServer reads the variable when it is made.
import pino from 'pino';
import { ProxyRouter } from './router';
import { ProxyServer } from './server';
import './hostility.test';

process.env.SHIPIT_PROXY_DATAPATH = 'http';

it('runs on the http data path', () => {
  const opts = {
    upstreamTimeoutMs: 1,
    maxBodyBytes: 1,
    accessLog: null,
    log: pino({ enabled: false }),
  };
  expect(new ProxyServer(new ProxyRouter(), opts).dataPath).toBe('http');
});
