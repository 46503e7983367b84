import {
  demuxLogs,
  FrameDecoder,
  muxFrame,
  TimestampedLineSplitter,
  toNsTimestamp,
  type TimestampedLine,
} from './demux';

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

describe('FrameDecoder', () => {
  it('yields whole frames with their stream, whatever the chunk boundaries', () => {
    const bytes = Buffer.concat([muxFrame(1, 'out1\n'), muxFrame(2, 'err1\n'), muxFrame(1, 'o2')]);
    for (const cut of [1, 3, 8, 9, 13, 14, 20, bytes.length - 1]) {
      const d = new FrameDecoder();
      const frames = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      expect(frames.map((f) => [f.stream, f.payload.toString()])).toEqual([
        ['stdout', 'out1\n'],
        ['stderr', 'err1\n'],
        ['stdout', 'o2'],
      ]);
      expect(d.end()).toEqual([]);
    }
  });

  it('gives a truncated last frame at end, and raw bytes as stdout', () => {
    const d = new FrameDecoder();
    const f = muxFrame(2, 'abcdef');
    expect(d.push(f.subarray(0, f.length - 2))).toEqual([]);
    expect(d.end().map((x) => [x.stream, x.payload.toString()])).toEqual([['stderr', 'abcd']]);
    const raw = new FrameDecoder();
    expect(
      [...raw.push(muxFrame(1, 'x')), ...raw.push(Buffer.from('plain text here'))].map((x) =>
        x.payload.toString(),
      ),
    ).toEqual(['x', 'plain text here']);
    const tty = new FrameDecoder(true);
    expect(tty.push(Buffer.from('\u0001\u0000\u0000\u0000tty'))[0].stream).toBe('stdout');
    expect(tty.push(Buffer.alloc(0))).toEqual([]);
  });
});

describe('toNsTimestamp', () => {
  it('gives fixed-width epoch seconds and nanoseconds', () => {
    expect(toNsTimestamp('2023-11-14T22:13:20.000000042Z')).toBe('1700000000.000000042');
    expect(toNsTimestamp('2023-11-14T22:13:20.5Z')).toBe('1700000000.500000000');
    expect(toNsTimestamp('2023-11-14T22:13:20Z')).toBe('1700000000.000000000');
    expect(toNsTimestamp('2023-11-15T00:13:20.123+02:00')).toBe('1700000000.123000000');
    expect(toNsTimestamp('2001-09-09T01:46:40.1Z')).toBe('1000000000.100000000');
    expect(toNsTimestamp('1970-01-01T00:00:01Z')).toBe('0000000001.000000000');
    expect(toNsTimestamp('yesterday')).toBeNull();
    expect(toNsTimestamp('2023-13-45T99:00:00Z')).toBeNull();
  });
});

describe('TimestampedLineSplitter', () => {
  const TS1 = '2023-11-14T22:13:20.000000001Z';
  const TS2 = '2023-11-14T22:13:20.000000002Z';
  const collect = (framed = true) => {
    const lines: TimestampedLine[] = [];
    const s = new TimestampedLineSplitter(
      framed,
      (l) => lines.push(l),
      () => 1_700_000_000_123,
    );
    return { s, lines };
  };
  const frame = (stream: 'stdout' | 'stderr', text: string) => ({
    stream,
    payload: Buffer.from(text),
  });

  it('cuts lines per stream, keeps the engine time, and flushes a last partial line at end', () => {
    const { s, lines } = collect();
    s.push(frame('stdout', `${TS1} hello\n`));
    s.push(frame('stderr', `${TS2} oops\r\n`));
    s.push(frame('stdout', `${TS2} no newline`));
    expect(lines).toEqual([
      { stream: 'stdout', ts: '1700000000.000000001', text: 'hello' },
      { stream: 'stderr', ts: '1700000000.000000002', text: 'oops' },
    ]);
    s.end();
    expect(lines[2]).toEqual({ stream: 'stdout', ts: '1700000000.000000002', text: 'no newline' });
  });

  it('joins a long line the engine sent as several timestamped messages', () => {
    const { s, lines } = collect();
    s.push(frame('stdout', `${TS1} part one,`));
    s.push(frame('stderr', `${TS1} between\n`));
    s.push(frame('stdout', `${TS2}  part two\n`));
    expect(lines.map((l) => [l.stream, l.text])).toEqual([
      ['stderr', 'between'],
      ['stdout', 'part one, part two'],
    ]);
    expect(lines[1].ts).toBe('1700000000.000000001');
  });

  it('splits raw TTY chunks anywhere, utf-8 included', () => {
    const { s, lines } = collect(false);
    const bytes = Buffer.from(`${TS1} caf\u00e9\r\n${TS2} two\r\n`);
    for (let i = 0; i < bytes.length; i += 5)
      s.push({ stream: 'stdout', payload: bytes.subarray(i, i + 5) });
    s.end();
    expect(lines.map((l) => l.text)).toEqual(['caf\u00e9', 'two']);
  });

  it('a line without a timestamp gets the previous one, or the clock', () => {
    const { s, lines } = collect();
    s.push(frame('stdout', 'no stamp\n'));
    s.push(frame('stdout', `${TS2} stamped\nagain no stamp\n`));
    expect(lines.map((l) => l.ts)).toEqual([
      '1700000000.123000000',
      '1700000000.000000002',
      '1700000000.000000002',
    ]);
  });
});
