import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';

export interface WsConnection {
  /** Headers of the 101 response (e.g. `x-app-version`). */
  headers: IncomingHttpHeaders;
  socket: Socket;
  /** Resolves once the TCP connection is gone: the server's close code and reason (1006 when none). */
  closed: Promise<{ code: number; reason: string }>;
  /** Sends a text message; resolves with the next text message from the server. */
  send(text: string): Promise<string>;
  /** Sends a ping; resolves with the pong payload. */
  ping(data?: string): Promise<Buffer>;
  /** Close handshake (default code 1000); resolves once the connection is closed. */
  close(code?: number, reason?: string): Promise<void>;
}

/** Opens ws://host:port/path; rejects on a non-101 answer with `statusCode`, `headers`, `body`. */
export function wsConnect(
  host: string,
  port: number,
  path?: string,
  headers?: Record<string, string>,
  options?: { timeoutMs?: number },
): Promise<WsConnection>;

/** A masked client frame with FIN set. */
export function encodeFrame(opcode: number, payload: Buffer): Buffer;
