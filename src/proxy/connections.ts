import type http from 'node:http';
import type net from 'node:net';

interface Tracked {
  busy: number;
  last: number;
}

/**
 * The open client connections of an http.Server, with whether each has a
 * request in flight and when it was last used. A retiring proxy (daemon
 * upgrade) closes only connections that sat idle for a while: one that just
 * finished a response is likely to carry the client's next request any
 * moment, and closing it then would fail that request.
 */
export class ConnectionTracker {
  private readonly sockets = new Map<net.Socket, Tracked>();

  constructor(
    server: http.Server,
    private readonly now: () => number = Date.now,
  ) {
    server.on('connection', (socket: net.Socket) => {
      this.sockets.set(socket, { busy: 0, last: this.now() });
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const t = this.sockets.get(req.socket);
      if (!t) return;
      t.busy++;
      t.last = this.now();
      res.once('close', () => {
        t.busy--;
        t.last = this.now();
      });
    });
    server.on('upgrade', (req: http.IncomingMessage) => {
      const t = this.sockets.get(req.socket);
      if (t) t.busy++; // a WebSocket is never idle: it ends when either side closes it
    });
  }

  /** A request began on a connection the raw data path serves (it emits no 'request'). */
  busy(socket: net.Socket): void {
    const t = this.sockets.get(socket);
    if (!t) return;
    t.busy++;
    t.last = this.now();
  }

  /** ...and its answer ended. */
  idle(socket: net.Socket): void {
    const t = this.sockets.get(socket);
    if (!t) return;
    t.busy--;
    t.last = this.now();
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Ends (FIN, not reset) connections with nothing in flight, unused for at least idleMs. */
  endIdle(idleMs: number): number {
    const cutoff = this.now() - idleMs;
    let n = 0;
    for (const [socket, t] of this.sockets) {
      if (t.busy > 0 || t.last > cutoff) continue;
      socket.end();
      n++;
    }
    return n;
  }

  destroyAll(): void {
    for (const socket of this.sockets.keys()) socket.destroy();
  }
}
