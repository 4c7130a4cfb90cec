// Validation of service specs at the edge of the Control API. Pure: every function takes the
// spec (and, for references, a lookup) and returns field errors with paths relative to the spec
// (e.g. "task.container.image", "endpoint.ports[1].published_port"); assert*() throws the
// InvalidArgument ShoalError the Control API returns.
// Placement constraints are parsed with the scheduler's parser, so that what the API accepts is
// exactly what the scheduler understands.
import { isIP } from 'node:net';
import {
  MountType,
  PublishMode,
  ResolutionMode,
  PortProtocol,
  UpdateFailureAction,
  UpdateOrder,
  RestartCondition,
  type ContainerSpec,
  type EndpointSpec,
  type Resources,
  type ResourceRequirements,
  type Service,
  type ServiceSpec,
  type TaskSpec,
  type UpdateConfig,
} from '@shoal/api';
import { parseConstraint, parseSpreadDescriptor } from '../scheduler/constraint.js';
import { checkAnnotationsLabels, checkCount, checkDuration, checkLabels, checkServiceName, isEnumValue, Issues, throwIfInvalid, type FieldError } from './validate-util.js';

export * from './validate-util.js';
export * from './validate-specs.js';

/** What a service spec may refer to; the Control API answers from its store view. */
export interface SpecRefs {
  /** by id or name */
  network(target: string): { id: string; name: string; ingress: boolean } | undefined;
  secret(idOrName: string): { id: string; name: string } | undefined;
  config(idOrName: string): { id: string; name: string } | undefined;
}

const MAX_REPLICAS = 1_000_000;

export function validateServiceSpec(spec: ServiceSpec | undefined, refs?: SpecRefs): FieldError[] {
  const issues = new Issues();
  if (!spec) {
    issues.add('spec', 'spec is required');
    return issues.list;
  }
  checkServiceName(issues, 'annotations.name', spec.annotations?.name ?? '');
  checkAnnotationsLabels(issues, 'annotations', spec.annotations);
  checkMode(issues, spec);
  checkTaskSpec(issues, 'task', spec.task, refs);
  if (spec.update) checkUpdateConfig(issues, 'update', spec.update);
  if (spec.rollback) checkUpdateConfig(issues, 'rollback', spec.rollback);
  if (spec.endpoint) checkEndpoint(issues, 'endpoint', spec.endpoint);
  return issues.list;
}

/** Throws InvalidArgument naming the first offending field of the spec. */
export function assertServiceSpec(spec: ServiceSpec | undefined, refs?: SpecRefs): void {
  throwIfInvalid(validateServiceSpec(spec, refs));
}

function checkMode(issues: Issues, spec: ServiceSpec): void {
  const mode = spec.mode;
  if (!mode) return issues.add('mode', 'service mode is required (replicated, global, replicated_job or global_job)');
  switch (mode.$case) {
    case 'replicated':
      checkCount(issues, 'mode.replicated.replicas', mode.replicated.replicas, MAX_REPLICAS);
      break;
    case 'global':
      break;
    case 'replicatedJob':
      checkCount(issues, 'mode.replicated_job.max_concurrent', mode.replicatedJob.maxConcurrent, MAX_REPLICAS);
      checkCount(issues, 'mode.replicated_job.total_completions', mode.replicatedJob.totalCompletions, MAX_REPLICAS);
      break;
    case 'globalJob':
      break;
    default:
      issues.add('mode', 'unknown service mode');
  }
  if ((mode.$case === 'replicatedJob' || mode.$case === 'globalJob') && spec.update) {
    issues.add('update', 'jobs cannot have an update config');
  }
}

// ---------------------------------------------------------------- task

