// A small positioned tree built from the YAML document. Every node remembers where it came from
// (file, line, column) so that interpolation, merging, validation and conversion can all report
// errors at the right place even after several files were merged.
import type { Pos } from './errors.js';

export type Scalar = string | number | boolean | null;

export interface LScalar {
  kind: 'scalar';
  pos: Pos;
  value: Scalar;
  /** source text of a number literal (to read YAML 1.1 octal like `mode: 0440`) */
  raw?: string;
}
export interface LSeq {
  kind: 'seq';
  pos: Pos;
  items: LNode[];
}
export interface LEntry {
  keyPos: Pos;
  value: LNode;
}
export interface LMap {
  kind: 'map';
  pos: Pos;
  entries: Map<string, LEntry>;
}
export type LNode = LScalar | LSeq | LMap;

export function scalar(value: Scalar, pos: Pos): LScalar {
  return { kind: 'scalar', pos, value };
}

/** Plain JS value of a node (for printing and for tests). */
export function toPlain(n: LNode): unknown {
  switch (n.kind) {
    case 'scalar':
      return n.value;
    case 'seq':
      return n.items.map(toPlain);
    case 'map': {
      const o: Record<string, unknown> = {};
      for (const [k, e] of n.entries) o[k] = toPlain(e.value);
      return o;
    }
  }
}

export function child(n: LNode | undefined, key: string): LNode | undefined {
  return n?.kind === 'map' ? n.entries.get(key)?.value : undefined;
}

export function describe(n: LNode): string {
  if (n.kind === 'map') return 'a mapping';
  if (n.kind === 'seq') return 'a list';
  if (n.value === null) return 'null';
  return `${typeof n.value} ${JSON.stringify(n.value)}`;
}
