// One Compose service to a ServiceSpec, following what `docker stack deploy` does.
import { readFileSync } from 'node:fs';
import {
  ContainerSpec, MountType, PortProtocol, PublishMode, ResolutionMode, RestartCondition, ServiceSpec, TaskSpec,
  UpdateFailureAction, UpdateOrder, type Mount, type PortConfig, type Resources, type UpdateConfig,
} from '@shoal/api';
import { ComposeError } from '../errors.js';
import { parseEnvFile } from '../interpolate.js';
import type { MountModel, PortModel, ProjectModel, ResourcesModel, ServiceModel, UpdateModel } from '../model.js';
import { dur, IMAGE_LABEL, scoped, withNamespace, type StackCtx } from './common.js';
import { fileObjName, networkName, serviceNetworkKeys } from './objects.js';

function environment(s: ServiceModel, ctx: StackCtx): string[] {
  const env = new Map<string, string>();
  for (const f of s.envFiles) {
    let text: string;
    try {
      text = readFileSync(f.file, 'utf8');
    } catch (e) {
      throw new ComposeError(f.pos, f.path, `cannot read env file ${f.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    for (const [k, v] of parseEnvFile(text)) {
      const val = v ?? ctx.env[k];
      if (val !== undefined) env.set(k, val);
    }
  }
  for (const [k, v] of s.environment) {
    const val = v ?? ctx.env[k];
    if (val !== undefined) env.set(k, val);
    else env.delete(k);
  }
  return [...env].map(([k, v]) => `${k}=${v}`).sort();
}

function resources(r: ResourcesModel | undefined): Resources | undefined {
  if (!r) return undefined;
  return { nanoCpus: r.nanoCpus ?? 0, memoryBytes: r.memoryBytes ?? 0, pids: r.pids ?? 0 };
}

function update(u: UpdateModel | undefined): UpdateConfig | undefined {
  if (!u) return undefined;
  return {
    parallelism: u.parallelism ?? 1,
    delay: dur(u.delayMs),
    failureAction: { pause: UpdateFailureAction.PAUSE_ON_FAILURE, continue: UpdateFailureAction.CONTINUE_ON_FAILURE, rollback: UpdateFailureAction.ROLLBACK_ON_FAILURE }[u.failureAction ?? 'pause'],
    monitor: dur(u.monitorMs),
    maxFailureRatio: u.maxFailureRatio ?? 0,
    order: u.order === 'start-first' ? UpdateOrder.START_FIRST : UpdateOrder.STOP_FIRST,
    canary: u.canary ? { enabled: u.canary.enabled, autoPromoteAfter: dur(u.canary.autoPromoteAfterMs) } : undefined,
  };
}

function port(p: PortModel): PortConfig {
  return {
    name: '',
    protocol: { tcp: PortProtocol.TCP, udp: PortProtocol.UDP, sctp: PortProtocol.SCTP }[p.protocol],
    targetPort: p.target,
    publishedPort: p.published,
    publishMode: p.mode === 'host' ? PublishMode.HOST : PublishMode.INGRESS,
  };
}

function mount(m: MountModel, p: ProjectModel, ctx: StackCtx): Mount {
  const out: Mount = {
    type: { bind: MountType.BIND, volume: MountType.VOLUME, tmpfs: MountType.TMPFS }[m.type],
    source: m.source ?? '', target: m.target, readOnly: m.readOnly, propagation: m.propagation ?? '',
    volumeNoCopy: m.nocopy ?? false, volumeLabels: {}, volumeDriver: undefined, tmpfsSizeBytes: m.tmpfsSize ?? 0, tmpfsMode: m.tmpfsMode ?? 0,
  };
  if (m.type === 'volume' && m.source !== undefined) {
    const v = p.volumes.get(m.source);
    if (v?.external) out.source = v.name ?? v.key;
    else {
      out.source = v?.name ?? scoped(ctx.stack, m.source);
      out.volumeLabels = withNamespace(ctx.stack, v?.labels ?? {});
      if (v?.driver || Object.keys(v?.driverOpts ?? {}).length) out.volumeDriver = { name: v?.driver ?? 'local', options: v?.driverOpts ?? {} };
    }
  }
  return out;
}

function mode(s: ServiceModel): ServiceSpec['mode'] {
  const d = s.deploy;
  const replicas = d.replicas ?? 1;
  switch (d.mode) {
    case 'global':
      return { $case: 'global', global: {} };
    case 'global-job':
      return { $case: 'globalJob', globalJob: {} };
    case 'replicated-job':
      return { $case: 'replicatedJob', replicatedJob: { maxConcurrent: replicas, totalCompletions: replicas } };
    default:
      return { $case: 'replicated', replicated: { replicas } };
  }
}

export function convertService(s: ServiceModel, p: ProjectModel, ctx: StackCtx): ServiceSpec {
  const c = ContainerSpec.fromJSON({});
  c.image = s.image ?? '';
  c.labels = withNamespace(ctx.stack, s.labels);
  c.command = s.entrypoint ?? [];
  c.args = s.command ?? [];
  c.hostname = s.hostname ?? '';
  c.env = environment(s, ctx);
  c.dir = s.workingDir ?? '';
  c.user = s.user ?? '';
  c.mounts = s.mounts.map((m) => mount(m, p, ctx));
  c.stopSignal = s.stopSignal ?? '';
  c.stopGracePeriod = dur(s.stopGracePeriodMs);
  const h = s.healthcheck;
  if (h) {
    c.healthcheck = {
      test: h.disable ? ['NONE'] : (h.test ?? []),
      interval: dur(h.intervalMs), timeout: dur(h.timeoutMs), retries: h.retries ?? 0, startPeriod: dur(h.startPeriodMs),
    };
  }
  c.readOnly = s.readOnly ?? false;
  if (s.init !== undefined) c.init = s.init;
  c.sysctls = s.sysctls;
  c.capabilityAdd = s.capAdd;
  c.capabilityDrop = s.capDrop;
  c.ulimits = s.ulimits.map((u) => ({ ...u }));
  c.tty = s.tty ?? false;
  c.openStdin = s.stdinOpen ?? false;
  c.hosts = s.extraHosts;
  if (s.dns.length || s.dnsSearch.length) c.dnsConfig = { nameservers: s.dns, search: s.dnsSearch, options: [] };
  c.secrets = s.secrets.map((r) => {
    const m = p.secrets.get(r.source)!;
    const t = r.target ?? r.source;
    return { secretId: '', secretName: fileObjName(ctx.stack, m), file: { name: t.startsWith('/') ? t : `/run/secrets/${t}`, uid: r.uid ?? '0', gid: r.gid ?? '0', mode: r.mode ?? 0o444 } };
  });
  c.configs = s.configs.map((r) => {
    const m = p.configs.get(r.source)!;
    const t = r.target ?? `/${r.source}`;
    return { configId: '', configName: fileObjName(ctx.stack, m), file: { name: t, uid: r.uid ?? '0', gid: r.gid ?? '0', mode: r.mode ?? 0o444 } };
  });

  const task = TaskSpec.fromJSON({});
  task.container = c;
  const d = s.deploy;
  if (d.limits || d.reservations) task.resources = { limits: resources(d.limits), reservations: resources(d.reservations) };
  if (d.restart) {
    task.restart = {
      condition: { none: RestartCondition.RESTART_NONE, 'on-failure': RestartCondition.RESTART_ON_FAILURE, any: RestartCondition.RESTART_ANY }[d.restart.condition ?? 'any'],
      delay: dur(d.restart.delayMs), maxAttempts: d.restart.maxAttempts ?? 0, window: dur(d.restart.windowMs),
    };
  }
  if (d.constraints.length || d.preferences.length || d.maxReplicasPerNode !== undefined) {
    task.placement = { constraints: d.constraints, preferences: d.preferences.map((x) => ({ spreadDescriptor: x })), maxReplicas: d.maxReplicasPerNode ?? 0, platforms: [] };
  }
  if (s.logging) task.logDriver = { name: s.logging.driver ?? '', options: s.logging.options };
  const attach = new Map((s.networks ?? []).map((n) => [n.name, n]));
  task.networks = serviceNetworkKeys(s)
    .map((key) => ({ target: networkName(ctx.stack, key, p.networks.get(key)), aliases: [...(attach.get(key)?.aliases ?? []), s.name], addresses: attach.get(key)?.addresses ?? [] }))
    .sort((a, b) => a.target.localeCompare(b.target));

  const spec = ServiceSpec.fromJSON({});
  spec.annotations = { name: scoped(ctx.stack, s.name), labels: { ...withNamespace(ctx.stack, d.labels), [IMAGE_LABEL]: c.image } };
  spec.task = task;
  spec.mode = mode(s);
  spec.update = update(d.update);
  spec.rollback = update(d.rollback);
  if (s.ports.length || d.endpointMode) {
    spec.endpoint = { mode: d.endpointMode === 'dnsrr' ? ResolutionMode.DNSRR : ResolutionMode.VIP, ports: s.ports.map(port) };
  }
  return spec;
}