export function checkTaskSpec(issues: Issues, field: string, task: TaskSpec | undefined, refs?: SpecRefs): void {
  if (!task) return issues.add(field, 'task spec is required');
  checkContainer(issues, `${field}.container`, task.container, refs);
  if (task.resources) checkResourceRequirements(issues, `${field}.resources`, task.resources);
  const r = task.restart;
  if (r) {
    if (!isEnumValue(RestartCondition, r.condition)) issues.add(`${field}.restart.condition`, `unknown restart condition ${r.condition}`);
    checkDuration(issues, `${field}.restart.delay`, r.delay);
    checkDuration(issues, `${field}.restart.window`, r.window);
    checkCount(issues, `${field}.restart.max_attempts`, r.maxAttempts);
  }
  const p = task.placement;
  if (p) {
    p.constraints.forEach((c, i) => {
      try {
        parseConstraint(c);
      } catch (err) {
        issues.add(`${field}.placement.constraints[${i}]`, (err as Error).message);
      }
    });
    p.preferences.forEach((pref, i) => {
      const f = `${field}.placement.preferences[${i}].spread_descriptor`;
      try {
        parseSpreadDescriptor(pref.spreadDescriptor, f);
      } catch (err) {
        issues.add(f, (err as Error).message.replace(/^invalid [^:]*: /, ''));
      }
    });
    checkCount(issues, `${field}.placement.max_replicas`, p.maxReplicas);
    p.platforms.forEach((pl, i) => {
      if (!pl.os && pl.architecture) issues.add(`${field}.placement.platforms[${i}].os`, 'os is required when architecture is set');
    });
  }
  if (task.logDriver && task.logDriver.name === '') issues.add(`${field}.log_driver.name`, 'log driver name is required when a log driver is set');
  const seen = new Set<string>();
  task.networks.forEach((n, i) => {
    const f = `${field}.networks[${i}].target`;
    if (n.target === '') return issues.add(f, 'network target is required');
    if (refs) {
      const net = refs.network(n.target);
      if (!net) return issues.add(f, `network "${n.target}" not found`);
      if (net.ingress) return issues.add(f, `service cannot be attached to the ingress network "${net.name}" explicitly`);
      if (seen.has(net.id)) return issues.add(f, `network "${n.target}" is attached more than once`);
      seen.add(net.id);
    } else if (seen.has(n.target)) {
      issues.add(f, `network "${n.target}" is attached more than once`);
    } else seen.add(n.target);
    n.addresses.forEach((a, j) => {
      const ip = a.split('/')[0] ?? '';
      if (isIP(ip) === 0) issues.add(`${field}.networks[${i}].addresses[${j}]`, `"${a}" is not an IP address`);
    });
  });
  checkCount(issues, `${field}.force_update`, task.forceUpdate);
}

function checkContainer(issues: Issues, field: string, c: ContainerSpec | undefined, refs?: SpecRefs): void {
  if (!c) return issues.add(field, 'container spec is required');
  if (c.image.trim() === '') issues.add(`${field}.image`, 'image is required');
  else if (/\s/.test(c.image)) issues.add(`${field}.image`, `image reference "${c.image}" contains whitespace`);
  checkLabels(issues, `${field}.labels`, c.labels);
  c.env.forEach((e, i) => {
    if (e === '' || e.startsWith('=')) issues.add(`${field}.env[${i}]`, `"${e}" is not KEY=VALUE`);
  });
  if (c.dir && !c.dir.startsWith('/')) issues.add(`${field}.dir`, `working directory "${c.dir}" must be an absolute path`);
  checkDuration(issues, `${field}.stop_grace_period`, c.stopGracePeriod);
  const targets = new Set<string>();
  c.mounts.forEach((m, i) => {
    const f = `${field}.mounts[${i}]`;
    if (!m.target.startsWith('/')) issues.add(`${f}.target`, `target "${m.target}" must be an absolute path`);
    else if (targets.has(m.target)) issues.add(`${f}.target`, `duplicate mount target "${m.target}"`);
    targets.add(m.target);
    switch (m.type) {
      case MountType.BIND:
        if (!m.source.startsWith('/')) issues.add(`${f}.source`, `bind source "${m.source}" must be an absolute host path`);
        if (m.propagation && !['rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave'].includes(m.propagation)) {
          issues.add(`${f}.propagation`, `unknown propagation "${m.propagation}"`);
        }
        break;
      case MountType.VOLUME:
        if (m.source.includes('/')) issues.add(`${f}.source`, `volume name "${m.source}" must not contain "/"`);
        break;
      case MountType.TMPFS:
        if (m.source) issues.add(`${f}.source`, 'tmpfs mounts take no source');
        if (m.tmpfsSizeBytes < 0) issues.add(`${f}.tmpfs_size_bytes`, 'must not be negative');
        break;
      default:
        issues.add(`${f}.type`, `unknown mount type ${m.type}`);
    }
  });
  const h = c.healthcheck;
  if (h) {
    const kind = h.test[0];
    if (kind !== undefined && !['NONE', 'CMD', 'CMD-SHELL'].includes(kind)) issues.add(`${field}.healthcheck.test[0]`, `must be NONE, CMD or CMD-SHELL (got "${kind}")`);
    if ((kind === 'CMD' || kind === 'CMD-SHELL') && h.test.length < 2) issues.add(`${field}.healthcheck.test`, `${kind} needs a command`);
    checkDuration(issues, `${field}.healthcheck.interval`, h.interval, isZero(h.interval) ? {} : { minMs: 1 });
    checkDuration(issues, `${field}.healthcheck.timeout`, h.timeout, isZero(h.timeout) ? {} : { minMs: 1 });
    checkDuration(issues, `${field}.healthcheck.start_period`, h.startPeriod);
    if (!Number.isInteger(h.retries) || h.retries < 0) issues.add(`${field}.healthcheck.retries`, 'must be a non-negative integer');
  }
  c.ulimits.forEach((u, i) => {
    if (!u.name) issues.add(`${field}.ulimits[${i}].name`, 'ulimit name is required');
    if (u.soft > u.hard) issues.add(`${field}.ulimits[${i}].soft`, `soft limit ${u.soft} exceeds hard limit ${u.hard}`);
  });
  c.hosts.forEach((line, i) => {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 2 || isIP(parts[0] ?? '') === 0) issues.add(`${field}.hosts[${i}]`, `"${line}" is not "IP HOSTNAME"`);
  });
  c.dnsConfig?.nameservers.forEach((ns, i) => {
    if (isIP(ns) === 0) issues.add(`${field}.dns_config.nameservers[${i}]`, `"${ns}" is not an IP address`);
  });
  checkFileRefs(issues, `${field}.secrets`, 'secret', c.secrets.map((s) => ({ id: s.secretId, name: s.secretName, file: s.file?.name })), refs && ((x) => refs.secret(x)));
  checkFileRefs(issues, `${field}.configs`, 'config', c.configs.map((s) => ({ id: s.configId, name: s.configName, file: s.file?.name })), refs && ((x) => refs.config(x)));
}

