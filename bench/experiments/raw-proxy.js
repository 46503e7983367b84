'use strict';
// EXPERIMENT (issue 8), not part of shipit: how fast can a node proxy be that skips
// node:http's objects (IncomingMessage, ServerResponse, ClientRequest, streams) and
// drives node's own HTTP/1.1 parser (llhttp, `_http_common`'s HTTPParser) on raw
// sockets, both sides? Keep-alive upstream pool, the headers shipit adds
// (X-Forwarded-*, X-Request-Id, X-Shipit-Release), Content-Length and chunked
// bodies. No retries, timeouts, drain, stickiness, metrics or upgrades: an upper
// bound for a real implementation, measured the same way as the proxy bench.
//   node bench/experiments/raw-proxy.js UPSTREAM_PORT   -> prints {"port": N}
const net = require('node:net');
const { HTTPParser, methods } = require('_http_common');

const kOnHeaders = HTTPParser.kOnHeaders | 0;
const kOnHeadersComplete = HTTPParser.kOnHeadersComplete | 0;
const kOnBody = HTTPParser.kOnBody | 0;
const kOnMessageComplete = HTTPParser.kOnMessageComplete | 0;

const upstreamPort = Number(process.argv[2]);
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);
const idle = [];
let seq = 0;

function chunk(buf) {
  return [buf.length.toString(16), '\r\n', buf, '\r\n'];
}

class Upstream {
  constructor() {
    this.socket = net.connect(upstreamPort, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.parser = new HTTPParser();
    this.parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
    this.exchange = null;
    this.parser[kOnHeaders] = () => {};
    this.parser[kOnHeadersComplete] = (maj, min, headers, method, url, status, msg) =>
      this.exchange.head(status, msg, headers);
    this.parser[kOnBody] = (b) => this.exchange.body(b);
    this.parser[kOnMessageComplete] = () => {
      const x = this.exchange;
      this.exchange = null;
      idle.push(this);
      x.done();
    };
    this.socket.on('data', (d) => {
      // One writev to the client for everything this chunk produced (head, body, end).
      const client = this.exchange && this.exchange.socket;
      if (client) client.cork();
      const r = this.parser.execute(d);
      if (client) client.uncork();
      if (r instanceof Error) this.socket.destroy(r);
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
      if (this.exchange) this.exchange.fail();
    });
  }
}

class Client {
  constructor(socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    this.parser = new HTTPParser();
    this.parser.initialize(HTTPParser.REQUEST, {}, 0, 0);
    this.up = null;
    this.keepAlive = true;
    this.chunked = false;
    this.resChunked = false;
    this.parser[kOnHeaders] = () => {};
    this.parser[kOnHeadersComplete] = (maj, min, headers, method, url, status, msg, upg, ka) =>
      this.request(methods[method], url, headers, ka);
    this.parser[kOnBody] = (b) => {
      if (this.chunked)
        this.up.socket.write(
          Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]),
        );
      else this.up.socket.write(b);
    };
    this.parser[kOnMessageComplete] = () => {
      if (this.chunked) this.up.socket.write('0\r\n\r\n');
    };
    socket.on('data', (d) => {
      const r = this.parser.execute(d);
      if (r instanceof Error) socket.destroy();
    });
    socket.on('error', () => {});
  }

  request(method, url, headers, keepAlive) {
    this.keepAlive = keepAlive;
    let head = `${method} ${url} HTTP/1.1\r\n`;
    let host = '';
    this.chunked = false;
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i].toLowerCase();
      if (HOP.has(k)) continue;
      if (k === 'host') host = headers[i + 1];
      if (k === 'transfer-encoding') this.chunked = true;
      head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    }
    head += `x-forwarded-for: ${this.socket.remoteAddress}\r\nx-forwarded-proto: http\r\nx-forwarded-host: ${host}\r\nx-request-id: ${process.pid}-${++seq}\r\n\r\n`;
    this.up = idle.pop() ?? new Upstream();
    this.up.exchange = this;
    this.up.socket.write(head);
  }

  head(status, msg, headers) {
    let head = `HTTP/1.1 ${status} ${msg}\r\n`;
    this.resChunked = false;
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i].toLowerCase();
      if (HOP.has(k)) continue;
      if (k === 'transfer-encoding') this.resChunked = true;
      head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    }
    head += `x-shipit-release: 1\r\n${this.keepAlive ? '' : 'connection: close\r\n'}\r\n`;
    this.socket.write(head);
  }

  body(b) {
    if (this.resChunked) for (const p of chunk(b)) this.socket.write(p);
    else this.socket.write(b);
  }

  done() {
    if (this.resChunked) this.socket.write('0\r\n\r\n');
    this.up = null;
    if (!this.keepAlive) this.socket.end();
  }

  fail() {
    this.socket.destroy();
  }
}

const server = net.createServer((s) => new Client(s));
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`),
);
process.on('SIGTERM', () => process.exit(0));
