// `stack deploy`: create or update a stack's objects through the Control API.
import { ConfigSpec, ListFilters, SecretSpec, ServiceSpec, type Service } from '@shoal/api';
import type { Control } from '../client.js';
import { NAMESPACE_LABEL, type StackSpecs } from '../compose/index.js';
import { CliError } from '../errors.js';
import { waitForDependencies, type Dependency } from './depends.js';
import { waitForServices } from './progress.js';

export interface DeployOptions {
  prune: boolean;
  detach: boolean;
  log: (line: string) => void;
}

const nsFilter = (stack: string): ListFilters => ListFilters.fromJSON({ labels: { [NAMESPACE_LABEL]: stack } });
const byName = (names: string[]): ListFilters => ListFilters.fromJSON({ names });
const nameOf = (x: { spec?: { annotations?: { name: string } | undefined } | undefined }): string => x.spec?.annotations?.name ?? '';
const sameLabels = (a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean => {
  const x = Object.entries(a ?? {}).sort();
  const y = Object.entries(b ?? {}).sort();
  return JSON.stringify(x) === JSON.stringify(y);
};

/** Comparable form of a spec: proto JSON with sorted keys. */
export function canonical(spec: ServiceSpec): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])])) : v;
  return JSON.stringify(sort(ServiceSpec.toJSON(spec)));
}

export async function deployStack(c: Control, stack: string, specs: StackSpecs, o: DeployOptions): Promise<void> {
  // networks: external ones must exist; the stack's own are created when missing
  const { networks: existingNets } = await c.call('listNetworks', { filters: ListFilters.fromJSON({}), read: undefined });
  const netIds = new Map(existingNets.map((n) => [nameOf(n), n.id]));
  for (const ext of specs.externalNetworks) {
    if (!netIds.has(ext)) throw new CliError(`network "${ext}" is declared as external, but could not be found; create it first (shoal network create ${ext})`);
  }
  for (const spec of specs.networks) {
    if (netIds.has(spec.annotations!.name)) continue;
    o.log(`Creating network ${spec.annotations!.name}`);
    netIds.set(spec.annotations!.name, (await c.call('createNetwork', { spec })).network!.id);
  }

  // secrets and configs: create, or update labels of existing ones (data cannot change)
  const secretIds = new Map<string, string>();
  const configIds = new Map<string, string>();
  const wantedSecrets = [...new Set(specs.services.flatMap((s) => s.task?.container?.secrets.map((r) => r.secretName) ?? []))];
  const wantedConfigs = [...new Set(specs.services.flatMap((s) => s.task?.container?.configs.map((r) => r.configName) ?? []))];
  const { secrets } = await c.call('listSecrets', { filters: byName(wantedSecrets), read: undefined });
  for (const x of secrets) secretIds.set(nameOf(x), x.id);
  for (const spec of specs.secrets) {
    const name = spec.annotations!.name;
    const have = secrets.find((x) => nameOf(x) === name);
    if (have && sameLabels(have.spec?.annotations?.labels, spec.annotations?.labels)) {
      secretIds.set(name, have.id);
    } else if (have) {
      o.log(`Updating secret ${name}`);
      const upd = SecretSpec.fromJSON(SecretSpec.toJSON(have.spec ?? SecretSpec.fromJSON({})));
      upd.annotations = spec.annotations;
      await c.call('updateSecret', { secretId: have.id, secretVersion: have.meta?.version ?? 0, spec: upd });
    } else {
      o.log(`Creating secret ${name}`);
      secretIds.set(name, (await c.call('createSecret', { spec })).secret!.id);
    }
  }
  const { configs } = await c.call('listConfigs', { filters: byName(wantedConfigs), read: undefined });
  for (const x of configs) configIds.set(nameOf(x), x.id);
  for (const spec of specs.configs) {
    const name = spec.annotations!.name;
    const have = configs.find((x) => nameOf(x) === name);
    if (have && sameLabels(have.spec?.annotations?.labels, spec.annotations?.labels)) {
      configIds.set(name, have.id);
    } else if (have) {
      o.log(`Updating config ${name}`);
      const upd = ConfigSpec.fromJSON(ConfigSpec.toJSON(have.spec ?? ConfigSpec.fromJSON({})));
      upd.annotations = spec.annotations;
      await c.call('updateConfig', { configId: have.id, configVersion: have.meta?.version ?? 0, spec: upd });
    } else {
      o.log(`Creating config ${name}`);
      configIds.set(name, (await c.call('createConfig', { spec })).config!.id);
    }
  }
  for (const n of wantedSecrets) if (!secretIds.has(n)) throw new CliError(`secret "${n}" not found (external secrets must be created first)`);
  for (const n of wantedConfigs) if (!configIds.has(n)) throw new CliError(`config "${n}" not found (external configs must be created first)`);

  // services, in depends_on order: create, or update only when the spec changed; unless detached,
  // a service is created or updated only once the services it depends on meet their condition
  const { services: existing } = await c.call('listServices', { filters: nsFilter(stack), read: undefined });
  const current = new Map<string, Service>(existing.map((s) => [nameOf(s), s]));
  const ids = new Map<string, string>(existing.map((s) => [nameOf(s), s.id]));
  const touched: string[] = [];
  if (o.prune) await pruneServices(c, specs, current, o);
  if (o.detach && Object.keys(specs.dependsOn).length) o.log('Detached: services are created in depends_on order without waiting for their dependencies');
  for (const spec of specs.services) {
    const container = spec.task!.container!;
    for (const r of container.secrets) r.secretId = secretIds.get(r.secretName) ?? '';
    for (const r of container.configs) r.configId = configIds.get(r.configName) ?? '';
    // the manager stores network attachments by id: compare and send them that way
    for (const n of spec.task!.networks) n.target = netIds.get(n.target) ?? n.target;
    const name = spec.annotations!.name;
    const have = current.get(name);
    const unchanged = have?.spec && canonical(have.spec) === canonical({ ...spec, task: { ...spec.task!, forceUpdate: have.spec.task?.forceUpdate ?? 0 } });
    if (unchanged) {
      o.log(`Service ${name} is up to date`);
      continue;
    }
    if (!o.detach) {
      const deps: Dependency[] = (specs.dependsOn[name] ?? []).map((d) => ({ id: ids.get(d.service) ?? '', name: d.service, condition: d.condition }));
      await waitForDependencies(c, name, deps.filter((d) => d.id), { log: o.log });
    }
    if (!have) {
      o.log(`Creating service ${name}`);
      const id = (await c.call('createService', { spec })).service!.id;
      ids.set(name, id);
      touched.push(id);
    } else {
      o.log(`Updating service ${name} (id: ${have.id})`);
      spec.task!.forceUpdate = have.spec?.task?.forceUpdate ?? 0;
      await c.call('updateService', { serviceId: have.id, serviceVersion: have.meta?.version ?? 0, spec });
      touched.push(have.id);
    }
  }
  if (o.prune) await pruneObjects(c, stack, specs, o);
  if (!o.detach) await waitForServices(c, touched, { failOnRollback: true });
}

