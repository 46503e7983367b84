import { colours, duration, type Colour, type Out } from './render';

/** Where the live display draws: a terminal (process.stdout), or a fake one in tests. */
export interface Terminal {
  write(s: string): unknown;
  /** Width in columns; read on every redraw, so a resized window is followed. */
  columns?: number;
}

/** A permanent line: to stdout, or (a failure) to stderr. */
export interface EventLine {
  to: 'out' | 'err';
  text: string;
}

type Paint = (c: Colour, s: string) => string;
type Event = Record<string, unknown>;

/**
 * The plain line of a deploy/rollback event, as printed when piped (and above the
 * live display on a terminal); null for events that only feed the live display.
 */
export function eventLine(e: Event, paint: Paint, paintErr: Paint = paint): EventLine | null {
  const msg = String(e.message ?? '');
  const out = (text: string): EventLine => ({ to: 'out', text });
  switch (e.type) {
    case 'plan':
      return out(msg);
    case 'step': {
      const cause = (e.data as { cause?: string } | undefined)?.cause;
      return out(`→ ${msg}${cause ? paint('dim', `  (${cause})`) : ''}`);
    }
    case 'step-done':
    case 'health':
      return null;
    case 'failed':
      return { to: 'err', text: paintErr('red', `✗ ${msg}`) };
    case 'live':
      return out(paint('green', `  ${msg}`));
    case 'step-failed':
    case 'compensate':
    case 'warning':
      return out(paint('yellow', `  ${msg}`));
    default:
      return out(`  ${msg}`);
  }
}

const CLEAR_LINE = '\r\x1b[2K';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

interface StepInfo {
  text: string;
  cause?: string;
  kind?: string;
  weights?: Record<string, number>;
}

/**
 * The live display of a deploy on a terminal: finished steps become permanent lines,
 * and one status line below them (current step, health, traffic weights, elapsed time)
 * is rewritten in place, only when its text changes. Fed with events and `tick()`s;
 * it never reads a clock or a stream of its own, so a test drives it with a fake terminal.
 */
export class LiveProgress {
  private readonly steps = new Map<string, StepInfo>();
  private current: (StepInfo & { id: string }) | null = null;
  private detail: string | null = null;
  private weights: Record<string, number> | null = null;
  private undoing = false;
  private hasRelease = false;
  private frame = 0;
  /** The status line on screen now ('' when none). */
  private shown = '';
  /** Output not yet written: flushed with the status line, in one write. */
  private pending = '';
  private closed = false;
  private readonly started: number;

  constructor(
    private readonly out: Terminal,
    private readonly err: Terminal,
    private readonly paint: Paint,
    private readonly now: () => number,
    private readonly paintErr: Paint = paint,
    /** What runs, e.g. "deploy web": shown until the first step. */
    private subject = '',
  ) {
    this.started = now();
    this.out.write(HIDE_CURSOR);
  }

  event(e: Event): void {
    if (this.closed) return;
    if (!this.hasRelease && typeof e.release === 'number') {
      this.hasRelease = true;
      this.subject = `${this.subject || String(e.service ?? '')} r${e.release}`.trim();
    }
    const msg = String(e.message ?? '');
    const data = (e.data ?? {}) as {
      cause?: string;
      kind?: string;
      weights?: Record<string, number>;
    };
    switch (e.type) {
      case 'step': {
        const m = /^\[(\d+\/\d+)\] (.*)$/.exec(msg);
        const info = { text: msg, cause: data.cause, kind: data.kind, weights: data.weights };
        if (m) this.steps.set(m[1], info);
        this.current = { ...info, id: m?.[1] ?? msg };
        this.detail = null;
        break;
      }
      case 'step-done': {
        const m = /^\[(\d+\/\d+)\] done in (\d+)ms$/.exec(msg);
        const step = m ? this.steps.get(m[1]) : undefined;
        if (!step) {
          this.print({ to: 'out', text: `  ${msg}` });
          break;
        }
        if (step.weights) this.weights = step.weights;
        const cause = step.cause ? this.paint('dim', `  (${step.cause})`) : '';
        const took = this.paint('dim', `  ${duration(Number(m![2]))}`);
        this.print({ to: 'out', text: `${this.paint('green', '✓')} ${step.text}${cause}${took}` });
        if (this.current?.id === m![1]) this.current = null;
        this.detail = null;
        break;
      }
      case 'health':
      case 'analysis':
        this.detail = msg;
        break;
      case 'step-failed':
        if (this.current)
          this.print({ to: 'out', text: `${this.paint('red', '✗')} ${this.current.text}` });
        this.current = null;
        this.detail = null;
        this.undoing = true;
        this.print(eventLine(e, this.paint, this.paintErr));
        break;
      default:
        this.print(eventLine(e, this.paint, this.paintErr));
    }
    this.render();
  }

