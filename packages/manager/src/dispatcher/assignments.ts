// What a node is assigned: its tasks that the scheduler has placed (state >= ASSIGNED) and that
// are not terminal-and-acknowledged, plus the secrets and configs they reference. Diffing two
// sets gives the incremental changes sent on the Assignments stream.
//
// A task is sent again only when something its agent acts on changed (as in SwarmKit): not when
// only its status moved — the status is what the agent itself reported, and echoing every report
// back would send each task to its node once per state it passes through.
import { AssignmentAction, TaskState, type AssignmentChange, type Task } from '@shoal/api';
import type { Change, ReadTx } from '../state/state.js';

export function isAssigned(t: Task, nodeId: string): boolean {
  if (t.nodeId !== nodeId) return false;
  const state = t.status?.state ?? TaskState.NEW;
  if (state < TaskState.ASSIGNED) return false;
  // terminal and the manager has acknowledged it (desires shutdown or removal): the agent is done
  if (state >= TaskState.COMPLETE && t.desiredState >= TaskState.SHUTDOWN) return false;
  return true;
}

/**
 * What of a task its agent acts on and the manager may change after creation: desired state,
 * node, and network attachments. (A task's spec never changes: a new spec makes new tasks.)
 */
export function taskSignature(t: Task): string {
  let sig = `${t.desiredState}/${t.nodeId}`;
  for (const n of t.networks) sig += `/${n.networkId}=${n.addresses.join(',')}`;
  return sig;
}

/** Whether a task update changes what its node (old or new) is told. */
export function assignmentChanged(old: Task, next: Task): boolean {
  if (old.nodeId !== next.nodeId) return true;
  if (isAssigned(old, old.nodeId) !== isAssigned(next, next.nodeId)) return true;
  return taskSignature(old) !== taskSignature(next);
}

/** Items keyed "task:<id>", "secret:<id>", "config:<id>" with the signature they were sent at. */
export type AssignmentSet = Map<string, { sig: string; change: AssignmentChange }>;

export function assignmentSet(tx: ReadTx, nodeId: string): AssignmentSet {
  const out: AssignmentSet = new Map();
  const secrets = new Set<string>();
  const configs = new Set<string>();
  for (const t of tx.tasksByNode(nodeId)) {
    if (!isAssigned(t, nodeId)) continue;
    out.set(`task:${t.id}`, { sig: taskSignature(t), change: { assignment: { item: { $case: 'task', task: t } }, action: AssignmentAction.ASSIGNMENT_UPDATE } });
    for (const r of t.spec?.container?.secrets ?? []) secrets.add(r.secretId);
    for (const r of t.spec?.container?.configs ?? []) configs.add(r.configId);
  }
  for (const id of secrets) {
    const s = tx.get('secrets', id);
    if (s) out.set(`secret:${id}`, { sig: String(s.meta?.version ?? 0), change: { assignment: { item: { $case: 'secret', secret: s } }, action: AssignmentAction.ASSIGNMENT_UPDATE } });
  }
  for (const id of configs) {
    const c = tx.get('configs', id);
    if (c) out.set(`config:${id}`, { sig: String(c.meta?.version ?? 0), change: { assignment: { item: { $case: 'config', config: c } }, action: AssignmentAction.ASSIGNMENT_UPDATE } });
  }
  return out;
}

/** The item a change is about ("task:<id>", "secret:<id>", "config:<id>"): of two changes of one item, the later wins. */
export function assignmentKey(ch: AssignmentChange): string {
  const item = ch.assignment?.item;
  if (!item) return '';
  switch (item.$case) {
    case 'task':
      return `task:${item.task.id}`;
    case 'secret':
      return `secret:${item.secret.id}`;
    case 'config':
      return `config:${item.config.id}`;
  }
}

/** Changes that turn `prev` into `next` (updates for new or changed items, removes for gone ones). */
export function diffAssignments(prev: AssignmentSet, next: AssignmentSet): AssignmentChange[] {
  const changes: AssignmentChange[] = [];
  for (const [k, v] of next) {
    const p = prev.get(k);
    if (!p || p.sig !== v.sig) changes.push(v.change);
  }
  for (const [k, v] of prev) {
    if (!next.has(k)) changes.push({ assignment: v.change.assignment, action: AssignmentAction.ASSIGNMENT_REMOVE });
  }
  return changes;
}

function refersToSecretsOrConfigs(t: Task | undefined): boolean {
  const c = t?.spec?.container;
  return !!c && (c.secrets.length > 0 || c.configs.length > 0);
}

/**
 * Applies a commit's task changes that concern `nodeId` to `set` in place and returns the
 * changes to send, as diffAssignments(set, assignmentSet(after the commit)) would, without
 * re-reading the node's whole set: the cost is the commit's changes for this node, not the
 * node's task count per commit. Returns undefined when a change involves secrets or configs
 * (the set of those follows from all of the node's tasks): the caller re-reads the full set.
 */
export function applyTaskChanges(set: AssignmentSet, nodeId: string, changes: readonly Change[]): AssignmentChange[] | undefined {
  const out: AssignmentChange[] = [];
  for (const ch of changes) {
    if (ch.table !== 'tasks') return undefined;
    const t = ch.object as Task;
    if (refersToSecretsOrConfigs(t) || (ch.action === 'update' && refersToSecretsOrConfigs(ch.old as Task))) return undefined;
    const key = `task:${t.id}`;
    if (ch.action !== 'delete' && isAssigned(t, nodeId)) {
      const sig = taskSignature(t);
      const prev = set.get(key);
      if (prev && prev.sig === sig) continue;
      const item = { sig, change: { assignment: { item: { $case: 'task' as const, task: t } }, action: AssignmentAction.ASSIGNMENT_UPDATE } };
      set.set(key, item);
      out.push(item.change);
    } else {
      const prev = set.get(key);
      if (!prev) continue;
      set.delete(key);
      out.push({ assignment: prev.change.assignment, action: AssignmentAction.ASSIGNMENT_REMOVE });
    }
  }
  return out;
}
