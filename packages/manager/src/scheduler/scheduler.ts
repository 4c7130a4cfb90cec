// The scheduler's decision core: which node each pending task goes to. No store, no clock, no I/O.
//
// `SchedulerState` keeps per-node aggregates (reservations, task counts, host ports) and is kept
// current from store events (upsertNode/removeNode/upsertTask/removeTask, all idempotent).
// `schedule(pending)` places a batch of pending tasks:
//   1. tasks with the same service and spec version form a group (same requirements);
//   2. the filter pipeline runs once per node and group; nodes that pass are arranged in a tree by
//      the placement preferences (one level per preference, one branch per label value; nodes
//      without the label form their own "" branch), each level a heap ordered by the number of
//      tasks of the service under it, the leaves a heap of nodes ordered by (tasks of the service,
//      tasks overall, node id);
//   3. each task walks down the tree taking the least-loaded branch at every level, so tasks are
//      balanced across values of preference 1, then within those across preference 2, …; at the
//      leaf the node on top is re-checked against the filters that placements change (resources,
//      host ports, max replicas) and dropped from this group if it no longer fits.
// Each placement costs O(levels · log nodes); nothing is re-sorted per task.
//
// Assignments are applied to the state as they are made (like SwarmKit's optimistic nodeInfo
// update), so the next batch sees them. When the caller commits them, the store's task-updated
// events come back through upsertTask and simply replace the optimistic contribution; when a commit
// fails, the caller calls upsertTask(original) for each task to undo.
import { TaskState, type Node, type Task } from '@shoal/api';
import { nodeAttribute, parseSpreadDescriptor, type ConstraintKey } from './constraint.js';
import { dynamicFilter, explain, filterNode, requirementsOf, taskHostPorts, type FilterReason, type NodeInfo, type TaskRequirements } from './filters.js';
import { Heap } from './heap.js';

export interface Assignment {
  taskId: string;
  nodeId: string;
}

export interface Unschedulable {
  taskId: string;
  /** e.g. "no suitable node (2 nodes not available for new tasks; 1 node has insufficient memory)" */
  message: string;
}

export interface ScheduleResult {
  assignments: Assignment[];
  unschedulable: Unschedulable[];
}

export interface ScheduleInput {
  nodes: readonly Node[];
  /** all non-terminal tasks (for counts and reservations); pending ones contribute nothing */
  tasks: readonly Task[];
  /** tasks to place, in priority order */
  pending: readonly Task[];
  /** ISO time of the pass; kept for symmetry with the orchestrators (placement does not use it) */
  now?: string;
}

/** Pure entry point: build the state from a snapshot and place the pending tasks. */
export function schedule(input: ScheduleInput): ScheduleResult {
  const state = new SchedulerState();
  for (const n of input.nodes) state.upsertNode(n);
  for (const t of input.tasks) state.upsertTask(t);
  return state.schedule(input.pending);
}

/** What a task holds on its node while it is assigned and not yet terminal. */
interface Contribution {
  nodeId: string;
  serviceId: string;
  cpu: number;
  mem: number;
  /** counts for spreading (desired state <= RUNNING) */
  counts: boolean;
  ports: string[];
}

function contributionOf(t: Task): Contribution | undefined {
  if (!t.nodeId) return undefined;
  const st = t.status?.state ?? TaskState.NEW;
  if (st < TaskState.ASSIGNED || st > TaskState.RUNNING) return undefined;
  const res = t.spec?.resources?.reservations;
  return {
    nodeId: t.nodeId,
    serviceId: t.serviceId,
    cpu: res?.nanoCpus ?? 0,
    mem: res?.memoryBytes ?? 0,
    counts: t.desiredState <= TaskState.RUNNING,
    ports: taskHostPorts(t),
  };
}

/** A node as seen by one group: `svc` caches the group's service count on it. */
interface Entry {
  info: NodeInfo;
  svc: number;
}

class Branch {
  svc = 0;
  readonly kids = new Map<string, Branch>();
  entries: Entry[] = [];
  sub: Heap<Branch> | undefined;
  nodes: Heap<Entry> | undefined;
  constructor(readonly key: string) {}
}

const entryLess = (a: Entry, b: Entry): boolean =>
  a.svc !== b.svc ? a.svc < b.svc : a.info.activeTasks !== b.info.activeTasks ? a.info.activeTasks < b.info.activeTasks : a.info.node.id < b.info.node.id;
