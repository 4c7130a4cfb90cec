// Control API: services and tasks.
import {
  isoTime,
  ShoalError,
  TaskState,
  UpdateState,
  type CreateServiceRequest,
  type CreateServiceResponse,
  type GetServiceRequest,
  type GetServiceResponse,
  type GetTaskRequest,
  type GetTaskResponse,
  type ListServicesRequest,
  type ListServicesResponse,
  type ListTasksRequest,
  type ListTasksResponse,
  type PromoteServiceRequest,
  type PromoteServiceResponse,
  type RemoveServiceRequest,
  type RemoveServiceResponse,
  type RollbackServiceRequest,
  type RollbackServiceResponse,
  type ScaleServiceRequest,
  type ScaleServiceResponse,
  type Service,
  type ServiceSpec,
  type UpdateServiceRequest,
  type UpdateServiceResponse,
} from '@shoal/api';
import type { ReadTx } from '../state/state.js';
import { realClock } from '../util/clock.js';
import { lookup, notFound, read, requireId, type ControlDeps } from './deps.js';
import { annotated, matchFilters, taskFilterable } from './filters.js';
import { assertServiceSpec, checkPortConflicts, validateServiceUpdate, type SpecRefs } from './validate.js';
import { throwIfInvalid } from './validate-util.js';

const nameOf = (o: { spec?: { annotations?: { name: string } | undefined } | undefined }): string => o.spec?.annotations?.name ?? '';

export function refsFrom(tx: ReadTx): SpecRefs {
  return {
    network: (t) => {
      const n = lookup(tx.all('networks'), t, nameOf);
      return n && { id: n.id, name: nameOf(n), ingress: n.spec?.ingress ?? false };
    },
    secret: (t) => {
      const s = lookup(tx.all('secrets'), t, nameOf);
      return s && { id: s.id, name: nameOf(s) };
    },
    config: (t) => {
      const c = lookup(tx.all('configs'), t, nameOf);
      return c && { id: c.id, name: nameOf(c) };
    },
  };
}

/** Validate against the current state and fill in ids of referenced networks, secrets, configs. */
function checkAndResolve(tx: ReadTx, spec: ServiceSpec | undefined, selfId?: string): ServiceSpec {
  const refs = refsFrom(tx);
  assertServiceSpec(spec, refs);
  const s = structuredClone(spec!);
  throwIfInvalid(checkPortConflicts(s, tx.all('services'), selfId));
  const task = s.task!;
  for (const n of task.networks) n.target = refs.network(n.target)!.id;
  for (const r of task.container!.secrets) {
    const o = refs.secret(r.secretId || r.secretName)!;
    r.secretId = o.id;
    r.secretName = o.name;
  }
  for (const r of task.container!.configs) {
    const o = refs.config(r.configId || r.configName)!;
    r.configId = o.id;
    r.configName = o.name;
  }
  return s;
}

export async function createService(d: ControlDeps, req: CreateServiceRequest): Promise<CreateServiceResponse> {
  assertServiceSpec(req.spec); // shape first, without the state
  const service = await d.state.update((tx) => {
    const spec = checkAndResolve(tx, req.spec);
    const name = nameOf({ spec });
    if (tx.all('services').some((s) => nameOf(s) === name)) throw new ShoalError('AlreadyExists', `service "${name}" already exists`);
    const s: Service = { id: d.newId(), spec, endpoint: spec.endpoint ? { spec: spec.endpoint, ports: [], virtualIps: [] } : undefined, pendingDelete: false };
    tx.create('services', s);
    return tx.get('services', s.id)!;
  });
  d.log.info('service created', { serviceId: service.id, name: nameOf(service) });
  return { service };
}

export async function getService(d: ControlDeps, req: GetServiceRequest): Promise<GetServiceResponse> {
  requireId('service_id', req.serviceId);
  const service = await read(d, req.read, (tx) => tx.get('services', req.serviceId));
  if (!service) throw notFound('service', req.serviceId);
  return { service };
}

export async function listServices(d: ControlDeps, req: ListServicesRequest): Promise<ListServicesResponse> {
  const services = await read(d, req.read, (tx) => tx.all('services').filter((s) => matchFilters(annotated(s), req.filters)));
  return { services };
}

/** Read-modify-write of one service carrying the version the caller read (0 = the current one). */
async function mutate(d: ControlDeps, id: string, version: number, fn: (cur: Service, tx: ReadTx) => Service): Promise<Service> {
  requireId('service_id', id);
  return d.state.update((tx) => {
    const cur = tx.get('services', id);
    if (!cur) throw notFound('service', id);
    const next = fn(structuredClone(cur), tx);
    next.meta = { ...cur.meta, version: version || (cur.meta?.version ?? 0) };
    tx.update('services', next);
    return tx.get('services', id)!;
  });
}

