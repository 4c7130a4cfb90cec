// Resolve user references (name, id, id prefix) to objects through the Control API.
import { ListFilters, type Config, type Network, type Node, type Secret, type Service } from '@shoal/api';
import type { Control } from '../client.js';
import { pickOne } from './common.js';

const all = ListFilters.fromJSON({});

export async function findService(c: Control, ref: string): Promise<Service> {
  const { services } = await c.call('listServices', { filters: all, read: undefined });
  return pickOne('service', ref, services, (s) => s.spec?.annotations?.name ?? '');
}

export async function findNode(c: Control, ref: string): Promise<Node> {
  const { nodes } = await c.call('listNodes', { filters: all, roles: [], availabilities: [], read: undefined });
  return pickOne('node', ref, nodes, (n) => n.spec?.annotations?.name || n.description?.hostname || '');
}

export async function findNetwork(c: Control, ref: string): Promise<Network> {
  const { networks } = await c.call('listNetworks', { filters: all, read: undefined });
  return pickOne('network', ref, networks, (n) => n.spec?.annotations?.name ?? '');
}

export async function findSecret(c: Control, ref: string): Promise<Secret> {
  const { secrets } = await c.call('listSecrets', { filters: all, read: undefined });
  return pickOne('secret', ref, secrets, (n) => n.spec?.annotations?.name ?? '');
}

export async function findConfig(c: Control, ref: string): Promise<Config> {
  const { configs } = await c.call('listConfigs', { filters: all, read: undefined });
  return pickOne('config', ref, configs, (n) => n.spec?.annotations?.name ?? '');
}

export async function nodeNames(c: Control): Promise<Map<string, string>> {
  const { nodes } = await c.call('listNodes', { filters: all, roles: [], availabilities: [], read: undefined });
  return new Map(nodes.map((n) => [n.id, n.description?.hostname || n.spec?.annotations?.name || n.id]));
}