const branchLess = (a: Branch, b: Branch): boolean => (a.svc !== b.svc ? a.svc < b.svc : a.key < b.key);

function finishBranch(b: Branch): void {
  if (b.kids.size === 0) {
    b.nodes = new Heap(entryLess);
    for (const e of b.entries) {
      b.nodes.push(e);
      b.svc += e.svc;
    }
    b.entries = [];
    return;
  }
  b.sub = new Heap(branchLess);
  for (const k of b.kids.values()) {
    finishBranch(k);
    b.svc += k.svc;
    b.sub.push(k);
  }
}

const spreadCache = new Map<string, ConstraintKey>();
function spreadKey(descriptor: string): ConstraintKey {
  let k = spreadCache.get(descriptor);
  if (!k) {
    k = parseSpreadDescriptor(descriptor);
    spreadCache.set(descriptor, k);
  }
  return k;
}

function groupKey(t: Task): string {
  if (t.specVersion && t.specVersion.index > 0) return `${t.serviceId}\u0000v${t.specVersion.index}`;
  const s = t.spec;
  return `${t.serviceId}\u0000j${JSON.stringify([s?.placement, s?.resources?.reservations, t.endpoint?.ports, t.endpoint?.spec?.ports])}`;
}

export class SchedulerState {
  private readonly infos = new Map<string, NodeInfo>();
  private readonly contribs = new Map<string, Contribution>();

  // ------------------------------------------------------------ events

  upsertNode(node: Node): void {
    const existing = this.infos.get(node.id);
    const res = node.description?.resources;
    if (existing) {
      existing.node = node;
      existing.totalCpu = res?.nanoCpus ?? 0;
      existing.totalMem = res?.memoryBytes ?? 0;
      return;
    }
    const info: NodeInfo = {
      node,
      totalCpu: res?.nanoCpus ?? 0,
      totalMem: res?.memoryBytes ?? 0,
      reservedCpu: 0,
      reservedMem: 0,
      activeTasks: 0,
      byService: new Map(),
      hostPorts: new Map(),
    };
    this.infos.set(node.id, info);
    // a node that comes back (or whose tasks arrived first) gets its tasks' contributions back
    if (this.contribs.size > 0) for (const c of this.contribs.values()) if (c.nodeId === node.id) this.add(c, info);
  }

  removeNode(nodeId: string): void {
    this.infos.delete(nodeId);
  }

  upsertTask(task: Task): void {
    const prev = this.contribs.get(task.id);
    if (prev) this.sub(prev);
    const c = contributionOf(task);
    if (c) {
      this.contribs.set(task.id, c);
      this.add(c);
    } else if (prev) this.contribs.delete(task.id);
  }

  removeTask(taskId: string): void {
    const prev = this.contribs.get(taskId);
    if (prev) {
      this.sub(prev);
      this.contribs.delete(taskId);
    }
  }

  /** Read-only view of a node's aggregates (tests, metrics). */
  nodeInfo(nodeId: string): Readonly<NodeInfo> | undefined {
    return this.infos.get(nodeId);
  }

  private add(c: Contribution, info = this.infos.get(c.nodeId)): void {
    if (!info) return;
    info.reservedCpu += c.cpu;
    info.reservedMem += c.mem;
    if (c.counts) {
      info.activeTasks++;
      info.byService.set(c.serviceId, (info.byService.get(c.serviceId) ?? 0) + 1);
    }
    for (const p of c.ports) info.hostPorts.set(p, (info.hostPorts.get(p) ?? 0) + 1);
  }

  private sub(c: Contribution): void {
    const info = this.infos.get(c.nodeId);
    if (!info) return;
    info.reservedCpu -= c.cpu;
    info.reservedMem -= c.mem;
    if (c.counts) {
      info.activeTasks--;
      const n = (info.byService.get(c.serviceId) ?? 0) - 1;
      if (n > 0) info.byService.set(c.serviceId, n);
      else info.byService.delete(c.serviceId);
    }
    for (const p of c.ports) {
      const n = (info.hostPorts.get(p) ?? 0) - 1;
      if (n > 0) info.hostPorts.set(p, n);
      else info.hostPorts.delete(p);
    }
  }

