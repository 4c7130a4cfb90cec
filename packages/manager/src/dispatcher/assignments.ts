// What a node is assigned: its tasks that the scheduler has placed (state >= ASSIGNED) and that
// are not terminal-and-acknowledged, plus the secrets and configs they reference. Diffing two
// sets gives the incremental changes sent on the Assignments stream.
import { AssignmentAction, TaskState, type AssignmentChange, type Task } from '@shoal/api';
import type { ReadTx } from '../state/state.js';

export function isAssigned(t: Task, nodeId: string): boolean {
  if (t.nodeId !== nodeId) return false;
  const state = t.status?.state ?? TaskState.NEW;
  if (state < TaskState.ASSIGNED) return false;
  // terminal and the manager has acknowledged it (desires shutdown or removal): the agent is done
  if (state >= TaskState.COMPLETE && t.desiredState >= TaskState.SHUTDOWN) return false;
  return true;
}

/** Items keyed "task:<id>", "secret:<id>", "config:<id>" with the version they were sent at. */
export type AssignmentSet = Map<string, { version: number; change: AssignmentChange }>;

export function assignmentSet(tx: ReadTx, nodeId: string): AssignmentSet {
  const out: AssignmentSet = new Map();
  const secrets = new Set<string>();
  const configs = new Set<string>();
  for (const t of tx.tasksByNode(nodeId)) {
    if (!isAssigned(t, nodeId)) continue;
    out.set(`task:${t.id}`, { version: t.meta?.version ?? 0, change: { assignment: { item: { $case: 'task', task: t } }, action: AssignmentAction.ASSIGNMENT_UPDATE } });
    for (const r of t.spec?.container?.secrets ?? []) secrets.add(r.secretId);
    for (const r of t.spec?.container?.configs ?? []) configs.add(r.configId);
  }
  for (const id of secrets) {
    const s = tx.get('secrets', id);
    if (s) out.set(`secret:${id}`, { version: s.meta?.version ?? 0, change: { assignment: { item: { $case: 'secret', secret: s } }, action: AssignmentAction.ASSIGNMENT_UPDATE } });
  }
  for (const id of configs) {
    const c = tx.get('configs', id);
    if (c) out.set(`config:${id}`, { version: c.meta?.version ?? 0, change: { assignment: { item: { $case: 'config', config: c } }, action: AssignmentAction.ASSIGNMENT_UPDATE } });
  }
  return out;
}

/** Changes that turn `prev` into `next` (updates for new or changed items, removes for gone ones). */
export function diffAssignments(prev: AssignmentSet, next: AssignmentSet): AssignmentChange[] {
  const changes: AssignmentChange[] = [];
  for (const [k, v] of next) {
    const p = prev.get(k);
    if (!p || p.version !== v.version) changes.push(v.change);
  }
  for (const [k, v] of prev) {
    if (!next.has(k)) changes.push({ assignment: v.change.assignment, action: AssignmentAction.ASSIGNMENT_REMOVE });
  }
  return changes;
}
