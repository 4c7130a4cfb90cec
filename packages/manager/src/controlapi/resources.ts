// Control API: networks, secrets and configs.
import {
  ShoalError,
  type Config,
  type CreateConfigRequest,
  type CreateConfigResponse,
  type CreateNetworkRequest,
  type CreateNetworkResponse,
  type CreateSecretRequest,
  type CreateSecretResponse,
  type GetConfigRequest,
  type GetConfigResponse,
  type GetNetworkRequest,
  type GetNetworkResponse,
  type GetSecretRequest,
  type GetSecretResponse,
  type ListConfigsRequest,
  type ListConfigsResponse,
  type ListNetworksRequest,
  type ListNetworksResponse,
  type ListSecretsRequest,
  type ListSecretsResponse,
  type Network,
  type RemoveConfigRequest,
  type RemoveConfigResponse,
  type RemoveNetworkRequest,
  type RemoveNetworkResponse,
  type RemoveSecretRequest,
  type RemoveSecretResponse,
  type Secret,
  type UpdateConfigRequest,
  type UpdateConfigResponse,
  type UpdateSecretRequest,
  type UpdateSecretResponse,
} from '@shoal/api';
import { annotated, matchFilters } from './filters.js';
import { notFound, read, requireId, type ControlDeps } from './deps.js';
import { assertConfigSpec, assertNetworkSpec, assertSecretSpec, checkSubnetConflicts, validateDataUnchanged } from './validate-specs.js';
import { throwIfInvalid } from './validate-util.js';
import type { ReadTx } from '../state/state.js';

const nameOf = (o: { spec?: { annotations?: { name: string } | undefined } | undefined }): string => o.spec?.annotations?.name ?? '';

/** Secrets never leave the API with their data. */
export function redactSecret(s: Secret): Secret {
  return { ...s, spec: s.spec ? { ...s.spec, data: Buffer.alloc(0) } : undefined };
}

function servicesUsing(tx: ReadTx, pred: (spec: NonNullable<import('@shoal/api').Service['spec']>) => boolean): string[] {
  return tx
    .all('services')
    .filter((s) => s.spec && pred(s.spec))
    .map((s) => nameOf(s) || s.id);
}

// ---------------------------------------------------------------- networks

export async function createNetwork(d: ControlDeps, req: CreateNetworkRequest): Promise<CreateNetworkResponse> {
  assertNetworkSpec(req.spec);
  const spec = req.spec!;
  const network = await d.state.update((tx) => {
    const all = tx.all('networks');
    if (all.some((n) => nameOf(n) === nameOf({ spec }))) throw new ShoalError('AlreadyExists', `network "${nameOf({ spec })}" already exists`);
    if (spec.ingress && all.some((n) => n.spec?.ingress)) throw new ShoalError('AlreadyExists', 'an ingress network already exists');
    const others = all.map((n) => ({ name: nameOf(n), subnets: [...(n.spec?.ipam?.configs ?? []), ...(n.ipam?.configs ?? [])].map((c) => c.subnet) }));
    throwIfInvalid(checkSubnetConflicts(spec, others));
    const n: Network = { id: d.newId(), spec, pendingDelete: false };
    tx.create('networks', n);
    return tx.get('networks', n.id)!;
  });
  d.log.info('network created', { networkId: network.id, name: nameOf(network) });
  return { network };
}

export async function getNetwork(d: ControlDeps, req: GetNetworkRequest): Promise<GetNetworkResponse> {
  requireId('network_id', req.networkId);
  const network = await read(d, req.read, (tx) => tx.get('networks', req.networkId));
  if (!network) throw notFound('network', req.networkId);
  return { network };
}

export async function listNetworks(d: ControlDeps, req: ListNetworksRequest): Promise<ListNetworksResponse> {
  const networks = await read(d, req.read, (tx) => tx.all('networks').filter((n) => matchFilters(annotated(n), req.filters)));
  return { networks };
}

export async function removeNetwork(d: ControlDeps, req: RemoveNetworkRequest): Promise<RemoveNetworkResponse> {
  requireId('network_id', req.networkId);
  await d.state.update((tx) => {
    const n = tx.get('networks', req.networkId);
    if (!n) throw notFound('network', req.networkId);
    const users = servicesUsing(tx, (s) => (s.task?.networks ?? []).some((a) => a.target === n.id || a.target === nameOf(n)));
    if (users.length > 0) throw new ShoalError('FailedPrecondition', `network "${nameOf(n)}" is in use by service(s) ${users.join(', ')}`);
    tx.delete('networks', n.id);
  });
  return {};
}

// ---------------------------------------------------------------- secrets

export async function createSecret(d: ControlDeps, req: CreateSecretRequest): Promise<CreateSecretResponse> {
  assertSecretSpec(req.spec);
  const spec = req.spec!;
  const secret = await d.state.update((tx) => {
    if (tx.all('secrets').some((s) => nameOf(s) === nameOf({ spec }))) throw new ShoalError('AlreadyExists', `secret "${nameOf({ spec })}" already exists`);
    const s: Secret = { id: d.newId(), spec, internal: false };
    tx.create('secrets', s);
    return tx.get('secrets', s.id)!;
  });
  d.log.info('secret created', { secretId: secret.id, name: nameOf(secret) });
  return { secret: redactSecret(secret) };
}

