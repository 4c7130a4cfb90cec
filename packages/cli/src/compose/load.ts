// The Compose pipeline: read files -> interpolate each -> merge in order -> validate -> convert.
import { dirname, join, resolve } from 'node:path';
import { ConfigSpec, NetworkSpec, SecretSpec, ServiceSpec } from '@shoal/api';
import { stringify } from 'yaml';
import type { StackCtx } from './convert/common.js';
import { convertConfigs, convertNetworks, convertSecrets } from './convert/objects.js';
import { convertService } from './convert/service.js';
import { interpolateTree, interpolationEnv, type Env } from './interpolate.js';
import { mergeTrees } from './merge.js';
import type { DependsCondition, ProjectModel } from './model.js';
import { startOrder } from './order.js';
import { parseComposeFile } from './parse.js';
import { toPlain, type LMap } from './tree.js';
import { DEPRECATED_KEYS, validateProject } from './validate.js';

export interface LoadOptions {
  /** process environment (wins over .env) */
  env: Env;
}

export interface Loaded {
  tree: LMap;
  project: ProjectModel;
  /** merged interpolation environment (.env + env) */
  env: Record<string, string | undefined>;
  warnings: string[];
}

export function loadCompose(files: readonly string[], opts: LoadOptions): Loaded {
  if (files.length === 0) throw new Error('no Compose file given (use -c FILE)');
  const abs = files.map((f) => resolve(f));
  const workingDir = dirname(abs[0]!);
  const env = interpolationEnv(join(workingDir, '.env'), opts.env);
  const warnings: string[] = [];
  const warn = (m: string): void => {
    if (!warnings.includes(m)) warnings.push(m);
  };
  let tree: LMap | undefined;
  for (const f of abs) {
    const t = parseComposeFile(f);
    interpolateTree(t, { env, warn });
    tree = tree ? mergeTrees(tree, t) : t;
  }
  const project = validateProject(tree!, workingDir, env);
  const unsupported = [...new Set(project.services.flatMap((s) => s.unsupported))].sort();
  if (unsupported.length) warnings.push(`Ignoring unsupported options: ${unsupported.join(', ')}`);
  const deprecated = [...new Set(project.services.flatMap((s) => s.deprecated))].sort();
  if (deprecated.length) warnings.push(`Ignoring deprecated options:\n\n${deprecated.map((k) => `${k}: ${DEPRECATED_KEYS[k]}`).join('\n\n')}`);
  return { tree: tree!, project, env, warnings };
}

/** `stack config`: the merged, interpolated file as YAML. */
export function renderConfig(l: Loaded): string {
  return stringify(toPlain(l.tree), { lineWidth: 0 });
}

export interface StackSpecs {
  services: ServiceSpec[];
  networks: NetworkSpec[];
  /** names of external networks the services attach to (must exist) */
  externalNetworks: string[];
  secrets: SecretSpec[];
  configs: ConfigSpec[];
  /** full service names in start order */
  order: string[];
  /** full service name -> the services it depends on (full names) and the condition to wait for */
  dependsOn: Record<string, Array<{ service: string; condition: DependsCondition }>>;
  warnings: string[];
}

export function convertStack(l: Loaded, stack: string): StackSpecs {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(stack)) throw new Error(`invalid stack name "${stack}" (letters, digits, "_", "." and "-")`);
  const ctx: StackCtx = { stack, env: l.env, warnings: [...l.warnings] };
  const order = startOrder(l.project.services).map((n) => `${stack}_${n}`);
  const nets = convertNetworks(l.project, ctx);
  const services = l.project.services.map((s) => convertService(s, l.project, ctx));
  const rank = new Map(order.map((n, i) => [n, i]));
  services.sort((a, b) => (rank.get(a.annotations!.name) ?? 0) - (rank.get(b.annotations!.name) ?? 0));
  const dependsOn: StackSpecs['dependsOn'] = {};
  for (const s of l.project.services) {
    if (s.dependsOn.length) dependsOn[`${stack}_${s.name}`] = s.dependsOn.map((d) => ({ service: `${stack}_${d.name}`, condition: d.condition }));
  }
  return {
    services, networks: nets.specs, externalNetworks: nets.external,
    secrets: convertSecrets(l.project, ctx), configs: convertConfigs(l.project, ctx), order, dependsOn, warnings: ctx.warnings,
  };
}

/** The dry-run document: Control API specs as proto JSON. */
export function specsToJSON(s: StackSpecs): unknown {
  return {
    services: s.services.map((x) => ServiceSpec.toJSON(x)),
    networks: s.networks.map((x) => NetworkSpec.toJSON(x)),
    secrets: s.secrets.map((x) => SecretSpec.toJSON(x)),
    configs: s.configs.map((x) => ConfigSpec.toJSON(x)),
    order: s.order,
    dependsOn: s.dependsOn,
    warnings: s.warnings,
  };
}