function isZero(d: { seconds: number; nanos: number } | undefined): boolean {
  return !d || (d.seconds === 0 && d.nanos === 0);
}

function checkFileRefs(
  issues: Issues,
  field: string,
  what: string,
  list: { id: string; name: string; file: string | undefined }[],
  lookup: ((idOrName: string) => { id: string; name: string } | undefined) | undefined,
): void {
  const files = new Set<string>();
  list.forEach((r, i) => {
    const f = `${field}[${i}]`;
    if (!r.id && !r.name) return issues.add(f, `${what} reference needs ${what}_id or ${what}_name`);
    if (lookup) {
      const obj = lookup(r.id || r.name);
      if (!obj) return issues.add(r.id ? `${f}.${what}_id` : `${f}.${what}_name`, `${what} "${r.id || r.name}" not found`);
      if (r.id && r.name && obj.name !== r.name) issues.add(`${f}.${what}_name`, `${what} ${r.id} is named "${obj.name}", not "${r.name}"`);
    }
    const target = r.file || r.name;
    if (target) {
      if (files.has(target)) issues.add(`${f}.file.name`, `file target "${target}" is used by more than one ${what}`);
      files.add(target);
    }
  });
}

// ---------------------------------------------------------------- resources

export function checkResourceRequirements(issues: Issues, field: string, r: ResourceRequirements): void {
  if (r.limits) checkResources(issues, `${field}.limits`, r.limits);
  if (r.reservations) {
    checkResources(issues, `${field}.reservations`, r.reservations);
    if (r.reservations.pids !== 0) issues.add(`${field}.reservations.pids`, 'pids can only be limited, not reserved');
  }
  const l = r.limits;
  const s = r.reservations;
  if (l && s) {
    if (l.nanoCpus > 0 && s.nanoCpus > l.nanoCpus) issues.add(`${field}.reservations.nano_cpus`, `reservation ${s.nanoCpus} exceeds limit ${l.nanoCpus}`);
    if (l.memoryBytes > 0 && s.memoryBytes > l.memoryBytes) issues.add(`${field}.reservations.memory_bytes`, `reservation ${s.memoryBytes} exceeds limit ${l.memoryBytes}`);
  }
}

function checkResources(issues: Issues, field: string, r: Resources): void {
  if (r.nanoCpus < 0) issues.add(`${field}.nano_cpus`, 'must not be negative');
  if (r.memoryBytes < 0) issues.add(`${field}.memory_bytes`, 'must not be negative');
  else if (r.memoryBytes > 0 && r.memoryBytes < 6 * 1024 * 1024 && field.endsWith('limits')) issues.add(`${field}.memory_bytes`, 'memory limit must be at least 6 MiB');
  if (r.pids < 0) issues.add(`${field}.pids`, 'must not be negative');
}

// ---------------------------------------------------------------- update config and endpoint

