// Parse a Compose file with `yaml`, keeping line/column of every node (LineCounter + node ranges).
import { readFileSync } from 'node:fs';
import { Alias, isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YNode } from 'yaml';
import { ComposeError, type Pos } from './errors.js';
import type { LEntry, LMap, LNode } from './tree.js';

export function parseComposeFile(file: string): LMap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ComposeError({ file, line: 1, col: 1 }, '', `cannot read file: ${(e as Error).message}`);
  }
  return parseComposeText(text, file);
}

export function parseComposeText(text: string, file: string): LMap {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: true });
  const posAt = (offset: number | undefined): Pos => {
    const p = lc.linePos(offset ?? 0);
    return { file, line: p.line, col: p.col };
  };
  const first = doc.errors[0];
  if (first) {
    const reason = first.message.split('\n')[0] ?? first.message;
    throw new ComposeError(posAt(first.pos[0]), '', `invalid YAML: ${reason}`);
  }
  if (doc.contents === null) return { kind: 'map', pos: posAt(0), entries: new Map() };
  const root = convert(doc, doc.contents as YNode, posAt, '', 0);
  if (root.kind !== 'map') throw new ComposeError(root.pos, '', 'top-level object must be a mapping');
  return root;
}

function convert(doc: Document, node: YNode, posAt: (o: number | undefined) => Pos, path: string, depth: number): LNode {
  if (depth > 64) throw new ComposeError(posAt(node.range?.[0]), path, 'nesting too deep (alias loop?)');
  if (isAlias(node)) {
    const target = (node as Alias).resolve(doc);
    if (!target) throw new ComposeError(posAt(node.range?.[0]), path, `unknown alias *${(node as Alias).source}`);
    return convert(doc, target as YNode, posAt, path, depth + 1);
  }
  const pos = posAt(node.range?.[0]);
  if (isScalar(node)) {
    const v = node.value;
    if (v === null || v === undefined) return { kind: 'scalar', pos, value: null };
    if (typeof v === 'number' && typeof node.source === 'string') return { kind: 'scalar', pos, value: v, raw: node.source };
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return { kind: 'scalar', pos, value: v };
    if (typeof v === 'bigint') return { kind: 'scalar', pos, value: Number(v) };
    return { kind: 'scalar', pos, value: String(v) };
  }
  if (isSeq(node)) {
    return { kind: 'seq', pos, items: node.items.map((it, i) => convert(doc, it as YNode, posAt, `${path}[${i}]`, depth + 1)) };
  }
  if (isMap(node)) {
    const entries = new Map<string, LEntry>();
    const merges: LNode[] = [];
    for (const pair of node.items) {
      const k = pair.key as YNode | null;
      const keyPos = posAt(k?.range?.[0] ?? node.range?.[0]);
      const keyVal = k && isScalar(k) ? k.value : undefined;
      if (keyVal === '<<' && pair.value) {
        merges.push(convert(doc, pair.value as YNode, posAt, path, depth + 1));
        continue;
      }
      if (keyVal === null || keyVal === undefined || typeof keyVal === 'object') {
        throw new ComposeError(keyPos, path, 'mapping keys must be strings');
      }
      const key = String(keyVal);
      const sub = path ? `${path}.${key}` : key;
      const value: LNode = pair.value ? convert(doc, pair.value as YNode, posAt, sub, depth + 1) : { kind: 'scalar', pos: keyPos, value: null };
      entries.set(key, { keyPos, value });
    }
    // YAML merge keys (<<: *anchor or <<: [*a, *b]): earlier sources win, explicit keys win over all.
    for (const m of merges) {
      const sources = m.kind === 'seq' ? m.items : [m];
      for (const s of sources) {
        if (s.kind !== 'map') throw new ComposeError(s.pos, path, 'merge key "<<" must refer to a mapping');
        for (const [k, e] of s.entries) if (!entries.has(k)) entries.set(k, e);
      }
    }
    return { kind: 'map', pos, entries };
  }
  return { kind: 'scalar', pos, value: null };
}
