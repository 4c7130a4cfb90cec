// Small leader loops: the dispatcher's lifetime, the tasks-by-state gauge, and the bootstrap of
// the cluster object and this manager's own Node object on each leadership.
import { NodeAvailability, NodeRole, NodeState, RaftMemberStatus, TaskState, type Node, type Task } from '@shoal/api';
import { ensureCluster } from '../ca/cluster.js';
import type { Dispatcher } from '../dispatcher/dispatcher.js';
import type { LeaderLoop, LoopContext } from '../leader-loops.js';
import type { ManagerMetrics } from '../metrics.js';
import type { ManagerState } from '../state/state.js';
import { follow, untilAborted } from './common.js';

/** Serves the Dispatcher while leader: start() on gaining leadership, stop() on losing it. */
export class DispatcherLoop implements LeaderLoop {
  readonly name = 'dispatcher';
  constructor(private readonly dispatcher: Dispatcher) {}
  async run(ctx: LoopContext): Promise<void> {
    this.dispatcher.start();
    try {
      await untilAborted(ctx);
    } finally {
      await this.dispatcher.stop();
    }
  }
}

/** shoal_tasks{state}: counted from a full read, then kept current from commits. */
export class TaskMetricsLoop implements LeaderLoop {
  readonly name = 'task-metrics';
  constructor(
    private readonly state: ManagerState,
    private readonly metrics: ManagerMetrics,
  ) {}
  async run(ctx: LoopContext): Promise<void> {
    const counts = new Map<TaskState, number>();
    const add = (t: Task, n: number): void => {
      const s = t.status?.state ?? TaskState.NEW;
      counts.set(s, (counts.get(s) ?? 0) + n);
    };
    let queued = false;
    const publish = (): void => {
      if (queued) return;
      queued = true;
      setImmediate(() => {
        queued = false;
        if (!ctx.signal.aborted) this.metrics.setTaskCounts(counts);
      });
    };
    follow(this.state, ctx.signal, (c) => {
      for (const ch of c.changes) {
        if (ch.table !== 'tasks') continue;
        if (ch.action === 'update') add(ch.old as Task, -1);
        add(ch.object as Task, ch.action === 'delete' ? -1 : 1);
      }
      publish();
    });
    for (const t of this.state.view((tx) => tx.all('tasks'))) add(t, 1);
    publish();
    await untilAborted(ctx);
  }
}

export interface SelfNode {
  nodeId: string;
  clusterId: string;
  hostname: string;
  labels: Record<string, string>;
  raftId: number;
  addr: string;
}

/**
 * On each leadership: create the cluster object if there is none (the first leader) and create
 * or refresh this manager's own Node object (role manager, manager status with its address and
 * leader flag; other managers' leader flags are cleared).
 */
export class BootstrapLoop implements LeaderLoop {
  readonly name = 'bootstrap';
  constructor(
    private readonly state: ManagerState,
    private readonly self: SelfNode,
    private readonly onDone?: () => void,
  ) {}
  async run(ctx: LoopContext): Promise<void> {
    const me = this.self;
    const host = me.addr.slice(0, Math.max(0, me.addr.lastIndexOf(':')));
    await this.state.update((tx) => {
      ctx.checkLeader();
      ensureCluster(tx, me.clusterId);
      const managerStatus = { raftId: me.raftId, addr: me.addr, leader: true, reachability: RaftMemberStatus.REACHABLE };
      const cur = tx.get('nodes', me.nodeId);
      if (!cur) {
        const n: Node = {
          id: me.nodeId,
          spec: { annotations: { name: '', labels: { ...me.labels } }, desiredRole: NodeRole.MANAGER, availability: NodeAvailability.ACTIVE },
          description: { hostname: me.hostname, engineVersion: '', engineLabels: {} },
          status: { state: NodeState.NODE_UNKNOWN, message: 'manager started; waiting for its agent', addr: host },
          managerStatus,
          role: NodeRole.MANAGER,
          dataPathAddr: '',
        };
        tx.create('nodes', n);
      } else if (JSON.stringify(cur.managerStatus) !== JSON.stringify(managerStatus) || cur.role !== NodeRole.MANAGER) {
        tx.update('nodes', { ...cur, managerStatus, role: NodeRole.MANAGER });
      }
      for (const n of tx.all('nodes')) {
        if (n.id !== me.nodeId && n.managerStatus?.leader) tx.update('nodes', { ...n, managerStatus: { ...n.managerStatus, leader: false } });
      }
    });
    ctx.log.info('cluster and manager node ready', { nodeId: me.nodeId, raftId: me.raftId });
    this.onDone?.();
    await untilAborted(ctx);
  }
}
