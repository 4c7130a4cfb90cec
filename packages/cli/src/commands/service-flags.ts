// `service create` / `service update` flags to ServiceSpec changes.
import {
  ContainerSpec, MountType, msDuration, parseDurationMs, RestartCondition, ServiceSpec, TaskSpec, UpdateConfig,
  UpdateFailureAction, UpdateOrder, type PortConfig, type Mount, PortProtocol, PublishMode,
} from '@shoal/api';
import { ComposeError } from '../compose/errors.js';
import { shortPort } from '../compose/service-parts.js';
import { bytesOf, nanoCpusOf } from '../compose/units.js';
import { usageError } from '../errors.js';

export interface SpecFlags {
  name?: string;
  replicas?: string;
  mode?: string;
  env?: string[];
  label?: string[];
  containerLabel?: string[];
  publish?: string[];
  network?: string[];
  constraint?: string[];
  placementPref?: string[];
  mount?: string[];
  limitCpu?: string;
  limitMemory?: string;
  reserveCpu?: string;
  reserveMemory?: string;
  restartCondition?: string;
  restartDelay?: string;
  restartMaxAttempts?: string;
  updateParallelism?: string;
  updateDelay?: string;
  updateFailureAction?: string;
  updateOrder?: string;
  updateMonitor?: string;
  updateCanary?: boolean;
  updateCanaryAutoPromote?: string;
  updateMaxFailureRatio?: string;
  healthCmd?: string;
  healthInterval?: string;
  entrypoint?: string;
  workdir?: string;
  user?: string;
  hostname?: string;
}

export function int(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) throw usageError(`${flag}: expected a non-negative integer, got "${v}"`);
  return Number(v);
}
export function duration(flag: string, v: string): number {
  try {
    return parseDurationMs(v);
  } catch (e) {
    throw usageError(`${flag}: ${(e as Error).message}`);
  }
}
function bytes(flag: string, v: string): number {
  const b = bytesOf(v);
  if (b === undefined) throw usageError(`${flag}: invalid size "${v}" (e.g. 512M, 1G)`);
  return b;
}
function cpus(flag: string, v: string): number {
  const c = nanoCpusOf(v);
  if (c === undefined) throw usageError(`${flag}: invalid cpus "${v}" (e.g. 0.5)`);
  return c;
}

/** "8080:80", "53:53/udp" or "published=8080,target=80,protocol=udp,mode=host". */
export function parsePublish(v: string): PortConfig[] {
  if (v.includes('=')) {
    const o: Record<string, string> = {};
    for (const kv of v.split(',')) {
      const [k = '', val = ''] = kv.split('=');
      o[k] = val;
    }
    const target = int('--publish target', o['target'] ?? '');
    return [{
      name: '', targetPort: target, publishedPort: o['published'] ? int('--publish published', o['published']) : 0,
      protocol: o['protocol'] === 'udp' ? PortProtocol.UDP : o['protocol'] === 'sctp' ? PortProtocol.SCTP : PortProtocol.TCP,
      publishMode: o['mode'] === 'host' ? PublishMode.HOST : PublishMode.INGRESS,
    }];
  }
  try {
    return shortPort({ kind: 'scalar', pos: { file: '--publish', line: 1, col: 1 }, value: v }, '--publish').map((p) => ({
      name: '', targetPort: p.target, publishedPort: p.published,
      protocol: { tcp: PortProtocol.TCP, udp: PortProtocol.UDP, sctp: PortProtocol.SCTP }[p.protocol], publishMode: PublishMode.INGRESS,
    }));
  } catch (e) {
    throw usageError(`--publish: ${e instanceof ComposeError ? e.reason : (e as Error).message}`);
  }
}