export async function getSecret(d: ControlDeps, req: GetSecretRequest): Promise<GetSecretResponse> {
  requireId('secret_id', req.secretId);
  const s = await read(d, req.read, (tx) => tx.get('secrets', req.secretId));
  if (!s || s.internal) throw notFound('secret', req.secretId);
  return { secret: redactSecret(s) };
}

export async function listSecrets(d: ControlDeps, req: ListSecretsRequest): Promise<ListSecretsResponse> {
  const secrets = await read(d, req.read, (tx) => tx.all('secrets').filter((s) => !s.internal && matchFilters(annotated(s), req.filters)));
  return { secrets: secrets.map(redactSecret) };
}

export async function updateSecret(d: ControlDeps, req: UpdateSecretRequest): Promise<UpdateSecretResponse> {
  requireId('secret_id', req.secretId);
  if (!req.spec) throw new ShoalError('InvalidArgument', 'invalid spec: spec is required', { field: 'spec' });
  const secret = await d.state.update((tx) => {
    const cur = tx.get('secrets', req.secretId);
    if (!cur || cur.internal) throw notFound('secret', req.secretId);
    throwIfInvalid(validateDataUnchanged(cur.spec!, req.spec!));
    const next: Secret = { ...cur, meta: { ...cur.meta, version: req.secretVersion }, spec: { ...cur.spec!, annotations: { name: nameOf(cur), labels: req.spec!.annotations?.labels ?? {} } } };
    tx.update('secrets', next);
    return tx.get('secrets', cur.id)!;
  });
  return { secret: redactSecret(secret) };
}

export async function removeSecret(d: ControlDeps, req: RemoveSecretRequest): Promise<RemoveSecretResponse> {
  requireId('secret_id', req.secretId);
  await d.state.update((tx) => {
    const s = tx.get('secrets', req.secretId);
    if (!s || s.internal) throw notFound('secret', req.secretId);
    const users = servicesUsing(tx, (spec) => (spec.task?.container?.secrets ?? []).some((r) => r.secretId === s.id || (!r.secretId && r.secretName === nameOf(s))));
    if (users.length > 0) throw new ShoalError('FailedPrecondition', `secret "${nameOf(s)}" is in use by service(s) ${users.join(', ')}`);
    tx.delete('secrets', s.id);
  });
  return {};
}

// ---------------------------------------------------------------- configs

export async function createConfig(d: ControlDeps, req: CreateConfigRequest): Promise<CreateConfigResponse> {
  assertConfigSpec(req.spec);
  const spec = req.spec!;
  const config = await d.state.update((tx) => {
    if (tx.all('configs').some((c) => nameOf(c) === nameOf({ spec }))) throw new ShoalError('AlreadyExists', `config "${nameOf({ spec })}" already exists`);
    const c: Config = { id: d.newId(), spec };
    tx.create('configs', c);
    return tx.get('configs', c.id)!;
  });
  d.log.info('config created', { configId: config.id, name: nameOf(config) });
  return { config };
}

export async function getConfig(d: ControlDeps, req: GetConfigRequest): Promise<GetConfigResponse> {
  requireId('config_id', req.configId);
  const config = await read(d, req.read, (tx) => tx.get('configs', req.configId));
  if (!config) throw notFound('config', req.configId);
  return { config };
}

export async function listConfigs(d: ControlDeps, req: ListConfigsRequest): Promise<ListConfigsResponse> {
  const configs = await read(d, req.read, (tx) => tx.all('configs').filter((c) => matchFilters(annotated(c), req.filters)));
  return { configs };
}

export async function updateConfig(d: ControlDeps, req: UpdateConfigRequest): Promise<UpdateConfigResponse> {
  requireId('config_id', req.configId);
  if (!req.spec) throw new ShoalError('InvalidArgument', 'invalid spec: spec is required', { field: 'spec' });
  const config = await d.state.update((tx) => {
    const cur = tx.get('configs', req.configId);
    if (!cur) throw notFound('config', req.configId);
    throwIfInvalid(validateDataUnchanged(cur.spec!, req.spec!));
    const next: Config = { ...cur, meta: { ...cur.meta, version: req.configVersion }, spec: { ...cur.spec!, annotations: { name: nameOf(cur), labels: req.spec!.annotations?.labels ?? {} } } };
    tx.update('configs', next);
    return tx.get('configs', cur.id)!;
  });
  return { config };
}

export async function removeConfig(d: ControlDeps, req: RemoveConfigRequest): Promise<RemoveConfigResponse> {
  requireId('config_id', req.configId);
  await d.state.update((tx) => {
    const c = tx.get('configs', req.configId);
    if (!c) throw notFound('config', req.configId);
    const users = servicesUsing(tx, (spec) => (spec.task?.container?.configs ?? []).some((r) => r.configId === c.id || (!r.configId && r.configName === nameOf(c))));
    if (users.length > 0) throw new ShoalError('FailedPrecondition', `config "${nameOf(c)}" is in use by service(s) ${users.join(', ')}`);
    tx.delete('configs', c.id);
  });
  return {};
}
