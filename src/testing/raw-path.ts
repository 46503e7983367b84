import pino from 'pino';
import { ProxyRouter } from '../proxy/router';
import { ProxyServer } from '../proxy/server';

/**
 * For a `*.raw-path.test.ts` file that imports another proxy test file: its tests then
 * run on the raw data path (ProxyServer reads SHIPIT_PROXY_DATAPATH when it is made),
 * and one more test checks that they do.
 */
export function onRawPath(): void {
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
}