/** type=bind,source=/a,target=/b,readonly */
export function parseMount(v: string): Mount {
  const o: Record<string, string> = {};
  for (const kv of v.split(',')) {
    const at = kv.indexOf('=');
    if (at < 0) o[kv] = 'true';
    else o[kv.slice(0, at)] = kv.slice(at + 1);
  }
  const type = { bind: MountType.BIND, volume: MountType.VOLUME, tmpfs: MountType.TMPFS }[o['type'] ?? 'volume'];
  const target = o['target'] ?? o['destination'] ?? o['dst'];
  if (type === undefined || !target) throw usageError(`--mount: expected type=bind|volume|tmpfs,source=…,target=…, got "${v}"`);
  return {
    type, source: o['source'] ?? o['src'] ?? '', target, readOnly: o['readonly'] === 'true' || o['ro'] === 'true', propagation: '',
    volumeNoCopy: false, volumeLabels: {}, volumeDriver: undefined, tmpfsSizeBytes: o['tmpfs-size'] ? bytes('--mount tmpfs-size', o['tmpfs-size']) : 0, tmpfsMode: 0,
  };
}

function kvs(items: string[] | undefined): Record<string, string> {
  return Object.fromEntries((items ?? []).map((s) => {
    const at = s.indexOf('=');
    return at < 0 ? [s, ''] : [s.slice(0, at), s.slice(at + 1)];
  }));
}

/** Apply the flags shared by create and update to a spec (in place). */
export function applyCommonFlags(spec: ServiceSpec, f: SpecFlags): void {
  const task = (spec.task ??= TaskSpec.fromJSON({}));
  const c = (task.container ??= ContainerSpec.fromJSON({}));
  if (f.replicas !== undefined) {
    const n = int('--replicas', f.replicas);
    if (spec.mode?.$case === 'replicatedJob') spec.mode.replicatedJob.totalCompletions = n;
    else if (spec.mode && spec.mode.$case !== 'replicated') throw usageError('--replicas can only be used with replicated services');
    else spec.mode = { $case: 'replicated', replicated: { replicas: n } };
  }
  const limits = f.limitCpu !== undefined || f.limitMemory !== undefined;
  const reserv = f.reserveCpu !== undefined || f.reserveMemory !== undefined;
  if (limits || reserv) task.resources ??= { limits: undefined, reservations: undefined };
  if (limits) {
    const l = (task.resources!.limits ??= { nanoCpus: 0, memoryBytes: 0, pids: 0 });
    if (f.limitCpu !== undefined) l.nanoCpus = cpus('--limit-cpu', f.limitCpu);
    if (f.limitMemory !== undefined) l.memoryBytes = bytes('--limit-memory', f.limitMemory);
  }
  if (reserv) {
    const r = (task.resources!.reservations ??= { nanoCpus: 0, memoryBytes: 0, pids: 0 });
    if (f.reserveCpu !== undefined) r.nanoCpus = cpus('--reserve-cpu', f.reserveCpu);
    if (f.reserveMemory !== undefined) r.memoryBytes = bytes('--reserve-memory', f.reserveMemory);
  }
  if (f.restartCondition !== undefined || f.restartDelay !== undefined || f.restartMaxAttempts !== undefined) {
    const r = (task.restart ??= { condition: RestartCondition.RESTART_ANY, delay: undefined, maxAttempts: 0, window: undefined });
    if (f.restartCondition !== undefined) {
      const cond = { none: RestartCondition.RESTART_NONE, 'on-failure': RestartCondition.RESTART_ON_FAILURE, any: RestartCondition.RESTART_ANY }[f.restartCondition];
      if (cond === undefined) throw usageError('--restart-condition: expected none, on-failure or any');
      r.condition = cond;
    }
    if (f.restartDelay !== undefined) r.delay = msDuration(duration('--restart-delay', f.restartDelay));
    if (f.restartMaxAttempts !== undefined) r.maxAttempts = int('--restart-max-attempts', f.restartMaxAttempts);
  }
  const upd = [f.updateParallelism, f.updateDelay, f.updateFailureAction, f.updateOrder, f.updateMonitor, f.updateCanary, f.updateCanaryAutoPromote, f.updateMaxFailureRatio];
  if (upd.some((x) => x !== undefined)) {
    const u = (spec.update ??= UpdateConfig.fromJSON({ parallelism: 1 }));
    if (f.updateParallelism !== undefined) u.parallelism = int('--update-parallelism', f.updateParallelism);
    if (f.updateDelay !== undefined) u.delay = msDuration(duration('--update-delay', f.updateDelay));
    if (f.updateMonitor !== undefined) u.monitor = msDuration(duration('--update-monitor', f.updateMonitor));
    if (f.updateFailureAction !== undefined) {
      const a = { pause: UpdateFailureAction.PAUSE_ON_FAILURE, continue: UpdateFailureAction.CONTINUE_ON_FAILURE, rollback: UpdateFailureAction.ROLLBACK_ON_FAILURE }[f.updateFailureAction];
      if (a === undefined) throw usageError('--update-failure-action: expected pause, continue or rollback');
      u.failureAction = a;
    }
    if (f.updateOrder !== undefined) {
      if (f.updateOrder !== 'start-first' && f.updateOrder !== 'stop-first') throw usageError('--update-order: expected start-first or stop-first');
      u.order = f.updateOrder === 'start-first' ? UpdateOrder.START_FIRST : UpdateOrder.STOP_FIRST;
    }
    if (f.updateMaxFailureRatio !== undefined) {
      const r = Number(f.updateMaxFailureRatio);
      if (!(r >= 0 && r <= 1)) throw usageError(`--update-max-failure-ratio: expected a number between 0 and 1, got "${f.updateMaxFailureRatio}"`);
      u.maxFailureRatio = r;
    }
    if (f.updateCanary !== undefined) u.canary = { enabled: f.updateCanary, autoPromoteAfter: u.canary?.autoPromoteAfter };
    if (f.updateCanaryAutoPromote !== undefined) {
      u.canary = { enabled: true, autoPromoteAfter: msDuration(duration('--update-canary-auto-promote', f.updateCanaryAutoPromote)) };
    }
  }
  if (f.healthCmd !== undefined || f.healthInterval !== undefined) {
    const h = (c.healthcheck ??= { test: [], interval: undefined, timeout: undefined, retries: 0, startPeriod: undefined });
    if (f.healthCmd !== undefined) h.test = ['CMD-SHELL', f.healthCmd];
    if (f.healthInterval !== undefined) h.interval = msDuration(duration('--health-interval', f.healthInterval));
  }
  if (f.entrypoint !== undefined) c.command = f.entrypoint.split(/\s+/).filter(Boolean);
  if (f.workdir !== undefined) c.dir = f.workdir;
  if (f.user !== undefined) c.user = f.user;
  if (f.hostname !== undefined) c.hostname = f.hostname;
}

