// Maps the wire TaskSpec/ContainerSpec (protobuf) to the runtime's TaskContainerSpec.
import { durationMs, MountType, ShoalError, type ContainerSpec, type Mount, type Task } from '@shoal/api';
import type { MountSpec, RegistryAuth, TaskContainerSpec } from '@shoal/runtime';

/** Label keys with this prefix are reserved for the runtime's own labels. */
const RESERVED_LABEL_PREFIX = 'io.shoal.';

export function containerSpecOf(task: Task): ContainerSpec {
  const c = task.spec?.container;
  if (!c) throw new ShoalError('InvalidArgument', `task ${task.id} has no container spec`, { field: 'spec.container' });
  if (!c.image) throw new ShoalError('InvalidArgument', `task ${task.id} has no image`, { field: 'spec.container.image' });
  return c;
}

export function mapMount(m: Mount, index: number, taskId: string): MountSpec {
  if (!m.target) throw new ShoalError('InvalidArgument', `mount ${index} has no target`, { field: `spec.container.mounts[${index}].target` });
  switch (m.type) {
    case MountType.BIND:
      if (!m.source) throw new ShoalError('InvalidArgument', `bind mount ${index} has no source`, { field: `spec.container.mounts[${index}].source` });
      return { type: 'bind', source: m.source, target: m.target, ...(m.readOnly ? { readOnly: true } : {}) };
    case MountType.VOLUME:
      // An anonymous volume lives as long as its task.
      return { type: 'volume', name: m.source || `anon-${taskId}-${index}`, target: m.target, ...(m.readOnly ? { readOnly: true } : {}) };
    case MountType.TMPFS:
      return { type: 'tmpfs', target: m.target, ...(m.tmpfsSizeBytes > 0 ? { sizeBytes: m.tmpfsSizeBytes } : {}) };
    default:
      throw new ShoalError('InvalidArgument', `mount ${index} has unknown type ${String(m.type)}`, { field: `spec.container.mounts[${index}].type` });
  }
}

/** "IP host1 host2" (the wire format) -> ["IP host1", "IP host2"] (accepted by the runtime). */
export function mapHosts(lines: string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const [ip, ...names] = line.trim().split(/\s+/);
    if (!ip) continue;
    if (names.length === 0) throw new ShoalError('InvalidArgument', `hosts entry "${line}" needs "IP HOSTNAME"`, { field: 'spec.container.hosts' });
    for (const n of names) out.push(`${ip} ${n}`);
  }
  return out;
}

/** The runtime spec of `task` on node `nodeId`. Throws InvalidArgument for a spec it cannot run. */
export function toTaskContainerSpec(task: Task, nodeId: string): TaskContainerSpec {
  const c = containerSpecOf(task);
  const spec: TaskContainerSpec = {
    taskId: task.id,
    serviceId: task.serviceId,
    serviceName: task.serviceAnnotations?.name ?? '',
    slot: task.slot,
    nodeId: task.nodeId || nodeId,
    image: c.image,
  };
  if (c.command.length) spec.command = [...c.command];
  if (c.args.length) spec.args = [...c.args];
  if (c.env.length) spec.env = [...c.env];
  if (c.dir) spec.dir = c.dir;
  if (c.user) spec.user = c.user;
  if (c.groups.length) spec.groups = [...c.groups];
  if (c.hostname) spec.hostname = c.hostname;
  const labels = Object.entries(c.labels).filter(([k]) => !k.startsWith(RESERVED_LABEL_PREFIX));
  if (labels.length) spec.labels = Object.fromEntries(labels);
  if (c.mounts.length) spec.mounts = c.mounts.map((m, i) => mapMount(m, i, task.id));
  if (c.stopSignal) spec.stopSignal = c.stopSignal;
  if (c.stopGracePeriod) spec.stopGraceMs = durationMs(c.stopGracePeriod);
  if (c.readOnly) spec.readOnly = true;
  if (c.init !== undefined) spec.init = c.init;
  if (Object.keys(c.sysctls).length) spec.sysctls = { ...c.sysctls };
  if (c.capabilityAdd.length) spec.capAdd = [...c.capabilityAdd];
  if (c.capabilityDrop.length) spec.capDrop = [...c.capabilityDrop];
  if (c.ulimits.length) spec.ulimits = c.ulimits.map((u) => ({ name: u.name.toLowerCase().replace(/^rlimit_/, ''), soft: u.soft, hard: u.hard }));
  if (c.tty) spec.tty = true;
  if (c.openStdin) spec.stdin = true;
  const lim = task.spec?.resources?.limits;
  if (lim && (lim.nanoCpus > 0 || lim.memoryBytes > 0 || lim.pids > 0)) {
    spec.resources = {};
    if (lim.nanoCpus > 0) spec.resources.nanoCpus = lim.nanoCpus;
    if (lim.memoryBytes > 0) spec.resources.memoryBytes = lim.memoryBytes;
    if (lim.pids > 0) spec.resources.pids = lim.pids;
  }
  const d = c.dnsConfig;
  if (d && (d.nameservers.length || d.search.length || d.options.length)) {
    spec.dns = {};
    if (d.nameservers.length) spec.dns.servers = [...d.nameservers];
    if (d.search.length) spec.dns.searches = [...d.search];
    if (d.options.length) spec.dns.options = [...d.options];
  }
  if (c.hosts.length) spec.extraHosts = mapHosts(c.hosts);
  return spec;
}

/** Stop options of a task: the spec's signal and grace period (runtime defaults otherwise). */
export function stopOptionsOf(task: Task | undefined): { signal?: string; graceMs?: number } {
  const c = task?.spec?.container;
  const out: { signal?: string; graceMs?: number } = {};
  if (c?.stopSignal) out.signal = c.stopSignal;
  if (c?.stopGracePeriod) out.graceMs = durationMs(c.stopGracePeriod);
  return out;
}

/**
 * Registry credentials of a container spec for the image pull: `registry_auth` is Docker's
 * X-Registry-Auth encoding, base64url (or base64) of a JSON AuthConfig
 * ({"username","password","auth","serveraddress","identitytoken","registrytoken"}, any key case).
 * Empty -> undefined (anonymous pull); anything else that does not decode is InvalidArgument.
 */
export function registryAuthOf(c: ContainerSpec | undefined): RegistryAuth | undefined {
  const raw = c?.registryAuth?.trim();
  if (!raw) return undefined;
  const bad = (why: string): ShoalError => new ShoalError('InvalidArgument', `registry_auth: ${why} (want base64 of a JSON AuthConfig)`, { field: 'spec.container.registryAuth' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw bad('not base64 JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw bad('not a JSON object');
  const fields: Record<string, keyof RegistryAuth> = {
    username: 'username', password: 'password', auth: 'auth', serveraddress: 'serverAddress',
    identitytoken: 'identityToken', registrytoken: 'registryToken',
  };
  const out: RegistryAuth = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    const f = fields[k.toLowerCase().replace(/_/g, '')];
    if (f && typeof v === 'string' && v) out[f] = v;
  }
  if (!out.username && !out.auth && !out.identityToken && !out.registryToken) throw bad('no credentials in it');
  return out;
}
