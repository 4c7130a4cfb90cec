// Validation of the structured parts of a service: ports, volumes, secrets/configs, healthcheck,
// networks, depends_on, ulimits, extra_hosts.
import { isAbsolute, resolve } from 'node:path';
import { asMap, asSeq, bool, bytes, commandOf, durationMs, fail, fields, int, listOrDict, oneOf, str, strish, strList } from './check.js';
import type { DependsCondition, FileRefModel, HealthModel, MountModel, PortModel, ServiceNetworkModel } from './model.js';
import type { LNode } from './tree.js';

export interface PartCtx {
  workingDir: string;
  home: string | undefined;
}

// ---------------------------------------------------------------- ports

function portNum(n: LNode, path: string, text: string): number {
  if (!/^\d+$/.test(text)) return fail(n, path, `invalid port "${text}"`);
  const v = Number(text);
  if (v < 1 || v > 65535) return fail(n, path, `port ${v} is out of range (1-65535)`);
  return v;
}

function portRange(n: LNode, path: string, text: string): [number, number] {
  const [a, b] = text.split('-');
  const lo = portNum(n, path, a ?? '');
  const hi = b === undefined ? lo : portNum(n, path, b);
  if (hi < lo) return fail(n, path, `invalid port range "${text}"`);
  return [lo, hi];
}

const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;

/** Short syntax: "3000", "8080:80", "127.0.0.1:8080:80", "9090-9091:8080-8081", "53:53/udp". */
export function shortPort(n: LNode, path: string): PortModel[] {
  const s = strish(n, path);
  const [spec, proto = 'tcp', ...extra] = s.split('/');
  if (extra.length || !(PROTOCOLS as readonly string[]).includes(proto)) return fail(n, path, `invalid port "${s}" (protocol must be tcp, udp or sctp)`);
  const parts = (spec ?? '').split(':');
  const targetText = parts[parts.length - 1]!;
  const pubText = parts.length >= 2 ? parts[parts.length - 2]! : '';
  const [tlo, thi] = portRange(n, path, targetText);
  const pub = pubText === '' ? undefined : portRange(n, path, pubText);
  if (pub && pub[1] - pub[0] !== thi - tlo) return fail(n, path, `invalid port "${s}": published and target ranges differ in size`);
  const out: PortModel[] = [];
  for (let p = tlo; p <= thi; p++) {
    out.push({ target: p, published: pub ? pub[0] + (p - tlo) : 0, protocol: proto as PortModel['protocol'], mode: 'ingress', pos: n.pos, path });
  }
  return out;
}

export function longPort(n: LNode, path: string): PortModel {
  const p: PortModel = { target: 0, published: 0, protocol: 'tcp', mode: 'ingress', pos: n.pos, path };
  fields(n, path, {
    target: (v, q) => (p.target = int(v, q, 1, 65535)),
    published: (v, q) => (p.published = int(v, q, 1, 65535)),
    protocol: (v, q) => (p.protocol = oneOf(v, q, PROTOCOLS)),
    mode: (v, q) => (p.mode = oneOf(v, q, ['ingress', 'host'] as const)),
  });
  if (!p.target) fail(n, path, 'target is required');
  return p;
}

export function ports(n: LNode, path: string): PortModel[] {
  return asSeq(n, path).items.flatMap((it, i) => (it.kind === 'map' ? [longPort(it, `${path}[${i}]`)] : shortPort(it, `${path}[${i}]`)));
}

// ---------------------------------------------------------------- volumes

function hostPath(src: string, ctx: PartCtx): string {
  if (src === '~' || src.startsWith('~/')) return resolve(ctx.home ?? '/', src.slice(2));
  return isAbsolute(src) ? src : resolve(ctx.workingDir, src);
}

const isPathLike = (s: string): boolean => s.startsWith('/') || s.startsWith('.') || s.startsWith('~');
const PROPAGATIONS = ['rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave'];

export function shortVolume(n: LNode, path: string, ctx: PartCtx): MountModel {
  const s = str(n, path);
  const parts = s.split(':');
  if (parts.length > 3 || parts.some((x) => x === '')) return fail(n, path, `invalid volume specification "${s}"`);
  if (parts.length === 1) return { type: 'volume', target: checkTarget(n, path, parts[0]!), readOnly: false, pos: n.pos, path };
  const [src, dst, mode = ''] = parts as [string, string, string?];
  const m: MountModel = { type: isPathLike(src) ? 'bind' : 'volume', target: checkTarget(n, path, dst), readOnly: false, pos: n.pos, path };
  m.source = m.type === 'bind' ? hostPath(src, ctx) : src;
  for (const opt of mode.split(',').filter(Boolean)) {
    if (opt === 'ro') m.readOnly = true;
    else if (opt === 'rw') m.readOnly = false;
    else if (opt === 'nocopy' && m.type === 'volume') m.nocopy = true;
    else if (PROPAGATIONS.includes(opt) && m.type === 'bind') m.propagation = opt;
    else if (opt === 'z' || opt === 'Z' || opt === 'cached' || opt === 'delegated' || opt === 'consistent') continue;
    else return fail(n, path, `invalid volume mode "${opt}" in "${s}"`);
  }
  return m;
}

