// The rolling-update scheduler's decisions, as a pure step function over one service.
//
// Called by the leader whenever the service or one of its tasks changes, and at `wakeAt`.
// Durable progress lives in service.updateStatus (state, slots already updated, tasks that
// failed), so that a new leader resumes an update where the old one left it: no restart from
// scratch, no slot updated twice. Semantics follow SwarmKit:
//  - parallelism slots are updated at once (0 = all); after a slot's new task is done (running,
//    and healthy when the service has a healthcheck) its worker waits `delay` before the next slot;
//  - stop-first: the old task is told to stop and the new one is created with desired READY; it is
//    started once the old one has stopped. start-first: the new task starts at once and the old one
//    is stopped when the new one is done;
//  - health gating: a new task is "done" only once `taskIsReady` (tracker.ts) holds — RUNNING,
//    and HEALTHY when the service has a healthcheck. That predicate is the seam for the overlay
//    load balancer: a task joins its service's VIP only while it holds;
//  - a new task fails the update when it fails, exits or is rejected before it is done or within
//    `monitor` after, or is still not healthy at its health deadline (start period + the time its
//    healthcheck needs to declare it unhealthy + `monitor`; see healthDeadlineMs);
//  - when failures exceed max_failure_ratio of the slots, the failure action applies: pause,
//    continue, or rollback (a rollback is never itself rolled back: it pauses instead);
//  - canary (beyond Swarm): after the first batch is done and has passed its monitor window the
//    update waits in CANARY_WAITING until promoted (by hand, or after auto_promote_after of
//    continuous health: the period restarts whenever a canary is not ready). While it waits, the
//    canaries stay monitored: one that fails counts as a failure of the update.
import {
  durationMs,
  isoTime,
  TaskState,
  UpdateFailureAction,
  UpdateState,
  type HealthConfig,
  type Service,
  type Task,
  type UpdateStatus,
} from '@shoal/api';
import { newTask, othersStillRunning, PlanBuilder, type OrchestratorContext, type Plan, type Updater } from '../orchestrator/plan.js';
import { configFor, isRollback, type EffectiveUpdateConfig } from './config.js';
import { runsCurrentSpec } from './dirty.js';
import { taskIsReady, type UpdateTracker } from './tracker.js';

export interface UpdateDecision {
  /** task creates and desired-state changes, to apply in one store transaction */
  plan: Plan;
  /** the new update status, when it changed */
  status: UpdateStatus | undefined;
  /** the caller must roll the service back: spec <- previous_spec (see rollbackService) */
  rollback: boolean;
  /** when to call again even if nothing changes (delays, monitor windows, health deadlines) */
  wakeAt: number | undefined;
}

const ACTIVE_STATES = new Set([UpdateState.UPDATING, UpdateState.ROLLBACK_STARTED]);
const PAUSED_STATES = new Set([UpdateState.PAUSED, UpdateState.ROLLBACK_PAUSED]);

/** Slot key: replicated slot number, or node id for global services. */
export const slotKey = (t: Task): string => (t.slot > 0 ? `slot:${t.slot}` : `node:${t.nodeId}`);

const isActiveTask = (t: Task): boolean => t.desiredState <= TaskState.RUNNING;
const isStopped = (t: Task): boolean => (t.status?.state ?? TaskState.NEW) > TaskState.RUNNING;

export function needsHealth(h: HealthConfig | undefined): boolean {
  return !!h && h.test.length > 0 && h.test[0] !== 'NONE';
}

/** How long a new task may take from running to healthy before it counts as failed. */
function healthDeadlineMs(h: HealthConfig | undefined, cfg: EffectiveUpdateConfig): number {
  if (!needsHealth(h)) return Infinity;
  const interval = durationMs(h!.interval, 30_000);
  const timeout = durationMs(h!.timeout, 30_000);
  const retries = h!.retries > 0 ? h!.retries : 3;
  return durationMs(h!.startPeriod, 0) + (interval + timeout) * (retries + 1) + cfg.monitorMs;
}

interface Slot {
  key: string;
  order: number;
  old: Task[]; // active tasks running another spec
  fresh: Task | undefined; // newest active task running the current spec
}

