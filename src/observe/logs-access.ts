// Reads the proxy access log (.shipit/access.log, one pino JSON object per line) for
// `shipit logs --access`: the newest matching lines, read backwards from the end of the
// file, then (follow) what is appended, by polling the file size.

import fs from 'node:fs';
import type { LogRequest } from './log-query';

/** One access-log line as the API returns it: pino's fields, plus ts (ms) and time (ISO). */
export type AccessLine = Record<string, unknown> & { ts: number; time: string };

const CHUNK = 64 * 1024;

export interface AccessLogReaderOptions {
  /** How often a follow checks the file for new lines (ms). Default 200. */
  pollMs?: number;
}

export class AccessLogReader {
  constructor(
    private readonly file: string,
    private readonly opts: AccessLogReaderOptions = {},
  ) {}

  async *lines(q: LogRequest, signal: AbortSignal): AsyncGenerator<AccessLine> {
    const match = matcher(q);
    let pos = size(this.file);
    yield* await this.tail(pos, q.limit, match);
    if (!q.follow) return;
    let partial = Buffer.alloc(0);
    while (!signal.aborted) {
      await sleep(this.opts.pollMs ?? 200, signal);
      if (signal.aborted) return;
      const now = size(this.file);
      if (now < pos) {
        pos = 0; // truncated or replaced: start over
        partial = Buffer.alloc(0);
      }
      if (now === pos) continue;
      const chunk = await readRange(this.file, pos, now);
      pos = now;
      const buf = Buffer.concat([partial, chunk]);
      const lastNl = buf.lastIndexOf(0x0a);
      partial = buf.subarray(lastNl + 1);
      if (lastNl < 0) continue;
      for (const line of buf.subarray(0, lastNl).toString('utf8').split('\n')) {
        const l = match(line);
        if (l) yield l;
      }
    }
  }

  /** The newest `limit` matching lines before byte `end`, oldest first. */
  private async tail(
    end: number,
    limit: number,
    match: (line: string) => AccessLine | null,
  ): Promise<AccessLine[]> {
    const found: AccessLine[] = [];
    let pos = end;
    let rest = Buffer.alloc(0); // the start of a line whose beginning is in an earlier chunk
    while (found.length < limit && pos > 0) {
      const start = Math.max(0, pos - CHUNK);
      const buf = Buffer.concat([await readRange(this.file, start, pos), rest]);
      pos = start;
      // Before the first newline is the end of a line that starts in an earlier chunk.
      const firstNl = pos > 0 ? buf.indexOf(0x0a) : -1;
      if (pos > 0 && firstNl < 0) {
        rest = buf;
        continue;
      }
      rest = buf.subarray(0, firstNl + 1);
      const lines = buf
        .subarray(firstNl + 1)
        .toString('utf8')
        .split('\n');
      for (let i = lines.length - 1; i >= 0 && found.length < limit; i--) {
        const l = match(lines[i]);
        if (l) found.push(l);
      }
    }
    return found.reverse();
  }
}

function matcher(q: LogRequest): (line: string) => AccessLine | null {
  const re = q.grep ? new RegExp(q.grep) : null;
  return (line) => {
    if (!line.trim() || (re && !re.test(line))) return null;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return null;
    }
    if (typeof o !== 'object' || o === null) return null;
    const ts = typeof o.time === 'number' ? o.time : 0;
    if (q.service !== undefined && o.service !== q.service) return null;
    if (q.release !== undefined && o.release !== q.release) return null;
    if (q.sinceMs !== undefined && ts < q.sinceMs) return null;
    return { ...o, ts, time: new Date(ts).toISOString() };
  };
}

function size(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

async function readRange(file: string, start: number, end: number): Promise<Buffer> {
  if (end <= start) return Buffer.alloc(0);
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.alloc(end - start);
    const { bytesRead } = await fh.read(buf, 0, buf.length, start);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
