// Synchronous deterministic harness for orchestrator tests: a virtual clock, sequential ids,
// service builders, and a plan applier that records what each pass decided.
import { isoTime, msDuration, RestartCondition, TaskState, type Service, type ServiceSpec, type Task, type TaskSpec } from '@shoal/api';
import type { OrchestratorContext, Plan } from '../../src/orchestrator/index.js';
import { taskSpec, type SpecOpts } from '../scheduler/_fixtures.js';

export const T0 = Date.parse('2024-01-01T00:00:00Z');

export class Harness {
  now = T0;
  private seq = 0;
  tasks = new Map<string, Task>();
  plans: Plan[] = [];
  ctx(extra: Partial<OrchestratorContext> = {}): OrchestratorContext {
    return { now: this.now, newId: () => `task-${++this.seq}`, ...extra };
  }
  advance(ms: number): void {
    this.now += ms;
  }
  all(): Task[] {
    return [...this.tasks.values()];
  }
  apply(plan: Plan): Plan {
    this.plans.push(plan);
    for (const t of plan.create) this.tasks.set(t.id, t);
    for (const t of plan.update) this.tasks.set(t.id, t);
    for (const id of plan.delete) this.tasks.delete(id);
    return plan;
  }
  /** Change a task's observed state (as the agent would), stamping the clock. */
  observe(id: string, state: TaskState, nodeId?: string): void {
    const t = this.tasks.get(id)!;
    this.tasks.set(id, { ...t, nodeId: nodeId ?? t.nodeId, status: { ...t.status!, state, timestamp: isoTime(this.now) } });
  }
  /** Every runnable task starts on the given node (or its own). */
  runAll(nodeId = 'n1'): void {
    for (const t of this.all()) if (t.desiredState === TaskState.RUNNING && (t.status?.state ?? 0) < TaskState.RUNNING) this.observe(t.id, TaskState.RUNNING, t.nodeId || nodeId);
  }
  active(): Task[] {
    return this.all().filter((t) => t.desiredState <= TaskState.RUNNING);
  }
}

export interface ServiceOpts extends SpecOpts {
  id?: string;
  mode?: ServiceSpec['mode'];
  replicas?: number;
  version?: number;
  restart?: { condition?: RestartCondition; delayMs?: number; maxAttempts?: number; windowMs?: number };
  jobIteration?: number;
  task?: TaskSpec;
}

export function service(o: ServiceOpts = {}): Service {
  const task = o.task ?? taskSpec(o);
  if (o.restart) {
    task.restart = {
      condition: o.restart.condition ?? RestartCondition.RESTART_ANY,
      delay: msDuration(o.restart.delayMs ?? 0),
      maxAttempts: o.restart.maxAttempts ?? 0,
      window: o.restart.windowMs !== undefined ? msDuration(o.restart.windowMs) : undefined,
    };
  } else {
    task.restart = { condition: RestartCondition.RESTART_ANY, delay: msDuration(0), maxAttempts: 0, window: undefined };
  }
  return {
    id: o.id ?? 'svc',
    meta: { version: 1 },
    spec: {
      annotations: { name: o.id ?? 'svc', labels: {} },
      task,
      mode: o.mode ?? { $case: 'replicated', replicated: { replicas: o.replicas ?? 3 } },
      update: undefined,
      rollback: undefined,
      endpoint: undefined,
    },
    specVersion: { index: o.version ?? 1 },
    previousSpec: undefined,
    previousSpecVersion: undefined,
    endpoint: undefined,
    updateStatus: undefined,
    jobStatus: o.jobIteration !== undefined ? { jobIteration: { index: o.jobIteration } } : undefined,
    pendingDelete: false,
  };
}

export const slotsOf = (ts: readonly Task[]): number[] => ts.map((t) => t.slot).sort((a, b) => a - b);
