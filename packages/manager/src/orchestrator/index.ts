// Orchestrators: pure decision functions (service + its tasks + nodes in, Plan out).
import type { Node, Service, Task } from '@shoal/api';
import { reconcileGlobalInto } from './global.js';
import { expiredTasks, DEFAULT_HISTORY_LIMIT } from './history.js';
import { reconcileReplicatedJobInto } from './jobs.js';
import { indexNodes, PlanBuilder, type NodeIndex, type OrchestratorContext, type Plan } from './plan.js';
import { reconcileReplicatedInto } from './replicated.js';

export * from './plan.js';
export { reconcileReplicated, replaceAllAtOnce, replicasOf, runningSlots } from './replicated.js';
export { reconcileGlobal, nodeEligible, nodeKeepsTasks } from './global.js';
export { reconcileReplicatedJob, jobLimits, jobIterationOf, sameIteration, type JobProgress } from './jobs.js';
export { restartPolicy, shouldRestart, startDueAt, superviseTask, DEFAULT_RESTART_DELAY_MS, type Policy, type SlotOutcome } from './restart.js';
export { expiredTasks, retainHistory, DEFAULT_HISTORY_LIMIT } from './history.js';
export { enforceConstraints } from './enforcer.js';

/**
 * One pass for one service, whatever its mode, plus its history retention.
 * `tasks`: all tasks of the service; `nodes`: all nodes.
 */
export function reconcileService(service: Service, tasks: readonly Task[], nodes: readonly Node[] | NodeIndex, ctx: OrchestratorContext): Plan {
  const plan = new PlanBuilder(ctx);
  const index = indexNodes(nodes);
  switch (service.spec?.mode?.$case) {
    case 'replicated':
      reconcileReplicatedInto(service, tasks, index, plan);
      break;
    case 'global':
    case 'globalJob':
      reconcileGlobalInto(service, tasks, index, plan);
      break;
    case 'replicatedJob':
      reconcileReplicatedJobInto(service, tasks, index, plan);
      break;
    case undefined:
      break;
  }
  // retention sees the tasks as this plan leaves them
  const after = tasks.map((t) => plan.current(t));
  for (const id of expiredTasks(after, ctx.historyLimit ?? DEFAULT_HISTORY_LIMIT)) plan.delete(id);
  return plan.build();
}
