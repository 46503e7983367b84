'use strict';
// The shipit proxy alone, as the bench's server under test: a ProxyRouter with
// one service (every host) of one release with one target, the tiny upstream,
// and a ProxyServer from dist/ in front, in a child process of its own.
//   node bench/shipit-proxy.js UPSTREAM_PORT [ACCESS_LOG_FILE]
// Prints {"port": N} on stdout once listening; SIGTERM closes it and exits
// normally (so that `node --cpu-prof` writes its profile).
const path = require('node:path');
const pino = require('pino');

const dist = path.resolve(__dirname, '..', 'dist');
const { ProxyRouter } = require(path.join(dist, 'proxy', 'router.js'));
const { ProxyServer } = require(path.join(dist, 'proxy', 'server.js'));
const { AccessLogFile } = require(path.join(dist, 'proxy', 'access-log.js'));

const cluster = require('node:cluster');

const upstreamPort = Number(process.argv[2]);
const WORKERS = Number(process.env.BENCH_PROXY_WORKERS || 1);

// Bench-only option (BENCH_PROXY_WORKERS=N > 1): N node:cluster workers, each
// with the same ProxyServer and static routing table, sharing one port. The
// primary only forks, prints the port and forwards SIGTERM.
if (WORKERS > 1 && cluster.isPrimary) {
  let printed = false;
  for (let i = 0; i < WORKERS; i++) {
    const w = cluster.fork({ BENCH_PROXY_WORKER: String(i) });
    w.on('message', (m) => {
      if (printed || typeof m?.port !== 'number') return;
      printed = true;
      process.stdout.write(`${JSON.stringify({ port: m.port })}\n`);
    });
  }
  const stopAll = () => {
    for (const w of Object.values(cluster.workers)) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 3000).unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers).length === 0) process.exit(0);
    });
  };
  process.on('SIGTERM', stopAll);
  process.on('SIGINT', stopAll);
  return;
}

const accessLogFile =
  process.argv[3] && WORKERS > 1
    ? `${process.argv[3]}.${process.env.BENCH_PROXY_WORKER}`
    : process.argv[3];

// As the daemon does it (src/daemon.ts): asynchronous, buffered access log.
const accessLog = accessLogFile ? new AccessLogFile(accessLogFile) : null;

const router = new ProxyRouter();
router.setService(
  'web',
  ['*'],
  [
    {
      number: 1,
      weight: 100,
      targets: [{ id: 'up-1', name: 'bench-upstream-1', host: '127.0.0.1', port: upstreamPort }],
    },
  ],
);
const proxy = new ProxyServer(router, {
  upstreamTimeoutMs: 30_000,
  maxBodyBytes: 10 * 1024 * 1024,
  accessLog,
  log: pino({ level: 'silent' }),
  // bench switch: another data path than the default raw one (ProxyOptions.dataPath: http, undici)
  ...(process.env.BENCH_PROXY_DATAPATH ? { dataPath: process.env.BENCH_PROXY_DATAPATH } : {}),
});

proxy.listen(0, '127.0.0.1').then(
  () => {
    const { port } = proxy.address();
    if (cluster.isWorker) process.send({ port });
    else process.stdout.write(`${JSON.stringify({ port })}\n`);
  },
  (e) => {
    console.error(`shipit-proxy: ${e.message}`);
    process.exit(1);
  },
);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(0), 3000).unref();
  await proxy.close().catch(() => {});
  await accessLog?.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
