// The leader loops of a manager, in the order they start.
export { OrchestratorLoop } from './orchestrator.js';
export { SchedulerLoop } from './scheduler.js';
export { UpdaterLoop } from './updater.js';
export { DispatcherLoop, TaskMetricsLoop, BootstrapLoop, type SelfNode } from './small.js';
export { Pump, WakeTimers, writePlan, type LoopDeps } from './common.js';
export { RoleLoop, memberOfNode, type RaftMembership, type RaftMemberInfo } from './roles.js';
import type { LeaderLoop } from '../leader-loops.js';
import { OrchestratorLoop } from './orchestrator.js';
import { SchedulerLoop } from './scheduler.js';
import { UpdaterLoop } from './updater.js';
import { TaskMetricsLoop } from './small.js';
import type { LoopDeps } from './common.js';

/** orchestrator, scheduler, updater (and the tasks gauge when metrics are given) */
export function controlLoops(d: LoopDeps): LeaderLoop[] {
  const loops: LeaderLoop[] = [new OrchestratorLoop(d), new SchedulerLoop(d), new UpdaterLoop(d)];
  if (d.metrics) loops.push(new TaskMetricsLoop(d.state, d.metrics));
  return loops;
}
