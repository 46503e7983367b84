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
