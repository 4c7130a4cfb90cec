// Validation of network, secret, config, node and cluster specs (see validate.ts for services).
import {
  NodeAvailability,
  NodeRole,
  type ClusterSpec,
  type ConfigSpec,
  type NetworkSpec,
  type NodeSpec,
  type SecretSpec,
} from '@shoal/api';
import {
  checkAnnotationsLabels,
  checkCount,
  checkDuration,
  checkLabels,
  checkNetworkName,
  checkObjectName,
  cidrContains,
  cidrIsNetworkAddress,
  cidrOverlaps,
  cidrWithin,
  isEnumValue,
  Issues,
  parseCidr,
  throwIfInvalid,
  type Cidr,
  type FieldError,
} from './validate-util.js';

export const MAX_SECRET_BYTES = 500 * 1024;
export const MAX_CONFIG_BYTES = 1000 * 1024;
export const NETWORK_DRIVERS: readonly string[] = ['overlay'];

export function validateNetworkSpec(spec: NetworkSpec | undefined): FieldError[] {
  const issues = new Issues();
  if (!spec) {
    issues.add('spec', 'spec is required');
    return issues.list;
  }
  checkNetworkName(issues, 'annotations.name', spec.annotations?.name ?? '');
  checkAnnotationsLabels(issues, 'annotations', spec.annotations);
  const driver = spec.driver?.name ?? '';
  if (driver !== '' && !NETWORK_DRIVERS.includes(driver)) issues.add('driver.name', `unsupported network driver "${driver}" (supported: ${NETWORK_DRIVERS.join(', ')})`);
  if (spec.ingress && spec.attachable) issues.add('attachable', 'the ingress network cannot be attachable');
  if (spec.ingress && spec.internal) issues.add('internal', 'the ingress network cannot be internal');
  const ipamDriver = spec.ipam?.driver?.name ?? '';
  if (ipamDriver !== '' && ipamDriver !== 'default') issues.add('ipam.driver.name', `unsupported IPAM driver "${ipamDriver}" (supported: default)`);
  const subnets: Cidr[] = [];
  (spec.ipam?.configs ?? []).forEach((c, i) => {
    const f = `ipam.configs[${i}]`;
    const subnet = parseCidr(c.subnet);
    if (!subnet) {
      if (c.subnet === '') issues.add(`${f}.subnet`, 'subnet is required (e.g. 10.0.1.0/24)');
      else issues.add(`${f}.subnet`, `"${c.subnet}" is not a CIDR network (e.g. 10.0.1.0/24)`);
      return;
    }
    if (!cidrIsNetworkAddress(subnet)) issues.add(`${f}.subnet`, `"${c.subnet}" has host bits set`);
    if (subnet.family === 'ipv4' && subnet.bits > 29) issues.add(`${f}.subnet`, `"${c.subnet}" is too small (at most /29)`);
    if (subnet.family === 'ipv6' && !spec.ipv6) issues.add(`${f}.subnet`, `IPv6 subnet "${c.subnet}" on a network without ipv6 enabled`);
    const clash = subnets.findIndex((s) => cidrOverlaps(s, subnet));
    if (clash >= 0) issues.add(`${f}.subnet`, `"${c.subnet}" overlaps ipam.configs[${clash}].subnet`);
    subnets.push(subnet);
    if (c.range) {
      const range = parseCidr(c.range);
      if (!range) issues.add(`${f}.range`, `"${c.range}" is not a CIDR network`);
      else if (!cidrWithin(range, subnet)) issues.add(`${f}.range`, `"${c.range}" is not inside subnet ${c.subnet}`);
    }
    if (c.gateway && !cidrContains(subnet, c.gateway)) issues.add(`${f}.gateway`, `"${c.gateway}" is not an address inside subnet ${c.subnet}`);
  });
  return issues.list;
}

/** Subnets of other networks that a new network's subnets must not overlap. */
export function checkSubnetConflicts(spec: NetworkSpec, others: Iterable<{ name: string; subnets: string[] }>): FieldError[] {
  const issues = new Issues();
  const theirs: { name: string; cidr: Cidr }[] = [];
  for (const o of others) for (const s of o.subnets) {
    const c = parseCidr(s);
    if (c) theirs.push({ name: o.name, cidr: c });
  }
  (spec.ipam?.configs ?? []).forEach((c, i) => {
    const mine = parseCidr(c.subnet);
    if (!mine) return;
    const hit = theirs.find((t) => cidrOverlaps(t.cidr, mine));
    if (hit) issues.add(`ipam.configs[${i}].subnet`, `"${c.subnet}" overlaps a subnet of network "${hit.name}"`);
  });
  return issues.list;
}

