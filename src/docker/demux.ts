import { StringDecoder } from 'node:string_decoder';

// Docker log payloads: without a TTY the engine multiplexes stdout and stderr
// into frames `[type, 0, 0, 0, size(4 bytes, big endian)] payload`, where type
// is 0 (stdin), 1 (stdout) or 2 (stderr). With a TTY the stream is raw bytes.

/**
 * Turns a (possibly multiplexed) log payload into text, stdout and stderr
 * interleaved in the order the engine wrote them. When `tty` is true, or when
 * the bytes stop looking like frame headers, the rest is taken as raw output.
 */
export function demuxLogs(buf: Buffer, tty = false): string {
  if (tty) return buf.toString('utf8');
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (!isFrameHeader(buf, offset)) {
      parts.push(buf.subarray(offset));
      break;
    }
    const size = buf.readUInt32BE(offset + 4);
    const start = offset + 8;
    const end = Math.min(start + size, buf.length);
    parts.push(buf.subarray(start, end));
    offset = end;
  }
  return Buffer.concat(parts).toString('utf8');
}

function isFrameHeader(buf: Buffer, offset: number): boolean {
  if (offset + 8 > buf.length) return false;
  const type = buf[offset];
  return (
    (type === 0 || type === 1 || type === 2) &&
    buf[offset + 1] === 0 &&
    buf[offset + 2] === 0 &&
    buf[offset + 3] === 0
  );
}

/** Builds one multiplexed frame (used by tests). */
export function muxFrame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(8);
  header.writeUInt8(stream, 0);
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

export type LogStreamName = 'stdout' | 'stderr';

export interface LogFrame {
  stream: LogStreamName;
  payload: Buffer;
}

/**
 * The streaming form of demuxLogs: feed chunks as they arrive (a frame may be split
 * across chunks) and get back whole frames with their stream. Raw (TTY) output, or
 * bytes that stop looking like frame headers, come back as stdout.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private raw: boolean;

  constructor(tty = false) {
    this.raw = tty;
  }

  push(chunk: Buffer): LogFrame[] {
    if (this.raw) return chunk.length ? [{ stream: 'stdout', payload: chunk }] : [];
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: LogFrame[] = [];
    let offset = 0;
    while (offset + 8 <= this.buf.length) {
      if (!isFrameHeader(this.buf, offset)) {
        this.raw = true;
        frames.push({ stream: 'stdout', payload: this.buf.subarray(offset) });
        offset = this.buf.length;
        break;
      }
      const end = offset + 8 + this.buf.readUInt32BE(offset + 4);
      if (end > this.buf.length) break; // the rest of this frame is in a later chunk
      const stream = this.buf[offset] === 2 ? 'stderr' : 'stdout';
      frames.push({ stream, payload: this.buf.subarray(offset + 8, end) });
      offset = end;
    }
    this.buf = this.buf.subarray(offset);
    return frames;
  }

  /** At the end of the stream: whatever an incomplete last frame held. */
  end(): LogFrame[] {
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    if (!rest.length) return [];
    if (isFrameHeader(rest, 0)) {
      const stream = rest[0] === 2 ? 'stderr' : 'stdout';
      return rest.length > 8 ? [{ stream, payload: rest.subarray(8) }] : [];
    }
    return [{ stream: 'stdout', payload: rest }];
  }
}

// With `timestamps: true` the engine starts every message with its RFC 3339 time and a space.
const TIMESTAMP_PREFIX = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) /;

/**
 * An RFC 3339 time with up to nanoseconds ("2024-05-01T10:00:00.123456789Z") as the fixed
 * width "<10-digit epoch seconds>.<9-digit nanoseconds>" that sorts as a string; null if invalid.
 */
export function toNsTimestamp(rfc3339: string): string | null {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(rfc3339);
  if (!m) return null;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (!Number.isFinite(ms) || ms < 0) return null;
  return `${String(Math.floor(ms / 1000)).padStart(10, '0')}.${(m[2] ?? '').padEnd(9, '0')}`;
}

export interface TimestampedLine {
  stream: LogStreamName;
  ts: string;
  text: string;
}

/**
 * Turns frames of a `timestamps: true` log stream into lines, each with the engine's time.
 * Lines are cut at '\n' per stream, so a line split across frames or chunks comes out whole;
 * a line longer than the engine's 16 KiB buffer arrives as several messages, each with its own
 * timestamp: when `framed`, the timestamps of the continuations are removed.
 */
export class TimestampedLineSplitter {
  private readonly pending: Record<LogStreamName, string> = { stdout: '', stderr: '' };
  private readonly decoders: Record<LogStreamName, StringDecoder> = {
    stdout: new StringDecoder('utf8'),
    stderr: new StringDecoder('utf8'),
  };
  private lastTs: string | null = null;

  constructor(
    private readonly framed: boolean,
    private readonly onLine: (l: TimestampedLine) => void,
    private readonly now: () => number = Date.now,
  ) {}

  push(frame: LogFrame): void {
    const s = frame.stream;
    let text = this.decoders[s].write(frame.payload);
    if (this.framed && this.pending[s] && TIMESTAMP_PREFIX.test(text)) {
      text = text.replace(TIMESTAMP_PREFIX, '');
    }
    const all = this.pending[s] + text;
    let start = 0;
    let nl: number;
    while ((nl = all.indexOf('\n', start)) >= 0) {
      this.line(s, all.slice(start, nl));
      start = nl + 1;
    }
    this.pending[s] = all.slice(start);
  }

  /** End of stream: emits a last line that had no newline. */
  end(): void {
    for (const s of ['stdout', 'stderr'] as const) {
      const rest = this.pending[s] + this.decoders[s].end();
      this.pending[s] = '';
      if (rest) this.line(s, rest);
    }
  }

  private line(stream: LogStreamName, raw: string): void {
    const m = TIMESTAMP_PREFIX.exec(raw);
    const ts = m ? toNsTimestamp(m[1]) : null;
    let text = m ? raw.slice(m[0].length) : raw;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    // Without a readable timestamp (should not happen), the line gets the previous one's.
    const at = ts ?? this.lastTs ?? msToNs(this.now());
    this.lastTs = at;
    this.onLine({ stream, ts: at, text });
  }
}

function msToNs(ms: number): string {
  return `${String(Math.floor(ms / 1000)).padStart(10, '0')}.${String(ms % 1000).padStart(3, '0')}000000`;
}
