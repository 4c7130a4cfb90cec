// Placement constraints ("node.labels.zone==a") and spread descriptors ("node.labels.zone"),
// parsed once and matched against nodes. Matching is case-insensitive, as in SwarmKit.
// parseConstraints() is also what the Control API uses to validate a spec: it throws an
// InvalidArgument ShoalError naming the offending constraint and the reason.
import { invalidArgument, NodeRole, type Node } from '@shoal/api';

export type ConstraintKey =
  | { kind: 'id' }
  | { kind: 'hostname' }
  | { kind: 'ip' }
  | { kind: 'role' }
  | { kind: 'os' }
  | { kind: 'arch' }
  | { kind: 'nodeLabel'; label: string }
  | { kind: 'engineLabel'; label: string };

export interface Constraint {
  /** the text it was parsed from, for messages */
  readonly text: string;
  readonly key: ConstraintKey;
  readonly op: '==' | '!=';
  /** expected value, lower-cased (comparison is case-insensitive) */
  readonly value: string;
  /** node.ip only: the address or network to match */
  readonly ip?: IpMatcher | undefined;
}

const KEY_RE = /^[a-z_][a-z0-9\-_.]*$/i;
const VALUE_RE = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;

function parseKey(raw: string, what: string): ConstraintKey {
  const k = raw.toLowerCase();
  switch (k) {
    case 'node.id':
      return { kind: 'id' };
    case 'node.hostname':
      return { kind: 'hostname' };
    case 'node.ip':
      return { kind: 'ip' };
    case 'node.role':
      return { kind: 'role' };
    case 'node.platform.os':
      return { kind: 'os' };
    case 'node.platform.arch':
      return { kind: 'arch' };
  }
  // label names keep their case for lookup; SwarmKit matches the prefix case-insensitively
  if (k.startsWith('node.labels.') && raw.length > 'node.labels.'.length) return { kind: 'nodeLabel', label: raw.slice('node.labels.'.length) };
  if (k.startsWith('engine.labels.') && raw.length > 'engine.labels.'.length) return { kind: 'engineLabel', label: raw.slice('engine.labels.'.length) };
  throw new Error(
    `unknown ${what} key "${raw}" (expected node.id, node.hostname, node.ip, node.role, node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>)`,
  );
}

/** Parse one constraint; throws a plain Error with the reason (parseConstraints wraps it). */
export function parseConstraint(text: string): Constraint {
  const m = /^(.*?)(==|!=)(.*)$/s.exec(text);
  if (!m) throw new Error(`constraint "${text}" has no operator (expected KEY==VALUE or KEY!=VALUE)`);
  const rawKey = m[1]!.trim();
  const op = m[2] as '==' | '!=';
  const rawValue = m[3]!.trim();
  if (!KEY_RE.test(rawKey)) throw new Error(`constraint "${text}": invalid key "${rawKey}"`);
  if (rawValue === '') throw new Error(`constraint "${text}": empty value`);
  if (/[=!]=/.test(rawValue)) throw new Error(`constraint "${text}": more than one operator`);
  if (!VALUE_RE.test(rawValue)) throw new Error(`constraint "${text}": invalid characters in value "${rawValue}"`);
  let key: ConstraintKey;
  try {
    key = parseKey(rawKey, 'constraint');
  } catch (err) {
    throw new Error(`constraint "${text}": ${(err as Error).message}`);
  }
  let ip: IpMatcher | undefined;
  if (key.kind === 'ip') {
    ip = parseIpMatcher(rawValue);
    if (!ip) throw new Error(`constraint "${text}": "${rawValue}" is not an IP address or CIDR network`);
  }
  if (key.kind === 'role' && !['manager', 'worker'].includes(rawValue.toLowerCase())) {
    throw new Error(`constraint "${text}": node.role must be manager or worker`);
  }
  return { text, key, op, value: rawValue.toLowerCase(), ip };
}

/**
 * Parse a list of constraints. Throws ShoalError InvalidArgument with field
 * `${field}[i]` and a message naming the malformed constraint.
 */
export function parseConstraints(texts: readonly string[], field = 'task.placement.constraints'): Constraint[] {
  return texts.map((t, i) => {
    try {
      return parseConstraint(t);
    } catch (err) {
      throw invalidArgument(`${field}[${i}]`, (err as Error).message);
    }
  });
}

/** Cache of parsed constraint lists (specs repeat a lot; parsing once per group is enough). */
const cache = new Map<string, Constraint[]>();
export function cachedConstraints(texts: readonly string[]): Constraint[] {
  if (texts.length === 0) return [];
  const k = texts.join('\u0000');
  let c = cache.get(k);
  if (!c) {
    c = parseConstraints(texts);
    if (cache.size > 10_000) cache.clear();
    cache.set(k, c);
  }
  return c;
}