/** A new spec from `service create` flags. */
export function specFromFlags(image: string, args: string[], f: SpecFlags): ServiceSpec {
  const spec = ServiceSpec.fromJSON({});
  const modes: Record<string, ServiceSpec['mode']> = {
    replicated: { $case: 'replicated', replicated: { replicas: 1 } },
    global: { $case: 'global', global: {} },
    'replicated-job': { $case: 'replicatedJob', replicatedJob: { maxConcurrent: 1, totalCompletions: 1 } },
    'global-job': { $case: 'globalJob', globalJob: {} },
  };
  spec.mode = modes[f.mode ?? 'replicated'];
  if (!spec.mode) throw usageError('--mode: expected replicated, global, replicated-job or global-job');
  spec.annotations = { name: f.name ?? '', labels: kvs(f.label) };
  const c = ContainerSpec.fromJSON({});
  c.image = image;
  c.args = args;
  c.env = f.env ?? [];
  c.labels = kvs(f.containerLabel);
  c.mounts = (f.mount ?? []).map(parseMount);
  const task = TaskSpec.fromJSON({});
  task.container = c;
  task.networks = (f.network ?? []).map((n) => ({ target: n, aliases: [], addresses: [] }));
  if (f.constraint?.length || f.placementPref?.length) {
    task.placement = {
      constraints: f.constraint ?? [], maxReplicas: 0, platforms: [],
      preferences: (f.placementPref ?? []).map((p) => ({ spreadDescriptor: p.replace(/^spread=/, '') })),
    };
  }
  spec.task = task;
  const ports = (f.publish ?? []).flatMap(parsePublish);
  if (ports.length) spec.endpoint = { mode: 0, ports };
  applyCommonFlags(spec, f);
  return spec;
}
