import type { z } from 'zod';
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter } from 'yaml';

// Turns zod issues into one line per problem: `<key path>: <what was expected>` (+ the line in the file).

export interface ConfigProblem {
  /** Dotted key path, e.g. `services.web.healthcheck.interval` or `alerts[0].name`. */
  path: string;
  message: string;
  /** 1-based line in the file, when known. */
  line?: number;
  /** Offset of the key in the file, when known (orders problems as the file reads). */
  offset?: number;
}

/** Where a key path sits in the file. */
export interface KeyLocation {
  line: number;
  offset: number;
}

type Segment = PropertyKey;

/** `services.web.links[0]`; the empty path reads `(top level)`. */
export function formatKeyPath(path: readonly Segment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(top level)';
}

/** One problem per offending key: an unrecognized_keys issue becomes one problem per key. */
export function problemsFromIssues(
  issues: readonly z.core.$ZodIssue[],
  locate: (path: readonly Segment[]) => KeyLocation | undefined = () => undefined,
): ConfigProblem[] {
  const seen = new Set<string>();
  const problems: ConfigProblem[] = [];
  const add = (path: readonly Segment[], message: string) => {
    const p: ConfigProblem = { path: formatKeyPath(path), message };
    const key = `${p.path}: ${p.message}`;
    if (seen.has(key)) return;
    seen.add(key);
    const at = locate(path);
    if (at) Object.assign(p, at);
    problems.push(p);
  };
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) add([...issue.path, key], issue.message);
    } else {
      add(issue.path, issue.message);
    }
  }
  // File order reads best; problems without a position keep their relative order at the end.
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.offset ?? Infinity) - (b.p.offset ?? Infinity) || a.i - b.i)
    .map(({ p }) => p);
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.path}: ${p.message}${p.line !== undefined ? ` (line ${p.line})` : ''}`;
}

/**
 * The line of the deepest node along `path` in a parsed YAML document: the key itself when it
 * exists (so unknown keys point at themselves), else its closest existing parent.
 */
export function lineLocator(doc: Document, lines: LineCounter) {
  return (path: readonly Segment[]): KeyLocation | undefined => {
    let node: unknown = doc.contents;
    let offset = rangeStart(node);
    for (const seg of path) {
      if (isAlias(node)) node = node.resolve(doc);
      let next: unknown;
      let at: number | undefined;
      if (isMap(node)) {
        const pair = node.items.find(
          (it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg),
        );
        next = pair?.value;
        at = rangeStart(pair?.key) ?? rangeStart(pair?.value);
      } else if (isSeq(node) && typeof seg === 'number') {
        next = node.items[seg];
        at = rangeStart(next);
      }
      if (at === undefined) break;
      node = next;
      offset = at;
    }
    return offset === undefined ? undefined : { line: lines.linePos(offset).line, offset };
  };
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range ? range[0] : undefined;
}
