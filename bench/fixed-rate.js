'use strict';
// An open-loop, fixed-rate HTTP load generator: the p99 at a fixed request rate.
//   node bench/fixed-rate.js PORT RATE SECONDS [CONNECTIONS]
// Prints one JSON line: { sent, ok, failed, rate, p50, p90, p99, p999, max } (ms).
//
// Why not autocannon's overallRate: it sends each connection's share of a second
// back to back at the start of the second and then idles, so its "fixed rate"
// is a burst of closed-loop load once a second. Why not wrk: Debian's wrk has no
// rate option (that is wrk2). This client issues requests on a schedule
// (RATE/s, spread over the second, checked every millisecond) over CONNECTIONS
// keep-alive sockets, raw bytes, at most one request in flight per socket.
// A request's latency runs from the moment the client decided to send it to the
// last byte of the answer: when every socket is busy it waits in a queue, and
// that wait counts (no coordinated omission); the client's own timer lag does not.
const net = require('node:net');

const [port, rate, seconds, conns = 50] = process.argv.slice(2).map(Number);
if (!port || !rate || !seconds) {
  console.error('usage: fixed-rate.js PORT RATE SECONDS [CONNECTIONS]');
  process.exit(2);
}
const REQUEST = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
const HEADER_END = Buffer.from('\r\n\r\n');

const total = Math.round(rate * seconds);
const latencies = new Float64Array(total);
let done = 0;
let ok = 0;
let failed = 0;
let issued = 0;
const queue = []; // birth times of requests waiting for a free socket
let next = 0; // round-robin start over the sockets
let finished = false;

class Conn {
  constructor() {
    this.born = -1; // birth time of the request in flight, -1 when idle
    this.buf = null;
    this.connect();
  }
  connect() {
    this.ready = false;
    this.sock = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => {
      this.ready = true;
      pump(this);
    });
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      if (this.born >= 0) complete(this, false);
      this.buf = null;
      if (!finished) this.connect();
    });
  }
  send(born) {
    this.born = born;
    this.sock.write(REQUEST);
  }
  onData(d) {
    this.buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const end = this.buf.indexOf(HEADER_END);
      if (end < 0) return;
      const head = this.buf.toString('latin1', 0, end).toLowerCase();
      const m = /\r\ncontent-length:\s*(\d+)/.exec(head);
      const len = m ? Number(m[1]) : 0;
      const size = end + 4 + len;
      if (this.buf.length < size) return;
      const status = Number(head.slice(9, 12));
      this.buf = this.buf.length === size ? null : this.buf.subarray(size);
      const close = /\r\nconnection:\s*close/.test(head);
      complete(this, status >= 200 && status < 400);
      if (close) {
        this.ready = false; // reconnects on 'close'
        this.sock.end();
        return;
      }
      pump(this);
      if (!this.buf) return;
    }
  }
}

function complete(c, good) {
  if (c.born < 0) return;
  if (done < total) latencies[done++] = performance.now() - c.born;
  if (good) ok++;
  else failed++;
  c.born = -1;
}

/** Gives the oldest waiting request to an idle socket. */
function pump(c) {
  if (c.ready && c.born < 0 && queue.length) c.send(queue.shift());
}

const pool = Array.from({ length: conns }, () => new Conn());

function issue(born) {
  for (let i = 0; i < pool.length; i++) {
    const c = pool[(next + i) % pool.length];
    if (c.ready && c.born < 0) {
      next = (next + i + 1) % pool.length;
      return c.send(born);
    }
  }
  queue.push(born);
}

function finish() {
  finished = true;
  for (const c of pool) c.sock.destroy();
  const xs = latencies.subarray(0, done).sort();
  const q = (p) => (done ? xs[Math.min(done - 1, Math.ceil(p * done) - 1)] : NaN);
  const elapsed = (performance.now() - t0) / 1000;
  const out = {
    sent: issued,
    ok,
    failed,
    unanswered: issued - ok - failed,
    rate: Math.round(done / elapsed),
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    p999: q(0.999),
    max: done ? xs[done - 1] : NaN,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
}

let t0 = 0;
function tick() {
  const now = performance.now();
  const due = Math.min(total, Math.floor(((now - t0) * rate) / 1000));
  while (issued < due) {
    issued++;
    issue(now);
  }
  if (issued < total) return void setTimeout(tick, 1);
  // Every request issued: wait for the last answers (bounded).
  const deadline = now + 5000;
  const wait = () =>
    done >= total || performance.now() > deadline ? finish() : setTimeout(wait, 5);
  wait();
}

// Start once the sockets are connected (connecting is not what is measured).
const started = performance.now();
(function whenConnected() {
  if (pool.every((c) => c.ready) || performance.now() - started > 5000) {
    t0 = performance.now();
    return tick();
  }
  setTimeout(whenConnected, 5);
})();