/** --prune, first: remove the stack's services no longer in the files (as docker does, before the rest). */
async function pruneServices(c: Control, specs: StackSpecs, current: Map<string, Service>, o: DeployOptions): Promise<void> {
  const wanted = new Set(specs.services.map((s) => s.annotations!.name));
  for (const [name, s] of current) {
    if (wanted.has(name)) continue;
    o.log(`Removing service ${name}`);
    await c.call('removeService', { serviceId: s.id });
    current.delete(name);
  }
}

/** --prune, last (when no service uses them any more): the stack's secrets, configs and networks no longer in the files. */
async function pruneObjects(c: Control, stack: string, specs: StackSpecs, o: DeployOptions): Promise<void> {
  const f = { filters: nsFilter(stack), read: undefined };
  const keepSecrets = new Set(specs.secrets.map((x) => x.annotations!.name));
  for (const x of (await c.call('listSecrets', f)).secrets) {
    if (keepSecrets.has(nameOf(x))) continue;
    o.log(`Removing secret ${nameOf(x)}`);
    await c.call('removeSecret', { secretId: x.id });
  }
  const keepConfigs = new Set(specs.configs.map((x) => x.annotations!.name));
  for (const x of (await c.call('listConfigs', f)).configs) {
    if (keepConfigs.has(nameOf(x))) continue;
    o.log(`Removing config ${nameOf(x)}`);
    await c.call('removeConfig', { configId: x.id });
  }
  const keepNetworks = new Set(specs.networks.map((x) => x.annotations!.name));
  for (const x of (await c.call('listNetworks', f)).networks) {
    if (keepNetworks.has(nameOf(x))) continue;
    o.log(`Removing network ${nameOf(x)}`);
    await c.call('removeNetwork', { networkId: x.id });
  }
}