  /** The timer: advances the spinner and the elapsed time (call ~10 times a second). */
  tick(): void {
    if (this.closed) return;
    this.frame++;
    this.render();
  }

  /** Clears the status line and shows the cursor again; later events and ticks are ignored. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending += `${this.shown ? CLEAR_LINE : ''}${SHOW_CURSOR}`;
    this.shown = '';
    this.flush();
  }

  /**
   * The status line in `width` characters: what happens now, then the traffic weights and
   * the elapsed time; a narrow terminal shortens what happens first, keeping the time.
   */
  status(width: number): string {
    const step = this.current;
    let what: string;
    if (step?.kind === 'wait-healthy' && this.detail)
      what = `${step.text.replace(/\] .*/, ']')} health-checking ${this.detail}`;
    else {
      what = step
        ? step.text
        : this.undoing
          ? 'returning to the previous release'
          : this.subject || 'starting';
      if (this.detail) what += ` · ${this.detail}`;
    }
    const tail = [elapsed(this.now() - this.started)];
    if (this.weights)
      tail.unshift(
        `traffic ${Object.entries(this.weights)
          .map(([r, w]) => `r${r}=${w}%`)
          .join(' ')}`,
      );
    const head = `${SPINNER[this.frame % SPINNER.length]} `;
    const end = ` · ${tail.join(' · ')}`;
    const room = width - Array.from(head + end).length;
    if (room < 12) return fit(`${head}${what}${end}`, width);
    return `${head}${fit(what, room)}${end}`;
  }

  private print(line: EventLine | null): void {
    if (!line) return;
    if (this.shown) {
      this.pending += CLEAR_LINE;
      this.shown = '';
    }
    if (line.to === 'out') {
      this.pending += `${line.text}\n`;
      return;
    }
    // stdout first, so the lines keep their order on a terminal showing both.
    this.flush();
    this.err.write(`${line.text}\n`);
  }

  private flush(): void {
    if (this.pending) this.out.write(this.pending);
    this.pending = '';
  }

  /** One write per change: the new permanent lines and the status line together. */
  private render(): void {
    const line = this.status((this.out.columns || 80) - 1);
    if (line === this.shown) return this.flush();
    // Overwrite, then clear what is left of a longer previous line: no blank frame between.
    this.pending += `\r${line}\x1b[K`;
    this.shown = line;
    this.flush();
  }
}

/** Cut to `width` characters with an ellipsis, so the line never wraps (a wrapped line cannot be rewritten). */
export function fit(s: string, width: number): string {
  const chars = Array.from(s);
  if (chars.length <= width) return s;
  return width <= 1
    ? chars.slice(0, Math.max(0, width)).join('')
    : `${chars.slice(0, width - 1).join('')}…`;
}

/** Elapsed time for the status line: tenths of a second under a minute, then m:ss. */
export function elapsed(ms: number): string {
  if (ms < 60_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** Prints one deploy/rollback event: a plain line, or the NDJSON event itself. */
export function printEvent(
  out: Out,
  e: Event,
  paint = colours(),
  paintErr = colours(process.stderr),
): void {
  if (out.json) return out.data(e);
  const line = eventLine(e, paint, paintErr);
  if (line) (line.to === 'err' ? out.err : out.line)(line.text);
}

export interface EventSink {
  event(e: Event): void;
  /** Ends the live display (clears its status line): call before printing the outcome. */
  close(): void;
}

/**
 * Where the events of a streamed operation go: NDJSON with --json, plain lines when
 * stdout is not a terminal (pipes, CI logs: unchanged output), else the live display.
 * Ctrl-C clears it and says the operation goes on in the daemon, then exits as interrupted.
 */
export function eventSink(
  out: Out,
  service: string,
  verb: string,
  /** Whether `shipit abort` stops it (a deploy, a promoted canary). */
  abortable = false,
  env: NodeJS.ProcessEnv = process.env,
): EventSink {
  const stdout = process.stdout;
  if (out.json || !stdout.isTTY || env.TERM === 'dumb')
    return { event: (e) => printEvent(out, e), close: () => {} };
  const live = new LiveProgress(
    stdout,
    process.stderr,
    colours(stdout, env),
    Date.now,
    colours(process.stderr, env),
    `${verb} ${service}`,
  );
  const timer = setInterval(() => live.tick(), 100);
  timer.unref();
  const close = () => {
    clearInterval(timer);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    process.off('exit', close);
    live.close();
  };
  function interrupted(signal: NodeJS.Signals) {
    close();
    process.stderr.write(
      `${signal === 'SIGINT' ? '^C ' : ''}stopped watching; the ${verb} of ${service} goes on in the daemon: see shipit status ${service}${abortable ? `, or stop it with shipit abort ${service}` : ''}\n`,
    );
    // As if not handled: the shell sees the usual "killed by SIGINT" (exit 130).
    process.kill(process.pid, signal);
  }
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  process.once('exit', close);
  return { event: (e) => live.event(e), close };
}
