'use strict';
// Minimal WebSocket client for tests (node:http and node:crypto only).
//
//   const { wsConnect } = require('./examples/node-app/ws-client.js');
//   const ws = await wsConnect('127.0.0.1', 18097, '/ws');
//   await ws.send('hi'); // -> 'version=v1 echo=hi' (the next text message the server sends)
//   await ws.close();
//
// CLI: node ws-client.js HOST PORT [PATH] MESSAGE...   (prints one reply per message)
const http = require('node:http');
const crypto = require('node:crypto');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// A masked (client-to-server) frame with FIN set.
function encodeFrame(opcode, payload) {
  const len = payload.length;
  let header;
  if (len < 126) {
    header = Buffer.from([0x80 | opcode, 0x80 | len]);
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = crypto.randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([header, mask, body]);
}

function closePayload(code, reason = '') {
  const p = Buffer.alloc(2 + Buffer.byteLength(reason));
  p.writeUInt16BE(code, 0);
  p.write(reason, 2);
  return p;
}

function handshake(host, port, path, headers, timeoutMs) {
  const key = crypto.randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = http.request({
      host,
      port,
      path,
      method: 'GET',
      agent: false,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Version': '13',
        ...headers,
      },
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`WebSocket handshake with ${host}:${port}${path} timed out`)),
      timeoutMs,
    );
    req.on('upgrade', (res, socket, head) => {
      clearTimeout(timer);
      const want = crypto
        .createHash('sha1')
        .update(key + GUID)
        .digest('base64');
      if (res.headers['sec-websocket-accept'] !== want) {
        socket.destroy();
        return reject(new Error(`WebSocket handshake: bad Sec-WebSocket-Accept from ${host}`));
      }
      resolve({ res, socket, head });
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        const err = new Error(
          `WebSocket handshake with ${host}:${port}${path} failed: HTTP ${res.statusCode} ${body.trim()}`,
        );
        reject(Object.assign(err, { statusCode: res.statusCode, headers: res.headers, body }));
      });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/**
 * Opens ws://host:port/path. Resolves once the server answered 101.
 * Each send(text) resolves with the next text message from the server (FIFO), so it fits
 * request/reply servers like node-app. Handshake failures reject with an Error carrying
 * statusCode, headers and body.
 * @param {string} host
 * @param {number} port
 * @param {string} [path='/ws']
 * @param {Record<string,string>} [headers] extra handshake headers (e.g. Host, Cookie)
 * @param {{timeoutMs?: number}} [options] handshake and per-reply timeout (default 10000)
 */
async function wsConnect(host, port, path = '/ws', headers = {}, options = {}) {
  const timeoutMs = options.timeoutMs ?? 10000;
  const { res, socket, head } = await handshake(host, port, path, headers, timeoutMs);
  socket.setNoDelay(true);
  socket.setTimeout(0);

  const waiting = []; // { resolve, reject, timer } per send(), in order
  const pongs = [];
  let buf = Buffer.alloc(0);
  let fragments = null;
  let sentClose = false;
  let closeInfo = null; // { code, reason } once the server sent a close frame
  let resolveClosed;
  const closed = new Promise((r) => (resolveClosed = r));

  function failAll(err) {
    for (const w of waiting.splice(0).concat(pongs.splice(0))) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  function onFrame(fin, opcode, payload) {
    if (opcode === 0x0 || opcode === 0x1 || opcode === 0x2) {
      if (opcode !== 0x0) fragments = [];
      if (!fragments) return;
      fragments.push(payload);
      if (!fin) return;
      const message = Buffer.concat(fragments).toString('utf8');
      fragments = null;
      const w = waiting.shift();
      if (w) {
        clearTimeout(w.timer);
        w.resolve(message);
      }
    } else if (opcode === 0x8) {
      closeInfo = {
        code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005,
        reason: payload.subarray(2).toString('utf8'),
      };
      if (!sentClose) {
        sentClose = true;
        socket.end(encodeFrame(0x8, payload.subarray(0, 2)));
      }
      failAll(new Error(`WebSocket closed by server: ${closeInfo.code} ${closeInfo.reason}`));
    } else if (opcode === 0x9) {
      if (!sentClose) socket.write(encodeFrame(0xa, payload));
    } else if (opcode === 0xa) {
      const w = pongs.shift();
      if (w) {
        clearTimeout(w.timer);
        w.resolve(payload);
      }
    }
  }

  function onData(chunk) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (buf.length < 2) return;
      const fin = (buf[0] & 0x80) !== 0;
      const opcode = buf[0] & 0x0f;
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      const maskLen = masked ? 4 : 0;
      if (buf.length < off + maskLen + len) return;
      const payload = Buffer.from(buf.subarray(off + maskLen, off + maskLen + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[off + (i & 3)];
      buf = buf.subarray(off + maskLen + len);
      onFrame(fin, opcode, payload);
    }
  }

  socket.on('data', onData);
  socket.on('error', () => {}); // 'close' follows and reports
  socket.on('close', () => {
    failAll(new Error('WebSocket connection closed'));
    resolveClosed(closeInfo || { code: 1006, reason: '' });
  });
  if (head && head.length) onData(head);

  function expect(queue, what) {
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      w.timer = setTimeout(() => {
        const i = queue.indexOf(w);
        if (i >= 0) queue.splice(i, 1);
        reject(new Error(`WebSocket: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      queue.push(w);
    });
  }

  return {
    /** Headers of the 101 response (e.g. x-app-version). */
    headers: res.headers,
    /** The underlying net.Socket. */
    socket,
    /** Resolves with the server's close code and reason (1006 when none) once the TCP connection is gone. */
    closed,
    /** Sends a text message; resolves with the next text message from the server. */
    send(text) {
      if (sentClose || socket.destroyed) {
        return Promise.reject(new Error('WebSocket is closed'));
      }
      const reply = expect(waiting, 'reply');
      socket.write(encodeFrame(0x1, Buffer.from(String(text))));
      return reply;
    },
    /** Sends a ping; resolves with the pong payload. */
    ping(data = '') {
      if (sentClose || socket.destroyed) {
        return Promise.reject(new Error('WebSocket is closed'));
      }
      const pong = expect(pongs, 'pong');
      socket.write(encodeFrame(0x9, Buffer.from(data)));
      return pong;
    },
    /** Close handshake (code 1000); resolves once the connection is closed (forced after the timeout). */
    async close(code = 1000, reason = '') {
      if (!socket.destroyed && !sentClose) {
        sentClose = true;
        socket.write(encodeFrame(0x8, closePayload(code, reason)));
      }
      const timer = setTimeout(() => socket.destroy(), timeoutMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

module.exports = { wsConnect, encodeFrame };

if (require.main === module) {
  const [host = '127.0.0.1', port = '8080', ...rest] = process.argv.slice(2);
  const path = rest[0] && rest[0].startsWith('/') ? rest.shift() : '/ws';
  (async () => {
    const ws = await wsConnect(host, Number(port), path);
    for (const m of rest.length ? rest : ['hello']) console.log(await ws.send(m));
    await ws.close();
  })().catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}