function collectSlots(service: Service, tasks: readonly Task[]): Map<string, Slot> {
  const slots = new Map<string, Slot>();
  for (const t of tasks) {
    if (t.serviceId !== service.id || !isActiveTask(t)) continue;
    const key = slotKey(t);
    let s = slots.get(key);
    if (!s) slots.set(key, (s = { key, order: t.slot > 0 ? t.slot : 0, old: [], fresh: undefined }));
    if (!runsCurrentSpec(t, service)) s.old.push(t);
    else if (!s.fresh || (s.fresh.meta?.createdAt ?? '') < (t.meta?.createdAt ?? '')) s.fresh = t;
  }
  return slots;
}

function describeFailure(t: Task, why?: string): string {
  why ??= t.status?.err || t.status?.message || TaskState[t.status?.state ?? TaskState.NEW];
  return `task ${t.id} (${why})`;
}

export function planUpdate(service: Service, tasks: readonly Task[], ctx: OrchestratorContext, tracker: UpdateTracker): UpdateDecision {
  const plan = new PlanBuilder(ctx);
  const now = ctx.now;
  const cur = service.updateStatus;
  let status: UpdateStatus | undefined = cur ? structuredClone(cur) : undefined;
  let changed = false;
  let wake: number | undefined;
  const wakeAt = (ms: number): void => {
    if (Number.isFinite(ms) && (wake === undefined || ms < wake)) wake = ms;
  };
  const result = (rollback = false): UpdateDecision => ({ plan: plan.build(), status: changed ? status : undefined, rollback, wakeAt: wake });
  if (service.pendingDelete) return result();

  const cfg = configFor(service);
  const health = service.spec?.task?.container?.healthcheck;
  const requireHealth = needsHealth(health);
  const slots = collectSlots(service, tasks);
  const dirty = [...slots.values()].filter((s) => s.old.some((t) => !isStopped(t)) && !s.fresh).sort((a, b) => a.order - b.order || (a.key < b.key ? -1 : 1));
  const state = status?.state ?? UpdateState.UPDATE_UNKNOWN;

  // A new update begins when tasks run an old spec and no update is under way.
  if (!ACTIVE_STATES.has(state) && !PAUSED_STATES.has(state) && state !== UpdateState.CANARY_WAITING) {
    if (dirty.length === 0) return result();
    status = {
      state: UpdateState.UPDATING,
      startedAt: isoTime(now),
      completedAt: undefined,
      message: 'update in progress',
      updated: [],
      failures: 0,
      failedTasks: [],
      canarySince: undefined,
    };
    changed = true;
  }
  const st = status!;
  const rollingBack = isRollback(service);
  const updated = new Set(st.updated);
  const startedAt = st.startedAt ? Date.parse(st.startedAt) : -Infinity;

  // Observe the new tasks of this update: progress, monitor windows, failures.
  const healthDeadline = healthDeadlineMs(health, cfg);
  const failed = new Set(st.failedTasks);
  let newFailure: Task | undefined;
  let newFailureWhy: string | undefined;
  let inFlight = 0;
  let monitoring = false;
  const freedAt: number[] = [];
  for (const t of tasks) {
    // The updater watches the tasks it created (restart attempt 0); restarts of them by the
    // restart policy neither count as new failures nor hold the update back (as in SwarmKit).
    if (t.serviceId !== service.id || t.restartAttempt > 0 || !runsCurrentSpec(t, service) || !updated.has(slotKey(t))) continue;
    const created = t.meta?.createdAt ? Date.parse(t.meta.createdAt) : now;
    if (created < startedAt) continue;
    const { runningAt, doneAt } = tracker.observe(t, now, requireHealth);
    if (failed.has(t.id)) continue;
    const endedOnItsOwn = isStopped(t) && t.desiredState <= TaskState.RUNNING;
    const rejected = t.status?.state === TaskState.REJECTED || t.status?.state === TaskState.FAILED;
    if (endedOnItsOwn || rejected) {
      // failed before it was done, within the monitor window after, or while a canary waits
      if (doneAt === undefined || now - doneAt < cfg.monitorMs || st.state === UpdateState.CANARY_WAITING) {
        failed.add(t.id);
        newFailure ??= t;
      }
      continue;
    }
    if (!isActiveTask(t)) continue;
    if (doneAt === undefined) {
      if (runningAt !== undefined && now - runningAt >= healthDeadline) {
        failed.add(t.id);
        if (!newFailure) {
          newFailure = t;
          newFailureWhy = `not healthy within ${Math.round(healthDeadline / 1000)}s of running`;
        }
        plan.setDesired(t, TaskState.SHUTDOWN);
        continue;
      }
      if (runningAt !== undefined) wakeAt(runningAt + healthDeadline);
      inFlight++;
    } else {
      if (now - doneAt < cfg.monitorMs) {
        monitoring = true;
        wakeAt(doneAt + cfg.monitorMs);
      }
      if (now - doneAt < cfg.delayMs) freedAt.push(doneAt + cfg.delayMs);
    }
  }
  if (failed.size !== st.failedTasks.length) {
    st.failedTasks = [...failed];
    st.failures = failed.size;
    changed = true;
  }

  // Finish what was begun in updated slots: ordering of old and new tasks.
  for (const s of slots.values()) {
    if (!s.fresh || s.old.length === 0) continue;
    if (cfg.startFirst) {
      const done = tracker.doneTime(s.fresh.id) !== undefined;
      if (done) for (const o of s.old) plan.setDesired(o, TaskState.SHUTDOWN);
    } else {
      for (const o of s.old) plan.setDesired(o, TaskState.SHUTDOWN);
    }
  }
  // Stop-first: start the new task once every other task of its slot has really stopped — also
  // the old ones already told to shut down (no longer "active" by desired state) but still up.
  const bySlot = new Map<string, Task[]>();
  for (const t of tasks) {
    if (t.serviceId !== service.id) continue;
    const k = slotKey(t);
    const list = bySlot.get(k);
    if (list) list.push(t);
    else bySlot.set(k, [t]);
  }
  for (const s of slots.values()) {
    if (s.fresh && s.fresh.desiredState === TaskState.READY && updated.has(s.key) && s.old.every(isStopped) && !othersStillRunning(s.fresh, bySlot.get(s.key) ?? [])) {
      plan.setDesired(s.fresh, TaskState.RUNNING);
    }
  }

  // Failure action.
  const total = Math.max(1, slots.size);
  const applies = ACTIVE_STATES.has(st.state) || st.state === UpdateState.CANARY_WAITING;
  if (newFailure && st.failures > 0 && st.failures / total > cfg.maxFailureRatio && applies) {
    const what = describeFailure(newFailure, newFailureWhy);
    if (cfg.failureAction === UpdateFailureAction.ROLLBACK_ON_FAILURE && !rollingBack && service.previousSpec) {
      status = {
        state: UpdateState.ROLLBACK_STARTED,
        startedAt: isoTime(now),
        completedAt: undefined,
        message: `update rolled back due to failure or early termination of ${what}`,
        updated: [],
        failures: 0,
        failedTasks: [],
        canarySince: undefined,
      };
      changed = true;
      return result(true);
    }
    if (cfg.failureAction !== UpdateFailureAction.CONTINUE_ON_FAILURE) {
      st.state = rollingBack ? UpdateState.ROLLBACK_PAUSED : UpdateState.PAUSED;
      st.message = `${rollingBack ? 'rollback' : 'update'} paused due to failure or early termination of ${what}`;
      changed = true;
      return result();
    }
  }
  if (newFailure && ACTIVE_STATES.has(st.state)) {
    // tolerated (within max_failure_ratio, or failure action continue): say so
    st.message = `${rollingBack ? 'rollback' : 'update'} in progress; ${st.failures} task(s) failed, the last ${describeFailure(newFailure, newFailureWhy)}`;
    changed = true;
  }
  if (PAUSED_STATES.has(st.state)) return result();

  // Canary: hold after the first batch until promoted.
  const firstBatch = cfg.parallelism === 0 ? Infinity : cfg.parallelism;
  const promoteHint = `shoal service update --promote ${service.spec?.annotations?.name ?? service.id}`;
  const waitingMessage = `canary: first ${updated.size} task(s) healthy; waiting for promotion (${promoteHint})`;
  if (st.state === UpdateState.CANARY_WAITING) {
    // the healthy period: every canary slot's task is ready (running, healthy), else it restarts
    const unready = [...updated].filter((k) => {
      const fresh = slots.get(k)?.fresh;
      return !fresh || !taskIsReady(fresh, requireHealth);
    });
    if (unready.length > 0) {
      if (st.canarySince !== isoTime(now)) {
        st.canarySince = isoTime(now);
        st.message = `canary: ${unready.length} of ${updated.size} canary task(s) not ready; waiting for promotion (${promoteHint})`;
        changed = true;
      }
      return result();
    }
    if (st.message !== waitingMessage) {
      st.message = waitingMessage; // ready again
      changed = true;
    }
    const since = st.canarySince ? Date.parse(st.canarySince) : now;
    if (cfg.autoPromoteMs !== undefined && now - since >= cfg.autoPromoteMs) {
      st.state = UpdateState.UPDATING;
      st.message = `canary promoted automatically after ${Math.round(cfg.autoPromoteMs / 1000)}s healthy`;
      changed = true;
    } else {
      if (cfg.autoPromoteMs !== undefined) wakeAt(since + cfg.autoPromoteMs);
      return result();
    }
  }
  const canaryPending = cfg.canary && !rollingBack && !st.canarySince && st.state === UpdateState.UPDATING;
  if (canaryPending && updated.size >= Math.min(firstBatch, slots.size)) {
    if (inFlight === 0 && !monitoring && dirty.length > 0) {
      st.state = UpdateState.CANARY_WAITING;
      st.canarySince = isoTime(now);
      st.message = waitingMessage;
      changed = true;
      if (cfg.autoPromoteMs !== undefined) wakeAt(now + cfg.autoPromoteMs);
    }
    if (dirty.length > 0) return result();
  }

  // Start new slots while workers are free.
  const busy = inFlight + freedAt.length;
  let capacity = cfg.parallelism === 0 ? Infinity : cfg.parallelism - busy;
  if (canaryPending) capacity = Math.min(capacity, firstBatch - updated.size);
  for (const f of freedAt) wakeAt(f);
  for (const s of dirty) {
    if (capacity <= 0) break;
    if (updated.has(s.key)) continue; // its new task failed and was not replaced yet; the orchestrator restarts it
    capacity--;
    updated.add(s.key);
    const model = s.old[0]!;
    const oldRunning = s.old.some((t) => !isStopped(t));
    const opts: Parameters<typeof newTask>[1] = {
      slot: model.slot,
      desired: cfg.startFirst || !oldRunning ? TaskState.RUNNING : TaskState.READY,
    };
    if (model.slot === 0) opts.nodeId = model.nodeId;
    if (!cfg.startFirst) for (const o of s.old) plan.setDesired(o, TaskState.SHUTDOWN);
    const t = plan.create(newTask(service, opts, ctx));
    t.status!.message = cfg.startFirst ? 'created by update (start-first)' : 'created by update';
    inFlight++;
  }
  if (updated.size !== st.updated.length) {
    st.updated = [...updated];
    changed = true;
  }

  // Done when nothing is left to update, in flight, or under monitoring.
  const remaining = dirty.filter((s) => !updated.has(s.key)).length;
  const waitingOld = [...slots.values()].some((s) => s.fresh && s.old.length > 0);
  if (remaining === 0 && inFlight === 0 && !monitoring && !waitingOld && ACTIVE_STATES.has(st.state)) {
    st.state = rollingBack ? UpdateState.ROLLBACK_COMPLETED : UpdateState.COMPLETED;
    st.completedAt = isoTime(now);
    st.message = `${rollingBack ? 'rollback' : 'update'} completed${st.failures > 0 ? ` with ${st.failures} failed task(s)` : ''}`;
    changed = true;
  }
  return result();
}

/**
 * Roll a service back to its previous spec (by hand with `shoal service rollback`, or when the
 * failure action says so). Returns the changed service; the caller writes it in a transaction.
 */
export function rollbackService(service: Service, now: number, message = 'manually requested rollback'): Service {
  if (!service.previousSpec) throw new Error(`service ${service.id} has no previous spec to roll back to`);
  const s = structuredClone(service);
  const prev = s.previousSpec!;
  const prevVersion = s.previousSpecVersion;
  s.previousSpec = s.spec;
  s.previousSpecVersion = s.specVersion;
  s.spec = prev;
  s.specVersion = prevVersion; // as the Control API's rollback: tasks of the rolled-back spec are not current
  s.updateStatus = {
    state: UpdateState.ROLLBACK_STARTED,
    startedAt: isoTime(now),
    completedAt: undefined,
    message,
    updated: [],
    failures: 0,
    failedTasks: [],
    canarySince: undefined,
  };
  return s;
}

/**
 * The orchestrators' `Updater` while the rolling updater runs: dirty tasks are left alone, since
 * planUpdate replaces them at the pace of the service's update config.
 */
export const deferToRollingUpdater: Updater = {
  onDirty() {},
};
