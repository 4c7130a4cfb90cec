// Constraint enforcer: runnable tasks on nodes that no longer satisfy their placement constraints
// (labels changed, role changed) or whose node's resources shrank below what its tasks reserve
// are shut down (desired SHUTDOWN); their orchestrator then replaces them elsewhere.
// For resources, tasks are kept oldest first and the newest ones that do not fit are shut down.
// Drained/down nodes are not handled here: the orchestrators move those tasks themselves.
import { TaskState, type Node, type Task } from '@shoal/api';
import { cachedConstraints, matchConstraints } from '../scheduler/constraint.js';
import { groupBy, indexNodes, isActive, newestFirst, PlanBuilder, type NodeIndex, type OrchestratorContext, type Plan } from './plan.js';

/** Assigned to a node and not stopped yet. */
const onNode = (t: Task): boolean => {
  const s = t.status?.state ?? TaskState.NEW;
  return t.nodeId !== '' && s >= TaskState.ASSIGNED && s <= TaskState.RUNNING;
};

export function enforceConstraints(nodes: readonly Node[] | NodeIndex, tasks: readonly Task[], ctx: OrchestratorContext): Plan {
  const plan = new PlanBuilder(ctx);
  const index = indexNodes(nodes);
  for (const [nodeId, nodeTasks] of groupBy(tasks.filter((t) => isActive(t) && onNode(t)), (t) => t.nodeId)) {
    const node = index.get(nodeId);
    if (!node) continue;
    const fitting: Task[] = [];
    for (const t of nodeTasks) {
      const cs = t.spec?.placement?.constraints ?? [];
      if (cs.length > 0 && !matchConstraints(cachedConstraints(cs), node)) plan.setDesired(t, TaskState.SHUTDOWN);
      else fitting.push(t);
    }
    const res = node.description?.resources;
    let cpu = res?.nanoCpus ?? 0;
    let mem = res?.memoryBytes ?? 0;
    // oldest first: reverse of newestFirst
    for (const t of fitting.sort((a, b) => newestFirst(b, a))) {
      const r = t.spec?.resources?.reservations;
      const needCpu = r?.nanoCpus ?? 0;
      const needMem = r?.memoryBytes ?? 0;
      if ((needCpu > 0 && needCpu > cpu) || (needMem > 0 && needMem > mem)) {
        plan.setDesired(t, TaskState.SHUTDOWN);
        continue;
      }
      cpu -= needCpu;
      mem -= needMem;
    }
  }
  return plan.build();
}
