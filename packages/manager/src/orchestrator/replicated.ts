// Replicated services: slots 1..N, one runnable task per slot.
//
// A slot is "live" when it has a runnable task (desired state <= RUNNING) or was given up by the
// restart policy under the current spec (its newest task has desired state COMPLETE).
//  - scale down: the live slots with the HIGHEST numbers beyond N are shut down (desired SHUTDOWN).
//    SwarmKit prefers tasks on nodes that run more tasks of the service; we keep the simpler,
//    predictable rule (the remaining slots are always the lowest numbers, `docker service ps`
//    reads well, and the scheduler's spread already balances nodes).
//  - scale up / missing slots: new tasks fill the lowest free slot numbers (dead slots are reused).
//  - each kept slot is supervised (restart.ts): node lost, stopped task, delayed start.
//  - tasks running an old spec ("dirty") go to the Updater (issue 5). Until the real updater is
//    wired, `replaceAllAtOnce` replaces them all in one pass, stop-first.
import { TaskState, type Node, type Service, type Task } from '@shoal/api';
import {
  dedupeActive,
  groupBy,
  indexNodes,
  isActive,
  isGivenUp,
  isTerminal,
  newestFirst,
  newTask,
  PlanBuilder,
  sameSpec,
  type NodeIndex,
  type OrchestratorContext,
  type Plan,
  type Updater,
} from './plan.js';
import { superviseTask } from './restart.js';

/**
 * TEMPORARY default updater (the rolling updater is issue 5): every dirty task is shut down and a
 * replacement with the current spec is created in the same slot (or on the same node for global
 * services), all in one pass. Stop-first in the sense that the old task is told to stop in the
 * same transaction that creates the new one; no parallelism, delay or monitoring.
 */
export const replaceAllAtOnce: Updater = {
  onDirty(service, dirty, ctx, plan) {
    for (const t of dirty) {
      plan.setDesired(t, TaskState.SHUTDOWN);
      const o: Parameters<typeof newTask>[1] = { slot: t.slot };
      if (t.slot === 0 && t.nodeId) o.nodeId = t.nodeId;
      plan.create(newTask(service, o, ctx));
    }
  },
};

export function replicasOf(s: Service): number {
  return s.spec?.mode?.$case === 'replicated' ? s.spec.mode.replicated.replicas : 0;
}

/**
 * Reconcile one replicated service. `tasks`: all tasks of the service (old ones too);
 * `nodes`: all nodes (to see lost ones). Returns the plan; applies nothing.
 */
export function reconcileReplicated(service: Service, tasks: readonly Task[], nodes: readonly Node[] | NodeIndex, ctx: OrchestratorContext): Plan {
  const plan = new PlanBuilder(ctx);
  reconcileReplicatedInto(service, tasks, indexNodes(nodes), plan);
  return plan.build();
}

export function reconcileReplicatedInto(service: Service, tasks: readonly Task[], nodes: NodeIndex, plan: PlanBuilder): void {
  const replicas = service.pendingDelete ? 0 : replicasOf(service);
  const bySlot = groupBy(
    tasks.filter((t) => t.serviceId === service.id && t.slot > 0),
    (t) => t.slot,
  );

  // live slots: runnable task, or given up under the current spec
  const live: Array<{ slot: number; active: Task | undefined; slotTasks: Task[] }> = [];
  for (const [slot, slotTasks] of bySlot) {
    const active = dedupeActive(slotTasks, plan, service);
    if (active) {
      live.push({ slot, active, slotTasks });
      continue;
    }
    const newest = [...slotTasks].sort(newestFirst)[0];
    if (newest && isGivenUp(newest) && sameSpec(newest, service)) live.push({ slot, active: undefined, slotTasks });
  }
  live.sort((a, b) => a.slot - b.slot);

  // scale down: highest slots first
  for (const l of live.slice(replicas)) if (l.active) plan.setDesired(l.active, TaskState.SHUTDOWN);
  const kept = live.slice(0, replicas);

  // supervise kept slots; collect dirty ones
  const dirty: Task[] = [];
  for (const l of kept) {
    if (!l.active) continue;
    const outcome = superviseTask(service, l.active, l.slotTasks, nodes, plan, { job: false });
    if (outcome === 'ok' && !isTerminal(l.active) && !sameSpec(l.active, service) && l.active.desiredState === TaskState.RUNNING) {
      dirty.push(plan.current(l.active));
    }
  }
  if (dirty.length > 0) (plan.ctx.updater ?? replaceAllAtOnce).onDirty(service, dirty, plan.ctx, plan);

  // scale up: fill the lowest free slot numbers
  const used = new Set(kept.map((l) => l.slot));
  let next = 1;
  for (let missing = replicas - kept.length; missing > 0; missing--) {
    while (used.has(next)) next++;
    used.add(next);
    plan.create(newTask(service, { slot: next }, plan.ctx));
  }
}

/** Count of slots with a runnable task (for `docker service ls`-style reporting and tests). */
export function runningSlots(tasks: readonly Task[]): number {
  return new Set(tasks.filter(isActive).map((t) => t.slot)).size;
}
