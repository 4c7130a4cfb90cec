// What every orchestrator decision function returns, and the small vocabulary they share.
// The functions are pure: read-only objects in, a Plan out. The caller (the leader's loop) applies
// a plan in one store transaction, and re-runs the function when the store changes or at
// `plan.wakeAt` (the only timer lives in the caller).
import { isoTime, NodeAvailability, NodeState, TaskState, HealthState, UpdateState, type Node, type Service, type Task } from '@shoal/api';
import { cachedConstraints, matchConstraints } from '../scheduler/constraint.js';
import { platformMatches } from '../scheduler/filters.js';

export interface Plan {
  /** new tasks (status NEW, desired RUNNING or READY) */
  create: Task[];
  /** changed tasks, full objects with meta.version as read (optimistic concurrency) */
  update: Task[];
  /** ids of tasks to delete (history retention) */
  delete: string[];
  /** earliest epoch ms at which a decision that is waiting (a restart delay) becomes due */
  wakeAt?: number;
}

/** Receives tasks whose spec differs from their service's spec (the updater's job, issue 5). */
export interface Updater {
  onDirty(service: Service, dirty: readonly Task[], ctx: OrchestratorContext, plan: PlanBuilder): void;
}

export interface OrchestratorContext {
  /** epoch milliseconds of this pass */
  now: number;
  newId: () => string;
  /** old tasks kept per slot (cluster spec orchestration.taskHistoryRetentionLimit); default 5 */
  historyLimit?: number;
  /** what to do with dirty tasks; default replaceAllAtOnce */
  updater?: Updater;
}

/** Collects a plan; several updates of the same task in one pass merge into one. */
export class PlanBuilder {
  private readonly creates: Task[] = [];
  private readonly updates = new Map<string, Task>();
  private readonly deletes = new Set<string>();
  private wake: number | undefined;
  constructor(readonly ctx: OrchestratorContext) {}

  create(t: Task): Task {
    this.creates.push(t);
    return t;
  }

  /** The task as this plan currently has it (after earlier updates in this pass). */
  current(t: Task): Task {
    return this.updates.get(t.id) ?? t;
  }

  update(t: Task, change: (copy: Task) => void): void {
    const copy = structuredClone(this.current(t));
    change(copy);
    this.updates.set(t.id, copy);
  }

  /** Set the desired state (no-op if already there). */
  setDesired(t: Task, desired: TaskState): void {
    if (this.current(t).desiredState === desired) return;
    this.update(t, (c) => {
      c.desiredState = desired;
    });
  }

  delete(id: string): void {
    this.deletes.add(id);
  }

  wakeAt(ms: number): void {
    if (this.wake === undefined || ms < this.wake) this.wake = ms;
  }

  build(): Plan {
    const p: Plan = { create: this.creates, update: [...this.updates.values()], delete: [...this.deletes] };
    if (this.wake !== undefined) p.wakeAt = this.wake;
    return p;
  }
}

// ---------------------------------------------------------------- task predicates

/** The orchestrator still wants this task to run (desired NEW..RUNNING; READY = delayed start). */
export const isActive = (t: Task): boolean => t.desiredState <= TaskState.RUNNING;
/** The task has stopped (observed state past RUNNING). */
export const isTerminal = (t: Task): boolean => (t.status?.state ?? TaskState.NEW) > TaskState.RUNNING;
/** The orchestrator gave up on this task's slot (restart policy said no, or a job task finished). */
export const isGivenUp = (t: Task): boolean => t.desiredState === TaskState.COMPLETE;

/** When the task was created (epoch ms); -Infinity when unknown. */
export function createdAtMs(t: Task): number {
  const s = t.meta?.createdAt ?? t.status?.timestamp;
  const ms = s === undefined ? NaN : Date.parse(s);
  return Number.isNaN(ms) ? -Infinity : ms;
}

