'use strict';
// shipit demo app with WebSockets: plain Node, no npm dependencies.
//   /, /version   200 "version=$APP_VERSION host=<hostname>"
//   /healthz      200 "ok", or 500 when UNHEALTHY=1
//   /slow?N       answers after N seconds (default 1; 2, 0.5, ...)
//   /status?CODE  answers with status CODE (200..599)
//   /ws           WebSocket: each text message M gets "version=$APP_VERSION echo=M"
// SIGTERM/SIGINT: stop listening, let in-flight requests and open WebSockets
// finish, exit when nothing is left open or after SHUTDOWN_GRACE seconds (30).
const http = require('node:http');
const crypto = require('node:crypto');
const os = require('node:os');

const PORT = Number(process.env.PORT || 8080);
const VERSION = process.env.APP_VERSION || 'unknown';
const HOST = os.hostname();
const graceEnv = Number(process.env.SHUTDOWN_GRACE || NaN);
const GRACE_MS = 1000 * (graceEnv >= 0 ? graceEnv : 30);
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const WS_MAX_MESSAGE = 16 * 1024 * 1024;

let shuttingDown = false;
let inflight = 0;
const sockets = new Set(); // every accepted TCP connection, upgraded ones included
const websockets = new Set();

function send(res, code, body, extra = {}) {
  const buf = Buffer.from(code === 204 || code === 304 ? '' : body + '\n');
  const headers = {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': buf.length,
    'X-App-Version': VERSION,
    ...extra,
  };
  // While draining, finish the request but do not keep the connection open.
  if (shuttingDown) headers.Connection = 'close';
  res.writeHead(code, headers);
  res.end(buf);
}

const server = http.createServer((req, res) => {
  inflight++;
  res.on('close', () => {
    inflight--;
    maybeExit();
  });
  const [path, query = ''] = req.url.split('?', 2);
  switch (path) {
    case '/':
    case '/version':
      return send(res, 200, `version=${VERSION} host=${HOST}`);
    case '/healthz':
      if (process.env.UNHEALTHY === '1') return send(res, 500, 'unhealthy: UNHEALTHY=1 is set');
      return send(res, 200, 'ok');
    case '/slow': {
      const n = query === '' ? 1 : Number(query);
      if (!/^(\d+\.?\d*|\.\d+)?$/.test(query) || !Number.isFinite(n)) {
        return send(res, 400, `slow: expected seconds like 2 or 0.5, got ${query}`);
      }
      const timer = setTimeout(
        () => send(res, 200, `slow ${query || 1} version=${VERSION}`),
        n * 1000,
      );
      res.on('close', () => clearTimeout(timer));
      return;
    }
    case '/status': {
      const code = Number(query);
      if (/^[2-5]\d\d$/.test(query)) return send(res, code, `status ${code} version=${VERSION}`);
      return send(res, 400, `status: expected a code 200..599, got ${query}`);
    }
    default:
      return send(res, 404, `not found: ${path}`);
  }
});

server.on('connection', (socket) => {
  sockets.add(socket);
  socket.on('close', () => {
    sockets.delete(socket);
    maybeExit();
  });
});

// ---------------------------------------------------------------- WebSocket

function reject(socket, code, reason, extra = '') {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${code} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nX-App-Version: ${VERSION}\r\n` +
      `${extra}Connection: close\r\n\r\n${body}`,
  );
}

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  const path = req.url.split('?', 1)[0];
  const key = req.headers['sec-websocket-key'];
  if (path !== '/ws') return reject(socket, 404, 'Not Found');
  if (shuttingDown) return reject(socket, 503, 'Service Unavailable');
  if (
    req.method !== 'GET' ||
    String(req.headers.upgrade).toLowerCase() !== 'websocket' ||
    !key ||
    Buffer.from(key, 'base64').length !== 16
  ) {
    return reject(socket, 400, 'Bad Request');
  }
  if (req.headers['sec-websocket-version'] !== '13') {
    return reject(socket, 426, 'Upgrade Required', 'Sec-WebSocket-Version: 13\r\n');
  }
  const accept = crypto
    .createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
  socket.setTimeout(0);
  socket.setNoDelay(true);
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\nX-App-Version: ${VERSION}\r\n\r\n`,
  );
  const ws = new WebSocketConnection(socket);
  websockets.add(ws);
  socket.on('close', () => websockets.delete(ws));
  if (head && head.length) ws.onData(head);
});

