// Shared by the fuzz tests (src/**/*.fuzz.test.ts): random mutations of a valid document at
// random key paths, and cheap checks (jest's expect costs ~0.2 ms a call under ts-jest, as
// much as a whole run of most properties).

import fc from 'fast-check';

/**
 * Runs of a property: `n`, or SHIPIT_FUZZ_RUNS when that is more (a nightly job can raise
 * every property at once).
 */
export const fuzzRuns = (n: number): number =>
  Math.max(n, Number(process.env.SHIPIT_FUZZ_RUNS) || 0);

/** Throws when `ok` is false; fast-check reports the message with the counterexample. */
export function check(ok: boolean, what: () => string): void {
  if (!ok) throw new Error(what());
}

export type Json = unknown;
type Seg = string | number;
type Holder = Record<Seg, Json>;

const children = (v: Json): [Seg, Json][] =>
  Array.isArray(v)
    ? v.map((x, i): [Seg, Json] => [i, x])
    : v !== null && typeof v === 'object'
      ? Object.entries(v)
      : [];

/** How many nodes a value has, itself included. */
function nodes(v: Json): number {
  let n = 1;
  for (const [, c] of children(v)) n += nodes(c);
  return n;
}

/** The holder and key of the `k`-th node in depth-first order (0: the value at holder[key]). */
function nth(holder: Holder, key: Seg, k: number): { parent: Holder; key: Seg } {
  if (k === 0) return { parent: holder, key };
  let left = k - 1;
  for (const [ck, c] of children(holder[key])) {
    const n = nodes(c);
    if (left < n) return nth(holder[key] as Holder, ck, left);
    left -= n;
  }
  throw new Error(`no node ${k}`);
}

export type Mutation =
  | { kind: 'set'; at: number; value: Json }
  | { kind: 'delete'; at: number }
  | { kind: 'add-key'; at: number; key: string; value: Json }
  | { kind: 'rename'; at: number; key: string }
  | { kind: 'duplicate'; at: number };

/**
 * One change at a random node (chosen when applied, among the nodes there are then): a new
 * value, a deleted key or list item, an extra key, a renamed key, a repeated list item.
 */
export function mutationOf(value: fc.Arbitrary<Json>, key: fc.Arbitrary<string>) {
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('add-key' as const), at: fc.nat(), key, value }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), key }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }) },
  ) as fc.Arbitrary<Mutation>;
}

/** An own, enumerable property, even for "__proto__". */
function define(o: object, key: string, value: Json): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A copy of `base` with the mutations applied in order. */
export function mutate(base: Json, mutations: readonly Mutation[]): Json {
  const root: Holder = { root: structuredClone(base) };
  for (const m of mutations) {
    const { parent, key } = nth(root, 'root', m.at % nodes(root.root));
    const isRoot = parent === root;
    const here = parent[key];
    switch (m.kind) {
      case 'set':
        // generated values may be shared between runs (constantFrom): never mutate one in place
        parent[key] = structuredClone(m.value);
        break;
      case 'delete':
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else if (!isRoot) delete parent[key];
        break;
      case 'add-key':
        if (Array.isArray(here)) here.push(structuredClone(m.value));
        else if (here !== null && typeof here === 'object')
          define(here, m.key, structuredClone(m.value));
        break;
      case 'rename':
        if (!Array.isArray(parent) && !isRoot && typeof key === 'string' && key !== m.key) {
          delete parent[key];
          define(parent, m.key, here);
        }
        break;
      case 'duplicate':
        if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(here));
        break;
    }
  }
  return root.root;
}

/**
 * Whether a problem's key path points into the input: every key on it exists, except the
 * last, which may be a missing key of a mapping (a required key, or a default checked
 * against a sibling).
 */
export function anchored(data: Json, path: readonly PropertyKey[]): boolean {
  let v = data;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (v === null || typeof v !== 'object') return false;
    const has = Array.isArray(v)
      ? typeof seg === 'number' && seg < v.length
      : Object.prototype.hasOwnProperty.call(v, seg);
    if (!has) return i === path.length - 1 && !Array.isArray(v);
    v = (v as Record<PropertyKey, Json>)[seg];
  }
  return true;
}

/** A zod issue's full key path (an unknown key's path ends with the key). */
export function issuePaths(
  issues: readonly { code: string; path: PropertyKey[]; keys?: string[] }[],
): PropertyKey[][] {
  return issues.flatMap((i) =>
    i.code === 'unrecognized_keys' && i.keys ? i.keys.map((k) => [...i.path, k]) : [[...i.path]],
  );
}
