// Replicated jobs: run tasks until `totalCompletions` of them have COMPLETEd, at most
// `maxConcurrent` at a time (max_concurrent 0 = total_completions; total_completions 0 =
// max_concurrent; both 0 = 1). Each task has its own slot 1..totalCompletions.
//
// A run belongs to a job iteration (service.jobStatus.jobIteration) and a spec version: tasks of an
// older iteration or spec are stopped and do not count, so bumping the iteration (or changing the
// spec) reruns the job. Completed tasks are never restarted; failed ones follow the restart policy
// (a slot given up by it is never retried in this run, so the job cannot finish: visible in
// `service ps`, as in SwarmKit).
import { TaskState, type Node, type Service, type Task } from '@shoal/api';
import { dedupeActive, groupBy, indexNodes, isGivenUp, newestFirst, newTask, PlanBuilder, sameSpec, type NodeIndex, type OrchestratorContext, type Plan } from './plan.js';
import { superviseTask } from './restart.js';

export function jobIterationOf(s: Service): number {
  return s.jobStatus?.jobIteration?.index ?? 0;
}

/** The task belongs to the service's current run (same iteration and same spec). */
export function sameIteration(t: Task, s: Service): boolean {
  return (t.jobIteration?.index ?? 0) === jobIterationOf(s) && sameSpec(t, s);
}

export function jobLimits(s: Service): { total: number; maxConcurrent: number } {
  const m = s.spec?.mode?.$case === 'replicatedJob' ? s.spec.mode.replicatedJob : undefined;
  let total = m?.totalCompletions ?? 0;
  let maxConcurrent = m?.maxConcurrent ?? 0;
  if (total === 0 && maxConcurrent === 0) total = maxConcurrent = 1;
  else if (total === 0) total = maxConcurrent;
  else if (maxConcurrent === 0) maxConcurrent = total;
  return { total, maxConcurrent: Math.min(maxConcurrent, total) };
}

export interface JobProgress {
  completed: number;
  running: number;
  givenUp: number;
  total: number;
}

export function reconcileReplicatedJob(service: Service, tasks: readonly Task[], nodes: readonly Node[] | NodeIndex, ctx: OrchestratorContext): Plan {
  const plan = new PlanBuilder(ctx);
  reconcileReplicatedJobInto(service, tasks, indexNodes(nodes), plan);
  return plan.build();
}

export function reconcileReplicatedJobInto(service: Service, tasks: readonly Task[], nodes: NodeIndex, plan: PlanBuilder): JobProgress {
  const { total, maxConcurrent } = jobLimits(service);
  const iteration = jobIterationOf(service);
  const mine = tasks.filter((t) => t.serviceId === service.id && t.slot > 0);
  for (const t of mine) if (!sameIteration(t, service) && t.desiredState <= TaskState.RUNNING) plan.setDesired(t, TaskState.SHUTDOWN);
  const current = mine.filter((t) => sameIteration(t, service));

  const used = new Set<number>();
  const progress: JobProgress = { completed: 0, running: 0, givenUp: 0, total };
  for (const [slot, slotTasks] of groupBy(current, (t) => t.slot)) {
    if (service.pendingDelete) {
      for (const t of slotTasks) if (t.desiredState <= TaskState.RUNNING) plan.setDesired(t, TaskState.SHUTDOWN);
      continue;
    }
    if (slotTasks.some((t) => t.status?.state === TaskState.COMPLETE)) {
      for (const t of slotTasks) if (t.desiredState <= TaskState.RUNNING && t.status?.state === TaskState.COMPLETE) plan.setDesired(t, TaskState.COMPLETE);
      // a stray runnable task next to a completed one is not needed
      for (const t of slotTasks) if (t.desiredState <= TaskState.RUNNING && t.status?.state !== TaskState.COMPLETE) plan.setDesired(t, TaskState.SHUTDOWN);
      used.add(slot);
      progress.completed++;
      continue;
    }
    const active = dedupeActive(slotTasks, plan);
    if (!active) {
      const newest = [...slotTasks].sort(newestFirst)[0];
      if (newest && isGivenUp(newest)) {
        used.add(slot);
        progress.givenUp++;
      }
      continue;
    }
    used.add(slot);
    const outcome = superviseTask(service, active, slotTasks, nodes, plan, { job: true, jobIteration: iteration });
    if (outcome === 'completed') progress.completed++;
    else if (outcome === 'givenUp') progress.givenUp++;
    else progress.running++;
  }
  if (service.pendingDelete) return progress;

  let toStart = Math.min(maxConcurrent - progress.running, total - progress.completed - progress.running - progress.givenUp);
  let next = 1;
  for (; toStart > 0; toStart--) {
    while (used.has(next)) next++;
    used.add(next);
    plan.create(newTask(service, { slot: next, jobIteration: iteration }, plan.ctx));
    progress.running++;
  }
  return progress;
}