export async function updateService(d: ControlDeps, req: UpdateServiceRequest): Promise<UpdateServiceResponse> {
  if (!req.serviceVersion) throw new ShoalError('InvalidArgument', 'invalid service_version: the version read is required', { field: 'service_version' });
  assertServiceSpec(req.spec);
  const service = await mutate(d, req.serviceId, req.serviceVersion, (cur, tx) => {
    const spec = checkAndResolve(tx, req.spec, cur.id);
    throwIfInvalid(validateServiceUpdate(cur.spec!, spec));
    cur.previousSpec = cur.spec;
    cur.previousSpecVersion = cur.specVersion;
    cur.spec = spec;
    cur.endpoint = { spec: spec.endpoint, ports: cur.endpoint?.ports ?? [], virtualIps: cur.endpoint?.virtualIps ?? [] };
    // a new spec starts a new update (as in SwarmKit): the updater must not carry over the slots
    // an earlier update already did
    cur.updateStatus = undefined;
    return cur;
  });
  d.log.info('service updated', { serviceId: service.id });
  return { service };
}

export async function scaleService(d: ControlDeps, req: ScaleServiceRequest): Promise<ScaleServiceResponse> {
  if (!Number.isInteger(req.replicas) || req.replicas < 0 || req.replicas > 1_000_000) {
    throw new ShoalError('InvalidArgument', `invalid replicas: must be 0-1000000 (got ${req.replicas})`, { field: 'replicas' });
  }
  const service = await mutate(d, req.serviceId, 0, (cur) => {
    const mode = cur.spec?.mode;
    if (mode?.$case !== 'replicated') throw new ShoalError('FailedPrecondition', `service ${cur.id} is not a replicated service (mode ${mode?.$case ?? 'none'})`);
    mode.replicated.replicas = req.replicas;
    return cur;
  });
  return { service };
}

export async function rollbackService(d: ControlDeps, req: RollbackServiceRequest): Promise<RollbackServiceResponse> {
  const service = await mutate(d, req.serviceId, req.serviceVersion, (cur) => {
    if (!cur.previousSpec) throw new ShoalError('FailedPrecondition', `service ${cur.id} has no previous spec to roll back to`);
    const prev = cur.previousSpec;
    cur.previousSpec = cur.spec;
    cur.spec = prev;
    const pv = cur.previousSpecVersion;
    cur.previousSpecVersion = cur.specVersion;
    cur.specVersion = pv;
    cur.endpoint = { spec: prev.endpoint, ports: cur.endpoint?.ports ?? [], virtualIps: cur.endpoint?.virtualIps ?? [] };
    cur.updateStatus = {
      state: UpdateState.ROLLBACK_STARTED,
      startedAt: isoTime((d.clock ?? realClock).now()),
      message: 'manually requested rollback',
      updated: [],
      failures: 0,
      failedTasks: [],
    };
    return cur;
  });
  return { service };
}

/** Promote a canary waiting after its first batch: the updater continues when it sees UPDATING. */
export async function promoteService(d: ControlDeps, req: PromoteServiceRequest): Promise<PromoteServiceResponse> {
  const service = await mutate(d, req.serviceId, 0, (cur) => {
    if (cur.updateStatus?.state !== UpdateState.CANARY_WAITING) {
      throw new ShoalError('FailedPrecondition', `service ${cur.id} has no canary update waiting for promotion`);
    }
    cur.updateStatus = { ...cur.updateStatus, state: UpdateState.UPDATING, message: 'canary promoted' };
    return cur;
  });
  return { service };
}

export async function removeService(d: ControlDeps, req: RemoveServiceRequest): Promise<RemoveServiceResponse> {
  requireId('service_id', req.serviceId);
  await d.state.update((tx) => {
    const s = tx.get('services', req.serviceId);
    if (!s) throw notFound('service', req.serviceId);
    tx.delete('services', s.id);
    // its tasks are shut down now; the reaper deletes them once the agents have stopped them
    for (const t of tx.tasksByService(s.id)) {
      if (t.desiredState < TaskState.SHUTDOWN) tx.update('tasks', { ...t, desiredState: TaskState.REMOVE });
    }
  });
  d.log.info('service removed', { serviceId: req.serviceId });
  return {};
}

// ---------------------------------------------------------------- tasks

export async function getTask(d: ControlDeps, req: GetTaskRequest): Promise<GetTaskResponse> {
  requireId('task_id', req.taskId);
  const task = await read(d, req.read, (tx) => tx.get('tasks', req.taskId));
  if (!task) throw notFound('task', req.taskId);
  return { task };
}

export async function listTasks(d: ControlDeps, req: ListTasksRequest): Promise<ListTasksResponse> {
  const tasks = await read(d, req.read, (tx) => {
    let ts = req.serviceIds.length > 0 ? req.serviceIds.flatMap((id) => tx.tasksByService(id)) : tx.all('tasks');
    if (req.nodeIds.length > 0) ts = ts.filter((t) => req.nodeIds.includes(t.nodeId));
    if (req.desiredStates.length > 0) ts = ts.filter((t) => req.desiredStates.includes(t.desiredState));
    return ts.filter((t) => matchFilters(taskFilterable(t), req.filters));
  });
  return { tasks };
}