  private assign(task: Task, req: TaskRequirements, info: NodeInfo): void {
    const c: Contribution = { nodeId: info.node.id, serviceId: task.serviceId, cpu: req.cpu, mem: req.mem, counts: true, ports: req.hostPorts };
    const prev = this.contribs.get(task.id);
    if (prev) this.sub(prev);
    this.contribs.set(task.id, c);
    this.add(c, info);
  }

  // ------------------------------------------------------------ placement

  /** Place a batch of pending tasks; assignments are applied to this state (see file comment). */
  schedule(pending: readonly Task[]): ScheduleResult {
    const result: ScheduleResult = { assignments: [], unschedulable: [] };
    const groups = new Map<string, Task[]>();
    for (const t of pending) {
      if (t.nodeId) {
        this.schedulePinned(t, result);
        continue;
      }
      const k = groupKey(t);
      const g = groups.get(k);
      if (g) g.push(t);
      else groups.set(k, [t]);
    }
    for (const g of groups.values()) this.scheduleGroup(g, result);
    return result;
  }

  /** A task whose node is already chosen (global services): only check that node. */
  private schedulePinned(t: Task, result: ScheduleResult): void {
    const info = this.infos.get(t.nodeId);
    if (!info) {
      result.unschedulable.push({ taskId: t.id, message: `no suitable node (node ${t.nodeId} not found)` });
      return;
    }
    const req = requirementsOf(t);
    const reason = filterNode(info, req);
    if (reason) {
      result.unschedulable.push({ taskId: t.id, message: explain(new Map([[reason, 1]])) });
      return;
    }
    this.assign(t, req, info);
    result.assignments.push({ taskId: t.id, nodeId: info.node.id });
  }

  private scheduleGroup(tasks: Task[], result: ScheduleResult): void {
    const first = tasks[0]!;
    const req = requirementsOf(first);
    const prefs = (first.spec?.placement?.preferences ?? []).map((p) => spreadKey(p.spreadDescriptor));
    const reasons = new Map<FilterReason, number>();
    const bump = (r: FilterReason): void => {
      reasons.set(r, (reasons.get(r) ?? 0) + 1);
    };

    const root = new Branch('');
    for (const info of this.infos.values()) {
      const r = filterNode(info, req);
      if (r) {
        bump(r);
        continue;
      }
      let b = root;
      for (const k of prefs) {
        const v = nodeAttribute(info.node, k) ?? '';
        let kid = b.kids.get(v);
        if (!kid) {
          kid = new Branch(v);
          b.kids.set(v, kid);
        }
        b = kid;
      }
      b.entries.push({ info, svc: info.byService.get(req.serviceId) ?? 0 });
    }
    finishBranch(root);

    const path: Branch[] = [];
    let i = 0;
    for (; i < tasks.length; i++) {
      const e = this.pick(root, req, path, bump);
      if (!e) break;
      const t = tasks[i]!;
      this.assign(t, req, e.info);
      result.assignments.push({ taskId: t.id, nodeId: e.info.node.id });
      // bump keys bottom-up: the node at its leaf, then each branch at its parent
      e.svc++;
      const leaf = path[path.length - 1]!;
      leaf.nodes!.updateTop();
      for (let d = path.length - 1; d >= 0; d--) {
        path[d]!.svc++;
        if (d > 0) path[d - 1]!.sub!.updateTop();
      }
    }
    if (i < tasks.length) {
      const message = explain(reasons);
      for (; i < tasks.length; i++) result.unschedulable.push({ taskId: tasks[i]!.id, message });
    }
  }

  /**
   * Walk from the root to the least-loaded node that still fits; nodes that no longer fit and
   * branches left empty are removed on the way. `path` receives root..leaf of the chosen node.
   */
  private pick(root: Branch, req: TaskRequirements, path: Branch[], bump: (r: FilterReason) => void): Entry | undefined {
    path.length = 0;
    path.push(root);
    for (;;) {
      const b = path[path.length - 1]!;
      if (b.nodes) {
        for (let e = b.nodes.peek(); e; e = b.nodes.peek()) {
          const r = dynamicFilter(e.info, req);
          if (!r) return e;
          bump(r);
          b.nodes.pop();
        }
      } else {
        const kid = b.sub!.peek();
        if (kid) {
          path.push(kid);
          continue;
        }
      }
      // b is empty: drop it from its parent and retry from there
      path.pop();
      const parent = path[path.length - 1];
      if (!parent) return undefined;
      parent.sub!.pop();
    }
  }
}
