// Restart policy and the supervision of one slot's runnable task, shared by all orchestrators.
//
// Restart policy (TaskSpec.restart):
//  - condition: ANY restarts whatever the exit; ON_FAILURE restarts unless the task COMPLETEd;
//    NONE never restarts. Job tasks that COMPLETE are never restarted.
//  - delay (default 5 s, as in SwarmKit): the replacement is created at once with desired state
//    READY (the scheduler places it and the agent prepares it, but does not start it) and is moved
//    to desired RUNNING by a later pass once `createdAt + delay` has passed. The plan's wakeAt
//    tells the caller when. No timer lives here, and the state survives a leader change because
//    it is all in the stored task (its creation time and its spec's delay).
//  - max attempts (0 = unlimited) within window (unset = ever): restarts are numbered per slot in
//    task.restartAttempt (the replacement gets attempt + 1). Without a window the limit applies to
//    that number; with a window it applies to how many restart numbers of the slot were first seen
//    on a task created within the window (history retention bounds what can be seen).
//  - a slot whose task may not be restarted is "given up": its last task gets desired state
//    COMPLETE, and the slot stays occupied (so it is not simply refilled) until the service spec
//    changes.
// Moves the orchestrator makes itself (node down/drained/removed, constraint enforcer, dirty spec)
// are not restarts: they ignore the condition, have no delay and keep the attempt number.
import { durationMs, RestartCondition, TaskState, type Service, type Task } from '@shoal/api';
import { createdAtMs, isTerminal, newTask, nodeLost, othersStillRunning, type NodeIndex, type PlanBuilder } from './plan.js';

export const DEFAULT_RESTART_DELAY_MS = 5_000;

export interface Policy {
  condition: RestartCondition;
  delayMs: number;
  maxAttempts: number;
  windowMs: number | undefined;
}

export function restartPolicy(t: Task): Policy {
  const r = t.spec?.restart;
  return {
    condition: r?.condition ?? RestartCondition.RESTART_ANY,
    delayMs: r?.delay ? durationMs(r.delay) : DEFAULT_RESTART_DELAY_MS,
    maxAttempts: r?.maxAttempts ?? 0,
    windowMs: r?.window ? durationMs(r.window) : undefined,
  };
}

/** Restarts of the slot counted against max attempts (see file comment). */
export function restartsCounted(failed: Task, slotTasks: readonly Task[], policy: Policy, now: number): number {
  if (policy.windowMs === undefined) return failed.restartAttempt;
  const firstSeen = new Map<number, number>();
  for (const t of slotTasks) {
    if (t.restartAttempt <= 0) continue;
    const c = createdAtMs(t);
    const prev = firstSeen.get(t.restartAttempt);
    if (prev === undefined || c < prev) firstSeen.set(t.restartAttempt, c);
  }
  let n = 0;
  for (const c of firstSeen.values()) if (c >= now - policy.windowMs) n++;
  return n;
}

/** Should a stopped task be restarted? */
export function shouldRestart(failed: Task, slotTasks: readonly Task[], job: boolean, now: number): boolean {
  const state = failed.status?.state ?? TaskState.NEW;
  const policy = restartPolicy(failed);
  if (job && state === TaskState.COMPLETE) return false;
  if (policy.condition === RestartCondition.RESTART_NONE) return false;
  if (policy.condition === RestartCondition.RESTART_ON_FAILURE && state === TaskState.COMPLETE) return false;
  if (policy.maxAttempts > 0 && restartsCounted(failed, slotTasks, policy, now) >= policy.maxAttempts) return false;
  return true;
}

/**
 * When a delayed (desired READY) task may start: a restart waits out the restart delay; a task
 * created by a stop-first update (restart attempt 0) may start as soon as its predecessor stopped.
 */
export function startDueAt(t: Task): number {
  return createdAtMs(t) + (t.restartAttempt > 0 ? restartPolicy(t).delayMs : 0);
}

export type SlotOutcome =
  /** the task is fine (or waiting for its restart delay): slot occupied */
  | 'ok'
  /** the task was replaced (restart or move): slot occupied by the replacement */
  | 'replaced'
  /** the task stopped and will not be restarted: slot given up */
  | 'givenUp'
  /** a job task completed: slot done */
  | 'completed';

export interface SuperviseOptions {
  job: boolean;
  /** global services: replacements stay on this node; a lost node is handled by the caller */
  pinToNode?: string;
  jobIteration?: number;
}

/**
 * Supervise the runnable task of one slot (replicated slot, global node, or job slot):
 * node lost → move it now; stopped → restart policy; delayed start → promote when due.
 */
export function superviseTask(
  service: Service,
  task: Task,
  slotTasks: readonly Task[],
  nodes: NodeIndex,
  plan: PlanBuilder,
  o: SuperviseOptions,
): SlotOutcome {
  const ctx = plan.ctx;
  const replacement = (restartAttempt: number, desired: TaskState): void => {
    const opts: Parameters<typeof newTask>[1] = { slot: task.slot, desired, restartAttempt };
    if (o.pinToNode !== undefined) opts.nodeId = o.pinToNode;
    if (o.jobIteration !== undefined) opts.jobIteration = o.jobIteration;
    const t = plan.create(newTask(service, opts, ctx));
    if (desired === TaskState.READY) plan.wakeAt(startDueAt(t));
  };

  if (isTerminal(task)) {
    if (o.job && task.status?.state === TaskState.COMPLETE) {
      plan.setDesired(task, TaskState.COMPLETE);
      return 'completed';
    }
    if (!shouldRestart(task, slotTasks, o.job, ctx.now)) {
      plan.setDesired(task, TaskState.COMPLETE);
      return 'givenUp';
    }
    plan.setDesired(task, TaskState.SHUTDOWN);
    const delay = restartPolicy(task).delayMs;
    replacement(task.restartAttempt + 1, delay > 0 ? TaskState.READY : TaskState.RUNNING);
    return 'replaced';
  }
  if (o.pinToNode === undefined && nodeLost(task, nodes)) {
    plan.setDesired(task, TaskState.SHUTDOWN);
    replacement(task.restartAttempt, TaskState.RUNNING);
    return 'replaced';
  }
  if (task.desiredState === TaskState.READY) {
    const due = startDueAt(task);
    if (ctx.now >= due && !othersStillRunning(task, slotTasks)) plan.setDesired(task, TaskState.RUNNING);
    else plan.wakeAt(due);
  }
  return 'ok';
}
