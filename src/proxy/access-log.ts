import fs from 'node:fs';

/** One answered (or abandoned) request, as the proxy's access log records it. */
export interface AccessEntry {
  service: string;
  release?: number;
  container?: string;
  method: string;
  url: string;
  status: number;
  /** From the request's head to the answer's end; the line rounds it to 0.1 ms. */
  ms: number;
  reqId?: string;
  /** The client left before the whole answer was out. */
  aborted: boolean;
}

/** Where the proxy sends its access log entries. */
export interface AccessLog {
  write(e: AccessEntry): void;
}

const str = JSON.stringify;
/** onError is called at most this often. */
const WARN_EVERY_MS = 10_000;

/**
 * One JSON line as pino writes it with `base: null` (`level` 30, `time` in ms, then the
 * fields; undefined ones left out), so that readers of pino lines read it unchanged.
 */
export function accessLine(e: AccessEntry, time: number): string {
  let s = `{"level":30,"time":${time},"service":${str(e.service)}`;
  if (e.release !== undefined) s += `,"release":${e.release}`;
  if (e.container !== undefined) s += `,"container":${str(e.container)}`;
  const ms = Math.round(e.ms * 10) / 10;
  s += `,"method":${str(e.method)},"url":${str(e.url)},"status":${e.status},"ms":${ms}`;
  if (e.reqId !== undefined) s += `,"reqId":${str(e.reqId)}`;
  return `${s},"aborted":${e.aborted}}\n`;
}

export interface AccessLogFileOptions {
  /** A write is started once this much is buffered (and on flush()). Default 64 KiB. */
  chunkBytes?: number;
  /** Lines beyond this much waiting (the disk is slower than the traffic) are dropped. Default 16 MiB. */
  maxBufferedBytes?: number;
  /** A failed write (its lines are lost) or lines dropped; at most one call per 10 s. */
  onError?: (message: string) => void;
}

/**
 * The access log file: lines gathered in memory and appended with one
 * asynchronous write per chunk, so the proxy never waits on the disk. About a
 * fifth of pino's cost per line with its 4 KiB SonicBoom destination
 * (bench/README.md): the cost is the write per chunk, so the chunks are larger,
 * and the line is built without a generic serializer. Opened for appending: a
 * successor daemon (upgrade) writes to the same file meanwhile, whole chunks of
 * whole lines each.
 */
export class AccessLogFile implements AccessLog {
  private readonly fd: number;
  private buf = '';
  private writing = false;
  private closed = false;
  /** Lines dropped since the last warning. */
  private dropped = 0;
  /** When onError was last called: at most once per WARN_EVERY_MS. */
  private warnedAt = -Infinity;
  private readonly chunkBytes: number;
  private readonly maxBufferedBytes: number;
  private idle: (() => void)[] = [];

  /** Opens (creates) the file for appending; throws when it cannot. */
  constructor(
    file: string,
    private readonly opts: AccessLogFileOptions = {},
  ) {
    this.fd = fs.openSync(file, 'a');
    this.chunkBytes = opts.chunkBytes ?? 64 * 1024;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 16 * 1024 * 1024;
  }

  write(e: AccessEntry): void {
    if (this.closed) return;
    if (this.buf.length >= this.maxBufferedBytes) {
      this.dropped++;
      this.warn();
      return;
    }
    this.buf += accessLine(e, Date.now());
    if (!this.writing && this.buf.length >= this.chunkBytes) this.flush();
  }

  /** Starts writing what is buffered, unless a write is under way (it writes the rest after). */
  flush(): void {
    if (this.writing || this.buf === '') return;
    const chunk = Buffer.from(this.buf);
    this.buf = '';
    this.writing = true;
    this.writeOut(chunk, 0);
  }

  /** Writes chunk from offset on; a short write goes on with the rest. */
  private writeOut(chunk: Buffer, offset: number): void {
    fs.write(this.fd, chunk, offset, chunk.length - offset, null, (err, written) => {
      if (!err && offset + written < chunk.length) return this.writeOut(chunk, offset + written);
      this.writing = false;
      if (err) this.warn(`access log write failed: ${err.message}`);
      if (this.dropped > 0) this.warn();
      if (this.buf.length >= this.chunkBytes || (this.closed && this.buf !== '')) this.flush();
      if (!this.writing) for (const done of this.idle.splice(0)) done();
    });
  }

  /** Tells onError what went wrong (the dropped lines, if no message), at most once per 10 s. */
  private warn(message?: string): void {
    const now = Date.now();
    if (now - this.warnedAt < WARN_EVERY_MS) return;
    this.warnedAt = now;
    const dropped = this.dropped;
    this.dropped = 0;
    const lost = dropped
      ? `the disk is behind the traffic: ${dropped} access log line(s) dropped`
      : '';
    this.opts.onError?.([message, lost].filter(Boolean).join('; '));
  }

  /** Writes what is buffered and closes the file; later lines are not written. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    if (this.writing) await new Promise<void>((r) => this.idle.push(r));
    await new Promise<void>((r) => fs.close(this.fd, () => r()));
  }
}