export function validateSecretSpec(spec: SecretSpec | undefined): FieldError[] {
  const issues = new Issues();
  if (!spec) {
    issues.add('spec', 'spec is required');
    return issues.list;
  }
  checkObjectName(issues, 'annotations.name', spec.annotations?.name ?? '', 'secret');
  checkAnnotationsLabels(issues, 'annotations', spec.annotations);
  const external = (spec.driver?.name ?? '') !== '';
  if (spec.data.length === 0 && !external) issues.add('data', 'secret data is required');
  if (spec.data.length > 0 && external) issues.add('data', 'a secret with a driver takes no data');
  if (spec.data.length > MAX_SECRET_BYTES) issues.add('data', `secret data is ${spec.data.length} bytes, more than the ${MAX_SECRET_BYTES} (500 KiB) allowed`);
  return issues.list;
}

export function validateConfigSpec(spec: ConfigSpec | undefined): FieldError[] {
  const issues = new Issues();
  if (!spec) {
    issues.add('spec', 'spec is required');
    return issues.list;
  }
  checkObjectName(issues, 'annotations.name', spec.annotations?.name ?? '', 'config');
  checkAnnotationsLabels(issues, 'annotations', spec.annotations);
  if (spec.data.length === 0) issues.add('data', 'config data is required');
  if (spec.data.length > MAX_CONFIG_BYTES) issues.add('data', `config data is ${spec.data.length} bytes, more than the ${MAX_CONFIG_BYTES} (1000 KiB) allowed`);
  return issues.list;
}

/** Secrets and configs are immutable except for their labels. */
export function validateDataUnchanged(prev: { annotations?: { name: string } | undefined; data: Buffer }, next: { annotations?: { name: string } | undefined; data: Buffer }): FieldError[] {
  const issues = new Issues();
  if ((prev.annotations?.name ?? '') !== (next.annotations?.name ?? '')) issues.add('annotations.name', 'only labels can be updated');
  if (next.data.length > 0 && !prev.data.equals(next.data)) issues.add('data', 'only labels can be updated; create a new object to change the data');
  return issues.list;
}

export function validateNodeSpec(spec: NodeSpec | undefined): FieldError[] {
  const issues = new Issues();
  if (!spec) {
    issues.add('spec', 'spec is required');
    return issues.list;
  }
  checkAnnotationsLabels(issues, 'annotations', spec.annotations);
  if (!isEnumValue(NodeRole, spec.desiredRole)) issues.add('desired_role', `unknown role ${spec.desiredRole}`);
  if (!isEnumValue(NodeAvailability, spec.availability)) issues.add('availability', `unknown availability ${spec.availability}`);
  return issues.list;
}

export function validateClusterSpec(spec: ClusterSpec | undefined): FieldError[] {
  const issues = new Issues();
  if (!spec) {
    issues.add('spec', 'spec is required');
    return issues.list;
  }
  checkLabels(issues, 'annotations.labels', spec.annotations?.labels);
  if (spec.orchestration) {
    const n = spec.orchestration.taskHistoryRetentionLimit;
    if (!Number.isInteger(n) || n < 0) issues.add('orchestration.task_history_retention_limit', `must be a non-negative integer (got ${n})`);
  }
  if (spec.raft) {
    const r = spec.raft;
    checkCount(issues, 'raft.snapshot_interval', r.snapshotInterval);
    checkCount(issues, 'raft.log_entries_for_slow_followers', r.logEntriesForSlowFollowers);
    if (r.electionTick !== 0 && r.heartbeatTick !== 0 && r.electionTick <= r.heartbeatTick) issues.add('raft.election_tick', 'must be greater than heartbeat_tick');
  }
  if (spec.dispatcher?.heartbeatPeriod) checkDuration(issues, 'dispatcher.heartbeat_period', spec.dispatcher.heartbeatPeriod, { minMs: 100 });
  if (spec.ca?.nodeCertExpiry) checkDuration(issues, 'ca.node_cert_expiry', spec.ca.nodeCertExpiry, { minMs: 3_600_000 });
  if (spec.taskLogDriver && spec.taskLogDriver.name === '') issues.add('task_log_driver.name', 'log driver name is required when a log driver is set');
  return issues.list;
}

export const assertNetworkSpec = (s: NetworkSpec | undefined): void => throwIfInvalid(validateNetworkSpec(s));
export const assertSecretSpec = (s: SecretSpec | undefined): void => throwIfInvalid(validateSecretSpec(s));
export const assertConfigSpec = (s: ConfigSpec | undefined): void => throwIfInvalid(validateConfigSpec(s));
export const assertNodeSpec = (s: NodeSpec | undefined): void => throwIfInvalid(validateNodeSpec(s));
export const assertClusterSpec = (s: ClusterSpec | undefined): void => throwIfInvalid(validateClusterSpec(s));
