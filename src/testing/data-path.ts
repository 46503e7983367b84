import pino from 'pino';
import { ProxyRouter } from '../proxy/router';
import { ProxyServer, type DataPath } from '../proxy/server';

/**
 * For a `*.<path>-path.test.ts` file that imports another proxy test file: its tests then
 * run on that data path (ProxyServer reads SHIPIT_PROXY_DATAPATH when it is made), and one
 * more test checks that they do.
 */
export function onDataPath(path: DataPath): void {
  process.env.SHIPIT_PROXY_DATAPATH = path;
  it(`runs on the ${path} data path`, () => {
    const opts = {
      upstreamTimeoutMs: 1,
      maxBodyBytes: 1,
      accessLog: null,
      log: pino({ enabled: false }),
    };
    expect(new ProxyServer(new ProxyRouter(), opts).dataPath).toBe(path);
  });
}
