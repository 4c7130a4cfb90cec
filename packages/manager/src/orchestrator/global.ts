// Global services and global jobs: one task per eligible node (slot 0, node id set at creation,
// so the scheduler only checks that node).
//
// A node gets a new task when it is READY, ACTIVE and satisfies the service's constraints and
// platforms. A node keeps its task while it exists, is not DOWN, not drained and still satisfies
// the constraints (PAUSE, UNKNOWN and DISCONNECTED keep their tasks but get no new ones). Tasks on
// other nodes are shut down. Stopped tasks follow the restart policy on the same node.
// Global jobs run once per eligible node per job iteration; completed tasks are not restarted.
import { NodeAvailability, NodeState, TaskState, type Node, type Service, type Task } from '@shoal/api';
import {
  dedupeActive,
  groupBy,
  indexNodes,
  isGivenUp,
  isTerminal,
  newestFirst,
  newTask,
  nodeFitsSpec,
  PlanBuilder,
  sameSpec,
  type NodeIndex,
  type OrchestratorContext,
  type Plan,
} from './plan.js';
import { replaceAllAtOnce } from './replicated.js';
import { superviseTask } from './restart.js';
import { jobIterationOf, sameIteration } from './jobs.js';

export function nodeEligible(n: Node, s: Service): boolean {
  return n.status?.state === NodeState.NODE_READY && (n.spec?.availability ?? NodeAvailability.ACTIVE) === NodeAvailability.ACTIVE && nodeFitsSpec(n, s);
}

export function nodeKeepsTasks(n: Node | undefined, s: Service): boolean {
  return n !== undefined && n.status?.state !== NodeState.NODE_DOWN && n.spec?.availability !== NodeAvailability.DRAIN && nodeFitsSpec(n, s);
}

/** Reconcile a global service or a global job. `tasks`: all tasks of the service. */
export function reconcileGlobal(service: Service, tasks: readonly Task[], nodes: readonly Node[] | NodeIndex, ctx: OrchestratorContext): Plan {
  const plan = new PlanBuilder(ctx);
  reconcileGlobalInto(service, tasks, indexNodes(nodes), plan);
  return plan.build();
}

export function reconcileGlobalInto(service: Service, tasks: readonly Task[], nodes: NodeIndex, plan: PlanBuilder): void {
  const job = service.spec?.mode?.$case === 'globalJob';
  const iteration = job ? jobIterationOf(service) : undefined;
  const mine = tasks.filter((t) => t.serviceId === service.id && t.slot === 0 && t.nodeId !== '');
  // job tasks of an older iteration (or spec) are stopped; they never count
  const current = job ? mine.filter((t) => sameIteration(t, service)) : mine;
  if (job) for (const t of mine) if (!sameIteration(t, service) && t.desiredState <= TaskState.RUNNING) plan.setDesired(t, TaskState.SHUTDOWN);

  const covered = new Set<string>();
  const dirty: Task[] = [];
  for (const [nodeId, nodeTasks] of groupBy(current, (t) => t.nodeId)) {
    const node = nodes.get(nodeId);
    const active = dedupeActive(nodeTasks, plan, service);
    if (service.pendingDelete || !nodeKeepsTasks(node, service)) {
      if (active) plan.setDesired(active, TaskState.SHUTDOWN);
      continue;
    }
    if (!active) {
      const newest = [...nodeTasks].sort(newestFirst)[0];
      // a completed job task, or a task the restart policy gave up on, holds the node
      if (newest && isGivenUp(newest) && sameSpec(newest, service)) covered.add(nodeId);
      continue;
    }
    covered.add(nodeId);
    const o: Parameters<typeof superviseTask>[5] = { job, pinToNode: nodeId };
    if (iteration !== undefined) o.jobIteration = iteration;
    const outcome = superviseTask(service, active, nodeTasks, nodes, plan, o);
    if (!job && outcome === 'ok' && !isTerminal(active) && !sameSpec(active, service) && active.desiredState === TaskState.RUNNING) {
      dirty.push(plan.current(active));
    }
  }
  if (dirty.length > 0) (plan.ctx.updater ?? replaceAllAtOnce).onDirty(service, dirty, plan.ctx, plan);
  if (service.pendingDelete) return;

  const ids = [...nodes.keys()].sort();
  for (const id of ids) {
    const n = nodes.get(id)!;
    if (covered.has(id) || !nodeEligible(n, service)) continue;
    const o: Parameters<typeof newTask>[1] = { slot: 0, nodeId: id };
    if (iteration !== undefined) o.jobIteration = iteration;
    plan.create(newTask(service, o, plan.ctx));
  }
}
