// Typed checks of Compose values: each takes a node and its key path, returns the typed value or
// throws a ComposeError at the node's position.
import { ComposeError } from './errors.js';
import { describe, type LMap, type LNode, type LScalar, type LSeq } from './tree.js';
import { bytesOf, durationMsOf, nanoCpusOf, shellSplit } from './units.js';

export const fail = (n: LNode, path: string, reason: string): never => {
  throw new ComposeError(n.pos, path, reason);
};

export function asMap(n: LNode, path: string): LMap {
  return n.kind === 'map' ? n : fail(n, path, `must be a mapping, got ${describe(n)}`);
}
export function asSeq(n: LNode, path: string): LSeq {
  return n.kind === 'seq' ? n : fail(n, path, `must be a list, got ${describe(n)}`);
}
function asScalar(n: LNode, path: string, what: string): LScalar {
  return n.kind === 'scalar' ? n : fail(n, path, `must be ${what}, got ${describe(n)}`);
}

export function str(n: LNode, path: string): string {
  const s = asScalar(n, path, 'a string');
  if (typeof s.value === 'string') return s.value;
  return fail(n, path, `must be a string, got ${describe(n)}`);
}
/** A string, also accepting numbers (user: 1000, version: 3.8). */
export function strish(n: LNode, path: string): string {
  const s = asScalar(n, path, 'a string');
  if (typeof s.value === 'string' || typeof s.value === 'number') return String(s.value);
  return fail(n, path, `must be a string, got ${describe(n)}`);
}
/** Non-negative integer; numeric strings are accepted (they come from interpolation). */
export function int(n: LNode, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const s = asScalar(n, path, 'an integer');
  const v = typeof s.value === 'string' && /^-?\d+$/.test(s.value.trim()) ? Number(s.value) : s.value;
  if (typeof v !== 'number' || !Number.isInteger(v)) return fail(n, path, `must be an integer, got ${describe(n)}`);
  if (v < min || v > max) return fail(n, path, `${v} is out of range (${min}..${max})`);
  return v;
}
export function num(n: LNode, path: string): number {
  const s = asScalar(n, path, 'a number');
  const v = typeof s.value === 'string' && /^-?\d+(\.\d+)?$/.test(s.value.trim()) ? Number(s.value) : s.value;
  return typeof v === 'number' ? v : fail(n, path, `must be a number, got ${describe(n)}`);
}
export function bool(n: LNode, path: string): boolean {
  const s = asScalar(n, path, 'a boolean');
  if (typeof s.value === 'boolean') return s.value;
  if (typeof s.value === 'string' && /^(true|false)$/i.test(s.value)) return s.value.toLowerCase() === 'true';
  return fail(n, path, `must be a boolean, got ${describe(n)}`);
}
export function oneOf<T extends string>(n: LNode, path: string, allowed: readonly T[]): T {
  const v = str(n, path);
  return (allowed as readonly string[]).includes(v) ? (v as T) : fail(n, path, `must be one of ${allowed.join(', ')}, got "${v}"`);
}
export function durationMs(n: LNode, path: string): number {
  const text = strish(n, path);
  const ms = durationMsOf(text);
  return ms === undefined ? fail(n, path, `invalid duration "${text}" (expected e.g. 10s, 1m30s, 500ms)`) : ms;
}
export function bytes(n: LNode, path: string): number {
  const text = strish(n, path);
  const b = bytesOf(text);
  return b === undefined ? fail(n, path, `invalid size "${text}" (expected a number of bytes or e.g. 512M, 1.5G, 100k)`) : b;
}
export function nanoCpus(n: LNode, path: string): number {
  const text = strish(n, path);
  const c = nanoCpusOf(text);
  return c === undefined ? fail(n, path, `invalid cpus "${text}" (expected a decimal number of CPUs, e.g. "0.5")`) : c;
}
export function strList(n: LNode, path: string): string[] {
  return asSeq(n, path).items.map((it, i) => strish(it, `${path}[${i}]`));
}
/** A string or a list of strings (dns, tmpfs, env_file). */
export function strOrList(n: LNode, path: string): string[] {
  return n.kind === 'seq' ? strList(n, path) : [strish(n, path)];
}
/** command/entrypoint: a list is taken as is, a string is split like a shell would. */
export function commandOf(n: LNode, path: string): string[] {
  if (n.kind === 'seq') return strList(n, path);
  const s = str(n, path);
  return shellSplit(s) ?? fail(n, path, `unterminated quote in ${JSON.stringify(s)}`);
}
/** list_or_dict: ["K=V", "K"] or {K: V}; values may be strings, numbers, booleans or null. */
export function listOrDict(n: LNode, path: string, sep = '='): Array<[string, string | null]> {
  if (n.kind === 'map') {
    return [...n.entries].map(([k, e]) => {
      const v = e.value;
      if (v.kind !== 'scalar') return fail(v, `${path}.${k}`, `must be a string, number, boolean or null, got ${describe(v)}`);
      return [k, v.value === null ? null : String(v.value)];
    });
  }
  if (n.kind === 'seq') {
    return n.items.map((it, i) => {
      const s = strish(it, `${path}[${i}]`);
      const at = s.indexOf(sep);
      return at < 0 ? [s, null] : [s.slice(0, at), s.slice(at + 1)];
    });
  }
  return fail(n, path, `must be a list or a mapping, got ${describe(n)}`);
}
export function stringDict(n: LNode, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of listOrDict(n, path)) out[k] = v ?? '';
  return out;
}

export type Handlers = Record<string, (n: LNode, path: string) => void>;

/**
 * Walk a mapping: each key must have a handler (or start with "x-" when extensions are allowed);
 * an unknown key is an error at the key's position naming its path.
 */
export function fields(n: LNode, path: string, handlers: Handlers, opts: { extensions?: boolean; unknown?: (key: string) => string | undefined } = {}): void {
  const m = asMap(n, path);
  for (const [k, e] of m.entries) {
    const sub = path ? `${path}.${k}` : k;
    const h = handlers[k];
    if (h) {
      h(e.value, sub);
      continue;
    }
    if (opts.extensions !== false && k.startsWith('x-')) continue;
    const special = opts.unknown?.(k);
    throw new ComposeError(e.keyPos, sub, special ?? 'unknown key (not allowed here in Compose file format 3.x)');
  }
}
