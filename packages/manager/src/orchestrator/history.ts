// Task history retention: keep at most `limit` (default 5) old tasks per slot (per node for
// global services); delete the oldest beyond that. A task is old when both its desired and its
// observed state are past RUNNING. The newest task of a slot is never deleted while it records
// the slot's outcome (a given-up or completed task, desired COMPLETE), since the orchestrators read
// it; every other old task counts toward the limit.
import { TaskState, type Task } from '@shoal/api';
import { groupBy, isGivenUp, isTerminal, newestFirst, PlanBuilder, type OrchestratorContext, type Plan } from './plan.js';

export const DEFAULT_HISTORY_LIMIT = 5;

const slotKey = (t: Task): string => (t.slot > 0 ? `${t.serviceId}\u0000${t.slot}` : `${t.serviceId}\u0000@${t.nodeId}`);

/** Ids of tasks to delete. `tasks`: any set of tasks (one service or all). */
export function expiredTasks(tasks: readonly Task[], limit = DEFAULT_HISTORY_LIMIT): string[] {
  const out: string[] = [];
  const keep = Math.max(0, limit);
  for (const slotTasks of groupBy(tasks, slotKey).values()) {
    if (slotTasks.length <= keep) continue; // nothing to expire: skip the sort (most slots, every pass)
    const sorted = [...slotTasks].sort(newestFirst);
    const old = sorted.filter((t) => t.desiredState > TaskState.RUNNING && isTerminal(t));
    if (old.length <= keep) continue;
    const newest = sorted[0];
    let kept = 0;
    for (const t of old) {
      if (t === newest && isGivenUp(t)) continue;
      if (kept < keep) kept++;
      else out.push(t.id);
    }
  }
  return out;
}

/** The same as a Plan (deletes only). */
export function retainHistory(tasks: readonly Task[], ctx: OrchestratorContext): Plan {
  const plan = new PlanBuilder(ctx);
  for (const id of expiredTasks(tasks, ctx.historyLimit ?? DEFAULT_HISTORY_LIMIT)) plan.delete(id);
  return plan.build();
}
