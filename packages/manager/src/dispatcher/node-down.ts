// What happens to a node's tasks when it goes down or is removed: they are marked ORPHANED with
// desired state SHUTDOWN, so that the orchestrator replaces them elsewhere.
import { TaskState, type Task } from '@shoal/api';
import type { WriteTx } from '../state/state.js';

export function orphanNodeTasks(tx: WriteTx, nodeId: string, message: string, timestamp: string): number {
  let n = 0;
  for (const t of tx.tasksByNode(nodeId)) {
    const state = t.status?.state ?? TaskState.NEW;
    if (state >= TaskState.COMPLETE && t.desiredState >= TaskState.SHUTDOWN) continue;
    const next: Task = {
      ...t,
      desiredState: Math.max(t.desiredState, TaskState.SHUTDOWN),
      status: state >= TaskState.COMPLETE ? t.status : { ...t.status, state: TaskState.ORPHANED, message, err: '', timestamp: timestamp || t.status?.timestamp, health: t.status?.health ?? 0, appliedBy: '' },
    };
    tx.update('tasks', next);
    n++;
  }
  return n;
}
