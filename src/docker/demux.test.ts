import { demuxLogs, muxFrame } from './demux';

describe('demuxLogs', () => {
  it('joins stdout and stderr frames in order', () => {
    const buf = Buffer.concat([
      muxFrame(1, 'out1\n'),
      muxFrame(2, 'err1\n'),
      muxFrame(1, 'out2\n'),
    ]);
    expect(demuxLogs(buf)).toBe('out1\nerr1\nout2\n');
  });

  it('handles empty payloads and utf-8 split across frames', () => {
    const euro = Buffer.from('€', 'utf8');
    const frame = (b: Buffer) => {
      const h = Buffer.alloc(8);
      h.writeUInt8(1, 0);
      h.writeUInt32BE(b.length, 4);
      return Buffer.concat([h, b]);
    };
    const buf = Buffer.concat([
      frame(euro.subarray(0, 1)),
      frame(Buffer.alloc(0)),
      frame(euro.subarray(1)),
    ]);
    expect(demuxLogs(buf)).toBe('€');
    expect(demuxLogs(Buffer.alloc(0))).toBe('');
  });

  it('passes raw (TTY) output through', () => {
    expect(demuxLogs(Buffer.from('hello\r\n'), true)).toBe('hello\r\n');
    // Not a frame header: taken as raw even when tty is unknown.
    expect(demuxLogs(Buffer.from('plain text output\n'))).toBe('plain text output\n');
  });

  it('keeps a truncated last frame and raw bytes after the frames', () => {
    const full = muxFrame(1, 'abcdef');
    expect(demuxLogs(full.subarray(0, full.length - 2))).toBe('abcd');
    expect(demuxLogs(Buffer.concat([muxFrame(2, 'x'), Buffer.from('tail')]))).toBe('xtail');
  });
});