function checkTarget(n: LNode, path: string, t: string): string {
  return t.startsWith('/') ? t : fail(n, path, `volume target "${t}" must be an absolute path`);
}

export function longVolume(n: LNode, path: string, ctx: PartCtx): MountModel {
  let type: MountModel['type'] | undefined;
  let source: string | undefined;
  const m: MountModel = { type: 'volume', target: '', readOnly: false, pos: n.pos, path };
  fields(n, path, {
    type: (v, q) => (type = oneOf(v, q, ['volume', 'bind', 'tmpfs'] as const)),
    source: (v, q) => (source = str(v, q)),
    target: (v, q) => (m.target = checkTarget(v, q, str(v, q))),
    read_only: (v, q) => (m.readOnly = bool(v, q)),
    consistency: (v, q) => void str(v, q),
    bind: (v, q) => fields(v, q, { propagation: (w, r) => (m.propagation = oneOf(w, r, PROPAGATIONS)), create_host_path: (w, r) => void bool(w, r) }),
    volume: (v, q) => fields(v, q, { nocopy: (w, r) => (m.nocopy = bool(w, r)) }),
    tmpfs: (v, q) => fields(v, q, { size: (w, r) => (m.tmpfsSize = bytes(w, r)), mode: (w, r) => (m.tmpfsMode = fileMode(w, r)) }),
  });
  if (!type) return fail(n, path, 'type is required (volume, bind or tmpfs)');
  if (!m.target) return fail(n, path, 'target is required');
  m.type = type;
  if (type === 'bind') {
    if (!source) return fail(n, path, 'source is required for a bind mount');
    m.source = hostPath(source, ctx);
  } else if (type === 'volume') {
    if (source) m.source = source;
  } else if (source) return fail(n, path, 'a tmpfs mount has no source');
  return m;
}

export function volumes(n: LNode, path: string, ctx: PartCtx): MountModel[] {
  return asSeq(n, path).items.map((it, i) => (it.kind === 'map' ? longVolume(it, `${path}[${i}]`, ctx) : shortVolume(it, `${path}[${i}]`, ctx)));
}

export function tmpfs(items: string[], n: LNode, path: string): MountModel[] {
  return items.map((t) => {
    const [target = '', opts = ''] = t.split(':');
    const m: MountModel = { type: 'tmpfs', target: checkTarget(n, path, target), readOnly: false, pos: n.pos, path };
    for (const o of opts.split(',').filter(Boolean)) {
      const [k, v = ''] = o.split('=');
      if (k === 'size') m.tmpfsSize = Number(v) || fail(n, path, `invalid tmpfs size "${v}"`);
      else if (k === 'mode') m.tmpfsMode = parseInt(v, 8);
      else if (k === 'ro') m.readOnly = true;
    }
    return m;
  });
}

// ---------------------------------------------------------------- secrets / configs

/** File modes: YAML 1.1 octal (0440) and 0o440 literals are octal; "0440" strings too. */
export function fileMode(n: LNode, path: string): number {
  if (n.kind === 'scalar') {
    const raw = n.raw ?? (typeof n.value === 'string' ? n.value : undefined);
    if (raw !== undefined && /^0[0-7]+$/.test(raw)) return parseInt(raw, 8);
  }
  return int(n, path, 0, 0o7777);
}

export function fileRefs(n: LNode, path: string): FileRefModel[] {
  return asSeq(n, path).items.map((it, i) => {
    const q = `${path}[${i}]`;
    if (it.kind !== 'map') return { source: str(it, q), pos: it.pos, path: q };
    const r: FileRefModel = { source: '', pos: it.pos, path: q };
    fields(it, q, {
      source: (v, p) => (r.source = str(v, p)),
      target: (v, p) => (r.target = str(v, p)),
      uid: (v, p) => (r.uid = strish(v, p)),
      gid: (v, p) => (r.gid = strish(v, p)),
      mode: (v, p) => (r.mode = fileMode(v, p)),
    });
    if (!r.source) return fail(it, q, 'source is required');
    return r;
  });
}

