/** Output helpers: human lines, or one JSON document with --json. */
export interface Out {
  json: boolean;
  line(s: string): void;
  err(s: string): void;
  data(obj: unknown): void;
}

export function makeOut(json: boolean): Out {
  return {
    json,
    line: (s) => {
      if (!json) process.stdout.write(`${s}\n`);
    },
    err: (s) => process.stderr.write(`${s}\n`),
    data: (obj) => {
      if (json) process.stdout.write(`${JSON.stringify(obj)}\n`);
    },
  };
}

export function table(rows: (string | number | null | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '))
    .join('\n');
}

export function when(ms: number | null): string {
  if (!ms) return '-';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60000)}m${Math.round((ms % 60000) / 1000)}s`;
}

const CODES = { red: 31, green: 32, yellow: 33, dim: 2 } as const;
export type Colour = keyof typeof CODES;

/**
 * Colour for a terminal only: never when the stream is not a TTY (pipes,
 * CI logs), when NO_COLOR is set (https://no-color.org), or when TERM is dumb.
 */
export function colours(
  stream: { isTTY?: boolean } = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): (c: Colour, s: string) => string {
  const on = !!stream.isTTY && !env.NO_COLOR && env.TERM !== 'dumb';
  return (c, s) => (on ? `\x1b[${CODES[c]}m${s}\x1b[0m` : s);
}
