import fs from 'node:fs';

/** One answered (or abandoned) request, as the proxy's access log records it. */
export interface AccessEntry {
  service: string;
  release?: number;
  container?: string;
  method: string;
  url: string;
  status: number;
  /** From the request's head to the answer's end, 0.1 ms steps. */
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

/**
 * One JSON line as pino writes it with `base: null` (`level` 30, `time` in ms, then the
 * fields; undefined ones left out), so that readers of pino lines read it unchanged.
 */
export function accessLine(e: AccessEntry, time: number): string {
  let s = `{"level":30,"time":${time},"service":${str(e.service)}`;
  if (e.release !== undefined) s += `,"release":${e.release}`;
  if (e.container !== undefined) s += `,"container":${str(e.container)}`;
  s += `,"method":${str(e.method)},"url":${str(e.url)},"status":${e.status},"ms":${e.ms}`;
  if (e.reqId !== undefined) s += `,"reqId":${str(e.reqId)}`;
  return `${s},"aborted":${e.aborted}}\n`;
}

export interface AccessLogFileOptions {
  /** A write is started once this much is buffered (and on flush()). Default 64 KiB. */
  chunkBytes?: number;
  /** Lines beyond this much waiting (the disk is slower than the traffic) are dropped. Default 16 MiB. */
  maxBufferedBytes?: number;
  /** A failed write (its lines are lost), or lines dropped (at most one call per 10 s). */
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
  /** Lines dropped since the last warning, and when that was (at most one per 10 s). */
  private dropped = 0;
  private warnedAt = 0;
  private readonly chunkBytes: number;
  private readonly maxBufferedBytes: number;
  private idle: (() => void)[] = [];

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
      const now = Date.now();
      if (now - this.warnedAt >= 10_000) {
        this.warnedAt = now;
        this.opts.onError?.(
          `the disk is behind the traffic: ${this.dropped} access log line(s) dropped`,
        );
        this.dropped = 0;
      }
      return;
    }
    this.buf += accessLine(e, Date.now());
    if (!this.writing && this.buf.length >= this.chunkBytes) this.flush();
  }

  /** Starts writing what is buffered, unless a write is under way (it writes the rest after). */
  flush(): void {
    if (this.writing || this.buf === '') return;
    const chunk = this.buf;
    this.buf = '';
    this.writing = true;
    fs.write(this.fd, chunk, null, 'utf8', (err) => {
      this.writing = false;
      if (err) this.opts.onError?.(`access log write failed: ${err.message}`);
      if (this.buf.length >= this.chunkBytes || (this.closed && this.buf !== '')) this.flush();
      if (!this.writing) for (const done of this.idle.splice(0)) done();
    });
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