function frame(opcode, payload) {
  const len = payload.length;
  let header;
  if (len < 126) {
    header = Buffer.from([0x80 | opcode, len]);
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([header, payload]); // server frames are never masked
}

class WebSocketConnection {
  constructor(socket) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.fragments = null; // payload parts of a fragmented message
    this.closing = false;
    socket.on('data', (chunk) => this.onData(chunk));
  }

  onData(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (!this.closing) {
      const f = this.parse();
      if (!f) return;
      this.onFrame(f);
    }
  }

  // One complete frame off this.buf, or null when more bytes are needed.
  parse() {
    const b = this.buf;
    if (b.length < 2) return null;
    const fin = (b[0] & 0x80) !== 0;
    const rsv = b[0] & 0x70;
    const opcode = b[0] & 0x0f;
    const masked = (b[1] & 0x80) !== 0;
    let len = b[1] & 0x7f;
    let off = 2;
    if (len === 126) {
      if (b.length < 4) return null;
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) return null;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(WS_MAX_MESSAGE)) return this.fail(1009, 'message too big');
      len = Number(big);
      off = 10;
    }
    if (rsv) return this.fail(1002, 'reserved bits set');
    if (!masked) return this.fail(1002, 'client frames must be masked');
    if (opcode >= 8 && (!fin || len > 125)) return this.fail(1002, 'bad control frame');
    if (b.length < off + 4 + len) return null;
    const mask = b.subarray(off, off + 4);
    const payload = Buffer.from(b.subarray(off + 4, off + 4 + len));
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    this.buf = b.subarray(off + 4 + len);
    return { fin, opcode, payload };
  }

  onFrame({ fin, opcode, payload }) {
    switch (opcode) {
      case 0x0: // continuation
        if (!this.fragments) return this.fail(1002, 'unexpected continuation frame');
        this.fragments.push(payload);
        if (this.fragments.reduce((n, p) => n + p.length, 0) > WS_MAX_MESSAGE) {
          return this.fail(1009, 'message too big');
        }
        if (fin) {
          const message = Buffer.concat(this.fragments);
          this.fragments = null;
          this.onMessage(message);
        }
        return;
      case 0x1: // text
      case 0x2: // binary (answered like text)
        if (this.fragments) return this.fail(1002, 'expected a continuation frame');
        if (fin) return this.onMessage(payload);
        this.fragments = [payload];
        return;
      case 0x8: {
        // close: answer with the same status code, then close the TCP connection
        this.closing = true;
        const code = payload.length >= 2 ? payload.subarray(0, 2) : Buffer.alloc(0);
        this.socket.end(frame(0x8, code));
        return;
      }
      case 0x9: // ping
        this.socket.write(frame(0xa, payload));
        return;
      case 0xa: // pong
        return;
      default:
        return this.fail(1002, `unknown opcode ${opcode}`);
    }
  }

  onMessage(data) {
    let text;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(data);
    } catch {
      return this.fail(1007, 'invalid UTF-8');
    }
    this.socket.write(frame(0x1, Buffer.from(`version=${VERSION} echo=${text}`)));
  }

  // Send a close frame with CODE and REASON, then close the connection.
  fail(code, reason) {
    this.close(code, reason);
    return null;
  }

  close(code, reason) {
    if (this.closing) return;
    this.closing = true;
    const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
    payload.writeUInt16BE(code, 0);
    payload.write(reason, 2);
    this.socket.end(frame(0x8, payload));
    // A client that never answers the close frame does not hold us up.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
}

// ---------------------------------------------------------------- lifecycle

function maybeExit() {
  if (shuttingDown && sockets.size === 0 && inflight === 0) {
    console.log(`node-web: drained, exiting`);
    process.exit(0);
  }
}

function shutdown(signal) {
  if (shuttingDown) {
    console.log(`node-web: ${signal} again, exiting now`);
    process.exit(0);
  }
  shuttingDown = true;
  console.log(
    `node-web: ${signal}, draining ${inflight} request(s) and ${websockets.size} websocket(s), ` +
      `up to ${GRACE_MS / 1000}s`,
  );
  // Stop accepting connections; Node also closes idle keep-alive connections here.
  server.close();
  setTimeout(() => {
    console.log(
      `node-web: grace period over, closing ${inflight} request(s) and ` +
        `${websockets.size} websocket(s)`,
    );
    const upgraded = new Set();
    for (const ws of websockets) {
      upgraded.add(ws.socket);
      ws.close(1001, 'server shutting down');
    }
    for (const s of sockets) if (!upgraded.has(s)) s.destroy();
    setTimeout(() => process.exit(0), 200).unref();
  }, GRACE_MS).unref();
  maybeExit();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

// CALL_URL: also call another service in a loop (a frontend calling its API by
// name, for the discovery tests) over keep-alive, one stdout line per call:
// "call ok <n> <body>" or "call failed <n> <status or error>".
if (process.env.CALL_URL) {
  const url = process.env.CALL_URL;
  const every = 1000 * Number(process.env.CALL_INTERVAL || 0.1);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let n = 0;
  const call = () => {
    const i = ++n;
    const done = (line) => {
      console.log(line);
      if (!shuttingDown) setTimeout(call, every);
    };
    const req = http.get(url, { agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () =>
        done(
          res.statusCode === 200
            ? `call ok ${i} ${body.trim()}`
            : `call failed ${i} ${res.statusCode} ${body.trim()}`,
        ),
      );
      res.on('error', (e) => done(`call failed ${i} ${e.message}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => done(`call failed ${i} ${e.code || e.message}`));
  };
  call();
}

server.listen(PORT, () => {
  console.log(`node-web version=${VERSION} host=${HOST} listening on :${PORT}`);
});