/** Newest first: creation time, then restart attempt, then id. */
export function newestFirst(a: Task, b: Task): number {
  return createdAtMs(b) - createdAtMs(a) || b.restartAttempt - a.restartAttempt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Does the task run the service's current spec? (spec version when both have one, else deep equality) */
export function sameSpec(t: Task, s: Service): boolean {
  if (t.specVersion && s.specVersion) return t.specVersion.index === s.specVersion.index;
  return specJson(t.spec) === specJson(s.spec?.task);
}

// The orchestrator compares every task of a service with the service's spec on every pass (each
// task status change): serialising both each time cost most of the leader's CPU during a rolling
// update of 100 tasks. Objects read from the store are deep-frozen, so their JSON is computed once.
const frozenJson = new WeakMap<object, string>();
function specJson(spec: object | undefined): string | undefined {
  if (spec === undefined || !Object.isFrozen(spec)) return JSON.stringify(spec);
  let json = frozenJson.get(spec);
  if (json === undefined) {
    json = JSON.stringify(spec);
    frozenJson.set(spec, json);
  }
  return json;
}

// ---------------------------------------------------------------- nodes

export type NodeIndex = ReadonlyMap<string, Node>;

export function indexNodes(nodes: readonly Node[] | NodeIndex): NodeIndex {
  if (nodes instanceof Map) return nodes;
  return new Map((nodes as readonly Node[]).map((n) => [n.id, n]));
}

/** A task's node is gone for good: deleted, down, or drained. Its task must be moved. */
export function nodeLost(t: Task, nodes: NodeIndex): boolean {
  if (!t.nodeId) return false;
  const n = nodes.get(t.nodeId);
  if (!n) return true;
  return n.status?.state === NodeState.NODE_DOWN || n.spec?.availability === NodeAvailability.DRAIN;
}

/** Node satisfies the service's constraints and platforms. */
export function nodeFitsSpec(n: Node, s: Service): boolean {
  const p = s.spec?.task?.placement;
  if (p?.constraints.length && !matchConstraints(cachedConstraints(p.constraints), n)) return false;
  if (p?.platforms.length && !platformMatches(p.platforms, n)) return false;
  return true;
}

// ---------------------------------------------------------------- new tasks

export interface NewTaskOptions {
  slot: number;
  nodeId?: string;
  desired?: TaskState;
  restartAttempt?: number;
  jobIteration?: number;
}

/** A new task for a service: status NEW, spec copied from the service. */
export function newTask(s: Service, o: NewTaskOptions, ctx: OrchestratorContext): Task {
  const now = isoTime(ctx.now);
  const name = s.spec?.annotations?.name ?? s.id;
  const id = ctx.newId();
  return {
    id,
    meta: { version: 0, createdAt: now, updatedAt: now },
    // shared with the service, not copied: stored objects are deeply frozen, and the task is
    // encoded into its log entry anyway (with the copies, newTask was 7.6 of the orchestrator's
    // 13.9 CPU seconds in a profiled 100k-task deploy)
    spec: s.spec?.task,
    specVersion: s.specVersion ? { index: s.specVersion.index } : undefined,
    serviceId: s.id,
    slot: o.slot,
    nodeId: o.nodeId ?? '',
    annotations: { name: o.slot > 0 ? `${name}.${o.slot}.${id}` : `${name}.${o.nodeId ?? ''}.${id}`, labels: {} },
    serviceAnnotations: s.spec?.annotations,
    status: {
      timestamp: now,
      state: TaskState.NEW,
      message: o.desired === TaskState.READY ? 'created (restart delayed)' : 'created',
      err: '',
      health: HealthState.HEALTH_NONE,
      appliedBy: '',
    },
    desiredState: o.desired ?? TaskState.RUNNING,
    networks: [],
    endpoint: s.endpoint,
    logDriver: s.spec?.task?.logDriver,
    jobIteration: o.jobIteration !== undefined ? { index: o.jobIteration } : undefined,
    restartAttempt: o.restartAttempt ?? 0,
  };
}

/** Group tasks by a key, keeping input order inside groups. */
export function groupBy<K>(tasks: readonly Task[], key: (t: Task) => K): Map<K, Task[]> {
  const m = new Map<K, Task[]>();
  for (const t of tasks) {
    const k = key(t);
    const g = m.get(k);
    if (g) g.push(t);
    else m.set(k, [t]);
  }
  return m;
}

/**
 * Of a slot's active tasks keep the newest; the others are shut down (repairs a slot that somehow
 * got two runnable tasks). Returns the kept task, if any.
 */
export function dedupeActive(tasks: readonly Task[], plan: PlanBuilder, service?: Service): Task | undefined {
  const active = tasks.filter(isActive).sort(newestFirst);
  const newest = active[0];
  for (const extra of active.slice(1)) {
    // A start-first rolling update keeps the old task running until its replacement is up:
    // while the service is being updated, the updater (not this repair) retires old-spec tasks.
    if (service && newest && updaterOwns(service, extra, newest)) continue;
    plan.setDesired(extra, TaskState.SHUTDOWN);
  }
  return newest;
}

const UPDATING_STATES = new Set([UpdateState.UPDATING, UpdateState.ROLLBACK_STARTED, UpdateState.PAUSED, UpdateState.ROLLBACK_PAUSED, UpdateState.CANARY_WAITING]);

/** `older` runs a previous spec and `newest` the current one while an update is under way. */
function updaterOwns(service: Service, older: Task, newest: Task): boolean {
  return UPDATING_STATES.has(service.updateStatus?.state ?? UpdateState.UPDATE_UNKNOWN) && sameSpec(newest, service) && !sameSpec(older, service);
}

/** Another task of the slot has not stopped yet (a delayed start waits for it: stop-first). */
export function othersStillRunning(task: Task, slotTasks: readonly Task[]): boolean {
  return slotTasks.some((o) => o.id !== task.id && !isTerminal(o) && (o.status?.state ?? TaskState.NEW) >= TaskState.ASSIGNED);
}