export function normalizeArch(a: string): string {
  const s = a.toLowerCase();
  if (s === 'x86_64' || s === 'x86-64') return 'amd64';
  if (s === 'aarch64') return 'arm64';
  return s;
}

export function normalizeOs(o: string): string {
  return o.toLowerCase();
}

/** The value of a node attribute a constraint looks at (undefined: label absent). */
export function nodeAttribute(node: Node, key: ConstraintKey): string | undefined {
  switch (key.kind) {
    case 'id':
      return node.id;
    case 'hostname':
      return node.description?.hostname ?? '';
    case 'ip':
      return node.status?.addr ?? '';
    case 'role':
      return node.role === NodeRole.MANAGER ? 'manager' : 'worker';
    case 'os':
      return normalizeOs(node.description?.platform?.os ?? '');
    case 'arch':
      return normalizeArch(node.description?.platform?.architecture ?? '');
    case 'nodeLabel':
      return node.spec?.annotations?.labels[key.label];
    case 'engineLabel':
      return node.description?.engineLabels[key.label];
  }
}

export function matchConstraint(c: Constraint, node: Node): boolean {
  let eq: boolean;
  if (c.key.kind === 'ip') {
    eq = c.ip !== undefined && c.ip.matches(nodeAddrHost(node.status?.addr ?? ''));
  } else {
    const v = nodeAttribute(node, c.key);
    if (v === undefined) return c.op === '!=';
    const expected = c.key.kind === 'arch' ? normalizeArch(c.value) : c.value;
    eq = v.toLowerCase() === expected;
  }
  return c.op === '==' ? eq : !eq;
}

export function matchConstraints(cs: readonly Constraint[], node: Node): boolean {
  for (const c of cs) if (!matchConstraint(c, node)) return false;
  return true;
}

// ---------------------------------------------------------------- spread descriptors

/** Parse a placement preference's spread descriptor, e.g. "node.labels.zone". */
export function parseSpreadDescriptor(text: string, field = 'task.placement.preferences'): ConstraintKey {
  try {
    const raw = text.trim();
    if (!KEY_RE.test(raw)) throw new Error(`invalid spread descriptor "${text}"`);
    return parseKey(raw, 'spread descriptor');
  } catch (err) {
    throw invalidArgument(field, (err as Error).message);
  }
}

// ---------------------------------------------------------------- IP matching

export interface IpMatcher {
  matches(addr: string): boolean;
}

/** Host part of "10.0.0.1:4242", "[fe80::1]:4242", "10.0.0.1" or "fe80::1". */
function nodeAddrHost(addr: string): string {
  if (addr.startsWith('[')) return addr.slice(1, addr.indexOf(']') > 0 ? addr.indexOf(']') : undefined);
  const colons = addr.split(':').length - 1;
  if (colons === 1) return addr.slice(0, addr.indexOf(':'));
  return addr;
}

function parseIpv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

function parseIpv6(s: string): number[] | undefined {
  // returns 16 bytes; supports "::" compression and a trailing dotted IPv4
  if (!/^[0-9a-f:.]+$/i.test(s)) return undefined;
  const dbl = s.split('::');
  if (dbl.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it.includes('.') && i === items.length - 1) {
        const v4 = parseIpv4(it);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-f]{1,4}$/i.test(it)) return undefined;
        out.push(parseInt(it, 16));
      }
    }
    return out;
  };
  const head = groups(dbl[0]!);
  const tail = dbl.length === 2 ? groups(dbl[1]!) : [];
  if (!head || !tail) return undefined;
  let words: number[];
  if (dbl.length === 2) {
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return undefined;
    words = [...head, ...new Array<number>(fill).fill(0), ...tail];
  } else {
    if (head.length !== 8) return undefined;
    words = head;
  }
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

function parseIp(s: string): number[] | undefined {
  const v4 = parseIpv4(s);
  if (v4) return v4;
  return parseIpv6(s);
}

/** An IP address (exact match) or a CIDR network (containment). */
export function parseIpMatcher(text: string): IpMatcher | undefined {
  const [addrText, bitsText, extra] = text.split('/');
  if (extra !== undefined || addrText === undefined) return undefined;
  const net = parseIp(addrText);
  if (!net) return undefined;
  let bits = net.length * 8;
  if (bitsText !== undefined) {
    if (!/^\d{1,3}$/.test(bitsText)) return undefined;
    bits = Number(bitsText);
    if (bits > net.length * 8) return undefined;
  }
  return {
    matches(addr: string): boolean {
      const a = parseIp(addr);
      if (!a || a.length !== net.length) return false;
      let left = bits;
      for (let i = 0; i < a.length && left > 0; i++, left -= 8) {
        const mask = left >= 8 ? 0xff : (0xff << (8 - left)) & 0xff;
        if ((a[i]! & mask) !== (net[i]! & mask)) return false;
      }
      return true;
    },
  };
}
