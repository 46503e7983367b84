/**
 * A terminal for tests of the live display: takes what a TTY stream would be given and
 * keeps the screen it would show. Knows carriage return, newline, erase line (CSI 2K),
 * erase to end of line (CSI K), cursor show/hide and SGR colours; anything else is an error.
 * Lines longer than `columns` are kept whole (no wrapping): tests check widths themselves.
 */
/** A control sequence: ESC [ arguments letter. */
const CSI = new RegExp(`^${String.fromCharCode(27)}\\[(\\??[0-9;]*)([A-Za-z])`);

export class FakeTerminal {
  readonly isTTY = true;
  readonly writes: string[] = [];
  readonly lines: string[] = [''];
  cursorHidden = false;
  private row = 0;
  private col = 0;

  constructor(
    public columns = 80,
    /** Writes of several terminals in order (stdout and stderr on one screen). */
    private readonly log?: { name: string; text: string }[],
    private readonly name = 'out',
  ) {}

  write(s: string): boolean {
    this.writes.push(s);
    this.log?.push({ name: this.name, text: s });
    for (let i = 0; i < s.length; i++) {
      const ch = s[i];
      if (ch === '\r') this.col = 0;
      else if (ch === '\n') {
        this.row++;
        this.col = 0;
        if (this.lines.length <= this.row) this.lines.push('');
      } else if (ch === '\x1b') {
        const m = CSI.exec(s.slice(i));
        if (!m) throw new Error(`unknown escape at ${JSON.stringify(s.slice(i, i + 8))}`);
        this.control(m[1], m[2]);
        i += m[0].length - 1;
      } else {
        const line = this.lines[this.row].padEnd(this.col);
        this.lines[this.row] = line.slice(0, this.col) + ch + line.slice(this.col + 1);
        this.col++;
      }
    }
    return true;
  }

  /** The visible screen: every line, trailing spaces trimmed. */
  screen(): string[] {
    return this.lines.map((l) => l.trimEnd());
  }

  /** The line the cursor is on (the status line while one is shown). */
  current(): string {
    return this.lines[this.row].trimEnd();
  }

  private control(arg: string, op: string): void {
    if (op === 'K' && (arg === '' || arg === '0'))
      this.lines[this.row] = this.lines[this.row].slice(0, this.col);
    else if (op === 'K' && arg === '2') this.lines[this.row] = '';
    else if (op === 'l' && arg === '?25') this.cursorHidden = true;
    else if (op === 'h' && arg === '?25') this.cursorHidden = false;
    else if (op !== 'm') throw new Error(`unexpected control sequence ${arg}${op}`);
  }
}
