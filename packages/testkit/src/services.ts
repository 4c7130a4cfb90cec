// Service helpers for integration tests: spec builders and the questions tests keep asking
// ("are all N slots running, once each?").
import { ServiceSpec, TaskState, type Task } from '@shoal/api';
import type { ControlApi } from './client.js';

export const HOLLOW_IMAGE = 'docker.io/library/hollow:1';

export function replicatedSpec(name: string, replicas: number, opts: { image?: string; constraints?: string[]; labels?: Record<string, string> } = {}): ServiceSpec {
  return ServiceSpec.fromPartial({
    annotations: { name, labels: opts.labels ?? {} },
    task: {
      container: { image: opts.image ?? HOLLOW_IMAGE },
      ...(opts.constraints ? { placement: { constraints: opts.constraints } } : {}),
    },
    mode: { $case: 'replicated', replicated: { replicas } },
  });
}

export function globalSpec(name: string, opts: { image?: string; constraints?: string[] } = {}): ServiceSpec {
  return ServiceSpec.fromPartial({
    annotations: { name, labels: {} },
    task: {
      container: { image: opts.image ?? HOLLOW_IMAGE },
      ...(opts.constraints ? { placement: { constraints: opts.constraints } } : {}),
    },
    mode: { $case: 'global', global: {} },
  });
}

/** Tasks of a service whose desired state is RUNNING (the live slots). */
export async function desiredRunning(api: ControlApi, serviceId: string): Promise<Task[]> {
  const res = await api.listTasks({ serviceIds: [serviceId] }, { timeoutMs: 5_000 });
  return res.tasks.filter((t) => t.desiredState === TaskState.RUNNING);
}

export interface SlotReport {
  /** tasks desired RUNNING and observed RUNNING */
  running: number;
  /** tasks desired RUNNING */
  desired: number;
  /** slots (replicated) or node ids (global) held by more than one task desired RUNNING */
  duplicates: string[];
  /** node id -> tasks running there */
  byNode: Record<string, number>;
  states: Record<string, number>;
}

/** What a service's tasks look like now; `duplicates` must stay empty at all times. */
export async function slotReport(api: ControlApi, serviceId: string): Promise<SlotReport> {
  const tasks = await desiredRunning(api, serviceId);
  const seen = new Map<string, number>();
  const byNode: Record<string, number> = {};
  const states: Record<string, number> = {};
  let running = 0;
  for (const t of tasks) {
    const key = t.slot ? `slot ${t.slot}` : `node ${t.nodeId}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    const st = TaskState[t.status?.state ?? TaskState.NEW] ?? String(t.status?.state);
    states[st] = (states[st] ?? 0) + 1;
    if (t.status?.state === TaskState.RUNNING) {
      running++;
      byNode[t.nodeId] = (byNode[t.nodeId] ?? 0) + 1;
    }
  }
  return { running, desired: tasks.length, duplicates: [...seen].filter(([, n]) => n > 1).map(([k]) => k), byNode, states };
}
