// "Did you mean": the closest known name to a misspelt one, for error messages.

/**
 * The candidate nearest to `input` (case-insensitive; an adjacent swap is one edit),
 * or undefined when none is close enough to be a plausible typo: one edit for inputs
 * of up to 5 characters, two up to 8, three beyond. Ties go to the earlier candidate.
 */
export function suggest(input: string, candidates: readonly string[]): string | undefined {
  const needle = input.toLowerCase();
  if (!needle) return undefined;
  const max = Math.max(1, Math.min(3, Math.floor(needle.length / 3)));
  let best: { name: string; d: number } | undefined;
  for (const name of candidates) {
    const d = editDistance(needle, name.toLowerCase());
    if (d <= max && d < (best?.d ?? Infinity)) best = { name, d };
  }
  return best?.name;
}

/** Damerau-Levenshtein distance (optimal string alignment): "wbe" -> "web" is 1. */
export function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        cur[j] = Math.min(cur[j], before[j - 2] + 1);
    }
    before = prev;
    prev = cur;
  }
  return prev[b.length];
}