export function checkUpdateConfig(issues: Issues, field: string, u: UpdateConfig): void {
  checkCount(issues, `${field}.parallelism`, u.parallelism);
  checkDuration(issues, `${field}.delay`, u.delay);
  checkDuration(issues, `${field}.monitor`, u.monitor);
  if (!Number.isFinite(u.maxFailureRatio) || u.maxFailureRatio < 0 || u.maxFailureRatio > 1) {
    issues.add(`${field}.max_failure_ratio`, `must be between 0 and 1 (got ${u.maxFailureRatio})`);
  }
  if (!isEnumValue(UpdateFailureAction, u.failureAction)) issues.add(`${field}.failure_action`, `unknown failure action ${u.failureAction}`);
  if (field === 'rollback' && u.failureAction === UpdateFailureAction.ROLLBACK_ON_FAILURE) {
    issues.add(`${field}.failure_action`, 'a rollback cannot roll back on failure');
  }
  if (!isEnumValue(UpdateOrder, u.order)) issues.add(`${field}.order`, `unknown update order ${u.order}`);
  if (u.canary) checkDuration(issues, `${field}.canary.auto_promote_after`, u.canary.autoPromoteAfter);
}

export function checkEndpoint(issues: Issues, field: string, e: EndpointSpec): void {
  if (!isEnumValue(ResolutionMode, e.mode)) issues.add(`${field}.mode`, `unknown resolution mode ${e.mode}`);
  const published = new Map<string, number>();
  e.ports.forEach((p, i) => {
    const f = `${field}.ports[${i}]`;
    if (!Number.isInteger(p.targetPort) || p.targetPort < 1 || p.targetPort > 65535) issues.add(`${f}.target_port`, `must be 1-65535 (got ${p.targetPort})`);
    if (!Number.isInteger(p.publishedPort) || p.publishedPort < 0 || p.publishedPort > 65535) {
      return issues.add(`${f}.published_port`, `must be 1-65535, or 0 to let the cluster choose (got ${p.publishedPort})`);
    }
    if (!isEnumValue(PortProtocol, p.protocol)) issues.add(`${f}.protocol`, `unknown protocol ${p.protocol}`);
    if (!isEnumValue(PublishMode, p.publishMode)) issues.add(`${f}.publish_mode`, `unknown publish mode ${p.publishMode}`);
    if (e.mode === ResolutionMode.DNSRR && p.publishMode === PublishMode.INGRESS) {
      issues.add(`${f}.publish_mode`, 'ports published in ingress mode cannot be used with dnsrr endpoint mode');
    }
    if (p.publishedPort === 0) return;
    const key = `${p.publishedPort}/${p.protocol}`;
    const prev = published.get(key);
    if (prev !== undefined) {
      issues.add(`${f}.published_port`, `published port ${p.publishedPort}/${PortProtocol[p.protocol] ?? p.protocol} is already used by ports[${prev}]`);
    } else published.set(key, i);
  });
}

/**
 * Ingress-published ports are cluster-wide: a port/protocol published by another service is
 * refused. `others` are the other services (the one being updated is skipped by id).
 */
export function checkPortConflicts(spec: ServiceSpec, others: Iterable<Service>, selfId?: string): FieldError[] {
  const issues = new Issues();
  const ports = spec.endpoint?.ports ?? [];
  if (ports.length === 0) return issues.list;
  const taken = new Map<string, string>();
  for (const s of others) {
    if (s.id === selfId) continue;
    const theirs = s.endpoint?.ports?.length ? s.endpoint.ports : (s.spec?.endpoint?.ports ?? []);
    for (const p of theirs) {
      if (p.publishMode === PublishMode.INGRESS && p.publishedPort !== 0) taken.set(`${p.publishedPort}/${p.protocol}`, s.spec?.annotations?.name ?? s.id);
    }
  }
  ports.forEach((p, i) => {
    if (p.publishMode !== PublishMode.INGRESS || p.publishedPort === 0) return;
    const owner = taken.get(`${p.publishedPort}/${p.protocol}`);
    if (owner) issues.add(`endpoint.ports[${i}].published_port`, `port ${p.publishedPort} is already in use by service "${owner}"`);
  });
  return issues.list;
}

/** Changes an update may not make: renaming, and switching between service modes. */
export function validateServiceUpdate(prev: ServiceSpec, next: ServiceSpec): FieldError[] {
  const issues = new Issues();
  if ((prev.annotations?.name ?? '') !== (next.annotations?.name ?? '')) issues.add('annotations.name', 'renaming services is not supported');
  if (prev.mode?.$case !== next.mode?.$case) issues.add('mode', `changing the service mode (${prev.mode?.$case ?? 'none'} to ${next.mode?.$case ?? 'none'}) is not supported`);
  return issues.list;
}