// ---------------------------------------------------------------- healthcheck

export function healthcheck(n: LNode, path: string): HealthModel {
  const h: HealthModel = { disable: false };
  fields(n, path, {
    test: (v, q) => {
      if (v.kind === 'seq') {
        const t = strList(v, q);
        if (!['NONE', 'CMD', 'CMD-SHELL'].includes(t[0] ?? '')) fail(v, q, 'a test list must start with "NONE", "CMD" or "CMD-SHELL"');
        h.test = t;
      } else h.test = ['CMD-SHELL', str(v, q)];
    },
    disable: (v, q) => (h.disable = bool(v, q)),
    interval: (v, q) => (h.intervalMs = durationMs(v, q)),
    timeout: (v, q) => (h.timeoutMs = durationMs(v, q)),
    start_period: (v, q) => (h.startPeriodMs = durationMs(v, q)),
    retries: (v, q) => (h.retries = int(v, q)),
  });
  if (h.disable && h.test && h.test[0] !== 'NONE') fail(n, path, 'test and disable: true are mutually exclusive');
  return h;
}

// ---------------------------------------------------------------- networks, depends_on, misc

export function serviceNetworks(n: LNode, path: string): ServiceNetworkModel[] {
  if (n.kind === 'seq') return n.items.map((it, i) => ({ name: str(it, `${path}[${i}]`), aliases: [], addresses: [], pos: it.pos, path: `${path}[${i}]` }));
  const m = asMap(n, path);
  return [...m.entries].map(([name, e]) => {
    const q = `${path}.${name}`;
    const net: ServiceNetworkModel = { name, aliases: [], addresses: [], pos: e.keyPos, path: q };
    if (!(e.value.kind === 'scalar' && e.value.value === null)) {
      fields(e.value, q, {
        aliases: (v, p) => (net.aliases = strList(v, p)),
        ipv4_address: (v, p) => net.addresses.push(str(v, p)),
        ipv6_address: (v, p) => net.addresses.push(str(v, p)),
      });
    }
    return net;
  });
}

const CONDITIONS = ['service_started', 'service_healthy', 'service_completed_successfully'] as const;

type DependsOn = { name: string; condition: DependsCondition; pos: LNode['pos']; path: string; conditionAt?: { pos: LNode['pos']; path: string } };

export function dependsOn(n: LNode, path: string): DependsOn[] {
  if (n.kind === 'seq') return n.items.map((it, i) => ({ name: str(it, `${path}[${i}]`), condition: 'service_started' as const, pos: it.pos, path: `${path}[${i}]` }));
  const m = asMap(n, path);
  return [...m.entries].map(([name, e]) => {
    const q = `${path}.${name}`;
    const d: DependsOn = { name, condition: 'service_started', pos: e.keyPos, path: q };
    fields(e.value, q, {
      condition: (v, p) => {
        d.condition = oneOf(v, p, CONDITIONS);
        d.conditionAt = { pos: v.pos, path: p };
      },
      restart: (v, p) => void bool(v, p),
      required: (v, p) => void bool(v, p),
    });
    return d;
  });
}

export function ulimits(n: LNode, path: string): Array<{ name: string; soft: number; hard: number }> {
  return [...asMap(n, path).entries].map(([name, e]) => {
    const q = `${path}.${name}`;
    if (e.value.kind !== 'map') {
      const v = int(e.value, q, -1);
      return { name, soft: v, hard: v };
    }
    let soft: number | undefined;
    let hard: number | undefined;
    fields(e.value, q, { soft: (v, p) => (soft = int(v, p, -1)), hard: (v, p) => (hard = int(v, p, -1)) });
    if (soft === undefined || hard === undefined) return fail(e.value, q, 'soft and hard are both required');
    if (soft > hard && hard !== -1) return fail(e.value, q, `soft limit ${soft} exceeds hard limit ${hard}`);
    return { name, soft, hard };
  });
}

/** extra_hosts ["host:ip"] or {host: ip} -> "IP HOST" lines, as Docker writes them. */
export function extraHosts(n: LNode, path: string): string[] {
  const pairs = n.kind === 'map' ? listOrDict(n, path) : asSeq(n, path).items.map((it, i) => {
    const s = str(it, `${path}[${i}]`);
    const at = s.search(/[=:]/);
    return at < 0 ? fail(it, `${path}[${i}]`, `invalid extra host "${s}" (expected host:ip)`) : ([s.slice(0, at), s.slice(at + 1)] as [string, string]);
  });
  return pairs.map(([h, ip]) => `${ip ?? ''} ${h}`);
}

export { commandOf };
