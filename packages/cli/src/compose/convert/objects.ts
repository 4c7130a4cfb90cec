// Top-level networks, secrets and configs to NetworkSpec/SecretSpec/ConfigSpec.
import { readFileSync } from 'node:fs';
import { ConfigSpec, NetworkSpec, SecretSpec } from '@shoal/api';
import { ComposeError } from '../errors.js';
import type { FileObjModel, NetworkModel, ProjectModel, ServiceModel } from '../model.js';
import { scoped, withNamespace, type StackCtx } from './common.js';

/** The name a stack's network is known by in the cluster. */
export function networkName(stack: string, key: string, m: NetworkModel | undefined): string {
  if (m?.name) return m.name;
  if (m?.external) return key;
  return scoped(stack, key);
}

export function fileObjName(stack: string, m: FileObjModel): string {
  if (m.name) return m.name;
  return m.external ? m.key : scoped(stack, m.key);
}

/** Networks the stack must create: those used by a service (plus <stack>_default if needed), not external. */
export function convertNetworks(p: ProjectModel, ctx: StackCtx): { specs: NetworkSpec[]; external: string[] } {
  const used = new Set<string>();
  for (const s of p.services) for (const n of serviceNetworkKeys(s)) used.add(n);
  const specs: NetworkSpec[] = [];
  const external: string[] = [];
  for (const key of [...used].sort()) {
    const m = p.networks.get(key);
    const name = networkName(ctx.stack, key, m);
    if (m?.external) {
      external.push(name);
      continue;
    }
    const spec = NetworkSpec.fromJSON({});
    spec.annotations = { name, labels: withNamespace(ctx.stack, m?.labels ?? {}) };
    spec.driver = { name: m?.driver ?? 'overlay', options: m?.driverOpts ?? {} };
    if (m?.ipam) {
      spec.ipam = {
        driver: m.ipam.driver ? { name: m.ipam.driver, options: {} } : undefined,
        configs: m.ipam.configs.map((c) => ({ subnet: c.subnet ?? '', range: c.ipRange ?? '', gateway: c.gateway ?? '' })),
      };
    }
    spec.attachable = m?.attachable ?? false;
    spec.internal = m?.internal ?? false;
    spec.ipv6 = m?.ipv6 ?? false;
    specs.push(spec);
  }
  return { specs, external };
}

export function serviceNetworkKeys(s: ServiceModel): string[] {
  return s.networks ? s.networks.map((n) => n.name) : ['default'];
}

function readData(m: FileObjModel, kind: string): Buffer {
  try {
    return readFileSync(m.file!);
  } catch (e) {
    throw new ComposeError(m.pos, `${m.path}.file`, `cannot read ${kind} file ${m.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Secrets used by at least one service (Docker creates only those), not external. */
export function convertSecrets(p: ProjectModel, ctx: StackCtx): SecretSpec[] {
  const used = new Set(p.services.flatMap((s) => s.secrets.map((r) => r.source)));
  const out: SecretSpec[] = [];
  for (const [key, m] of [...p.secrets].sort(([a], [b]) => a.localeCompare(b))) {
    if (!used.has(key) || m.external) continue;
    const spec = SecretSpec.fromJSON({});
    spec.annotations = { name: fileObjName(ctx.stack, m), labels: withNamespace(ctx.stack, m.labels) };
    if (m.file) spec.data = readData(m, 'secret');
    if (m.driver) spec.driver = { name: m.driver, options: m.driverOpts };
    out.push(spec);
  }
  return out;
}

export function convertConfigs(p: ProjectModel, ctx: StackCtx): ConfigSpec[] {
  const used = new Set(p.services.flatMap((s) => s.configs.map((r) => r.source)));
  const out: ConfigSpec[] = [];
  for (const [key, m] of [...p.configs].sort(([a], [b]) => a.localeCompare(b))) {
    if (!used.has(key) || m.external) continue;
    const spec = ConfigSpec.fromJSON({});
    spec.annotations = { name: fileObjName(ctx.stack, m), labels: withNamespace(ctx.stack, m.labels) };
    spec.data = readData(m, 'config');
    out.push(spec);
  }
  return out;
}
