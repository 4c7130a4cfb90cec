// Merge several Compose files in order, as `docker stack deploy -c a.yml -c b.yml` does:
// mappings merge recursively, scalars override, command/entrypoint/healthcheck.test replace,
// environment/labels/sysctls/extra_hosts merge as mappings, ports/volumes/secrets/configs merge by
// their key (later files replace an entry with the same key), other lists of strings are unioned.
import type { LEntry, LMap, LNode, LScalar } from './tree.js';

type Rule = 'replace' | 'dict' | 'netmap' | 'union' | { keyed: (n: LNode) => string };

const keyedPorts: Rule = {
  keyed: (n) => {
    if (n.kind === 'scalar') return `short:${String(n.value)}`;
    if (n.kind !== 'map') return JSON.stringify(n);
    const g = (k: string): string => {
      const v = n.entries.get(k)?.value;
      return v?.kind === 'scalar' ? String(v.value ?? '') : '';
    };
    return `long:${g('published')}:${g('target')}/${g('protocol') || 'tcp'}:${g('mode') || 'ingress'}`;
  },
};

function targetKey(defaultFromSource: (s: string) => string): Rule {
  return {
    keyed: (n) => {
      if (n.kind === 'scalar') return defaultFromSource(String(n.value));
      if (n.kind !== 'map') return JSON.stringify(n);
      const t = n.entries.get('target')?.value;
      if (t?.kind === 'scalar' && t.value !== null) return String(t.value);
      const s = n.entries.get('source')?.value;
      return defaultFromSource(s?.kind === 'scalar' ? String(s.value) : '');
    },
  };
}

const volumeTarget = targetKey((s) => {
  const parts = s.split(':');
  return parts.length === 1 ? parts[0]! : parts[1]!;
});

const SERVICE_RULES: Record<string, Rule> = {
  command: 'replace',
  entrypoint: 'replace',
  'healthcheck.test': 'replace',
  environment: 'dict',
  labels: 'dict',
  'deploy.labels': 'dict',
  sysctls: 'dict',
  extra_hosts: 'dict',
  'logging.options': 'dict',
  networks: 'netmap',
  depends_on: 'netmap',
  ports: keyedPorts,
  volumes: volumeTarget,
  secrets: targetKey((s) => s),
  configs: targetKey((s) => s),
  dns: 'union',
  dns_search: 'union',
  cap_add: 'union',
  cap_drop: 'union',
  env_file: 'union',
  tmpfs: 'union',
  expose: 'union',
  'deploy.placement.constraints': 'union',
  'deploy.placement.preferences': 'union',
};

function ruleFor(path: string[]): Rule | undefined {
  if (path[0] === 'services' && path.length >= 3) return SERVICE_RULES[path.slice(2).join('.')];
  return undefined;
}

/** Merge `over` onto `base` (both untouched); returns the merged tree. */
export function mergeTrees(base: LMap, over: LMap): LMap {
  return mergeNode(base, over, []) as LMap;
}

function mergeNode(base: LNode, over: LNode, path: string[]): LNode {
  const rule = ruleFor(path);
  if (rule === 'replace') return over;
  if (rule === 'dict' || rule === 'netmap') {
    const b = toDict(base, rule === 'netmap', path);
    const o = toDict(over, rule === 'netmap', path);
    if (b && o) return mergeMaps(b, o, path);
    return over;
  }
  if (rule === 'union') {
    if (base.kind === 'seq' && over.kind === 'seq') {
      const seen = new Set(base.items.map((n) => JSON.stringify(plainKey(n))));
      return { ...base, items: [...base.items, ...over.items.filter((n) => !seen.has(JSON.stringify(plainKey(n))))] };
    }
    return over;
  }
  if (rule && typeof rule === 'object') {
    if (base.kind === 'seq' && over.kind === 'seq') {
      const byKey = new Map<string, LNode>();
      for (const n of base.items) byKey.set(rule.keyed(n), n);
      for (const n of over.items) byKey.set(rule.keyed(n), n);
      return { kind: 'seq', pos: over.pos, items: [...byKey.values()] };
    }
    return over;
  }
  if (base.kind === 'map' && over.kind === 'map') return mergeMaps(base, over, path);
  return over;
}

function mergeMaps(base: LMap, over: LMap, path: string[]): LMap {
  const entries = new Map<string, LEntry>(base.entries);
  for (const [k, e] of over.entries) {
    const prev = entries.get(k);
    entries.set(k, prev ? { keyPos: e.keyPos, value: mergeNode(prev.value, e.value, [...path, k]) } : e);
  }
  return { kind: 'map', pos: base.pos, entries };
}

function plainKey(n: LNode): unknown {
  if (n.kind === 'scalar') return n.value;
  if (n.kind === 'seq') return n.items.map(plainKey);
  return [...n.entries].map(([k, e]) => [k, plainKey(e.value)]);
}

/** list form ["K=V", "K"] (or ["host:ip"] for extra_hosts, [name] for networks) to a mapping. */
function toDict(n: LNode, names: boolean, path: string[]): LMap | undefined {
  if (n.kind === 'map') return n;
  if (n.kind !== 'seq') return undefined;
  const entries = new Map<string, LEntry>();
  const hosts = path[path.length - 1] === 'extra_hosts';
  for (const it of n.items) {
    if (it.kind !== 'scalar' || it.value === null) return undefined;
    const s = String(it.value);
    if (names) {
      entries.set(s, { keyPos: it.pos, value: { kind: 'scalar', pos: it.pos, value: null } });
      continue;
    }
    const sep = hosts ? firstOf(s, ['=', ':']) : s.indexOf('=');
    const value: LScalar = { kind: 'scalar', pos: it.pos, value: sep < 0 ? null : s.slice(sep + 1) };
    entries.set(sep < 0 ? s : s.slice(0, sep), { keyPos: it.pos, value });
  }
  return { kind: 'map', pos: n.pos, entries };
}

function firstOf(s: string, seps: string[]): number {
  const idx = seps.map((c) => s.indexOf(c)).filter((i) => i >= 0);
  return idx.length ? Math.min(...idx) : -1;
}
