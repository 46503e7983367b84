'use strict';
// The tiny upstream of the proxy bench: a plain node:http server on loopback,
// keep-alive, answering every request with "ok" and a Content-Length. Run as a
// child process of its own; prints its port as one JSON line on stdout.
const http = require('node:http');

const body = Buffer.from('ok');
const server = http.createServer({ keepAlive: true }, (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
// The proxies' idle keep-alive connections must not be closed under them mid-run.
server.keepAliveTimeout = 60_000;
server.headersTimeout = 61_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
