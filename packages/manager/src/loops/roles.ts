// Manager roles, reconciled by the leader (SwarmKit's role manager): a node's spec.desired_role is
// what users ask for; node.role and manager_status follow raft.
//  - demotion (desired WORKER, still a raft member): record role WORKER first, then remove it from
//    raft (one change at a time, only while the voters left keep a reachable majority). The
//    leader demoting itself first hands leadership to a reachable voter.
//  - promotion (desired MANAGER, role WORKER): record role MANAGER; the node's daemon learns it
//    from its registration renewal and joins raft (Raft.Join: a learner, promoted once caught up).
//  - every raft member's node carries manager_status (raft id, address, leader, reachability).
//  - a member that left raft without a demotion (Raft.Leave) is recorded as a worker.
import { NodeRole, RaftMemberStatus, type ManagerStatus, type Node } from '@shoal/api';
import type { LeaderLoop, LoopContext } from '../leader-loops.js';
import type { ManagerState } from '../state/state.js';
import type { Clock } from '../util/clock.js';
import { errorMessage } from '../util/log.js';
import { follow, Pump, untilAborted } from './common.js';

export interface RaftMemberInfo {
  raftId: number;
  addr: string;
  learner: boolean;
  leader: boolean;
}

/** What the role loop and the Control API need to know and do about raft membership. */
export interface RaftMembership {
  readonly selfRaftId: number;
  members(): RaftMemberInfo[];
  /** raft ids removed from the cluster (never reused) */
  removedIds(): number[];
  isReachable(raftId: number): boolean;
  /** why removing this member now would lose quorum, or undefined when it is safe */
  removalRefusal(raftId: number): string | undefined;
  removeMember(raftId: number): Promise<void>;
  transferLeadership(raftId: number): Promise<void>;
}

/** the raft member a node's manager is, if any: by its recorded raft id, else by its address */
export function memberOfNode(n: Node, members: readonly RaftMemberInfo[]): RaftMemberInfo | undefined {
  const ms = n.managerStatus;
  if (ms?.raftId) {
    const byId = members.find((m) => m.raftId === ms.raftId);
    if (byId && (!ms.addr || !byId.addr || byId.addr === ms.addr)) return byId;
  }
  const addrs = [ms?.addr, n.status?.addr].filter((a): a is string => !!a && a.includes(':'));
  return members.find((m) => m.addr && addrs.includes(m.addr));
}

const PASS_MS = 1_000;

export class RoleLoop implements LeaderLoop {
  readonly name = 'roles';
  private refusedLogged = new Map<string, string>();

  constructor(
    private readonly state: ManagerState,
    private readonly raft: RaftMembership,
    private readonly clock: Clock,
  ) {}

  async run(ctx: LoopContext): Promise<void> {
    const pump = new Pump(() => this.pass(ctx), ctx.signal, ctx.log);
    follow(this.state, ctx.signal, (c) => {
      if (c.changes.some((ch) => ch.table === 'nodes')) pump.kick();
    });
    // raft membership and reachability change without store commits: look again periodically
    const tick = (): void => {
      if (ctx.signal.aborted) return;
      pump.kick();
      timer = this.clock.setTimer(PASS_MS, tick);
    };
    let timer = this.clock.setTimer(0, tick);
    try {
      await untilAborted(ctx, pump.failed);
    } finally {
      timer.cancel();
    }
  }

  private async pass(ctx: LoopContext): Promise<void> {
    const members = this.raft.members();
    const removed = new Set(this.raft.removedIds());
    const nodes = this.state.view((tx) => tx.all('nodes'));
    for (const n of nodes) {
      if (ctx.signal.aborted) return;
      const m = memberOfNode(n, members);
      if (m && n.spec?.desiredRole === NodeRole.WORKER) {
        await this.demote(ctx, n, m, members);
        return; // one membership change per pass
      }
      const next = this.desired(n, m, removed);
      if (next) {
        await this.state.update((tx) => {
          ctx.checkLeader();
          const cur = tx.get('nodes', n.id);
          if (!cur || cur.meta?.version !== n.meta?.version) return; // changed meanwhile: next pass
          tx.update('nodes', next);
        });
      }
    }
  }

  /** the node as it should be recorded, or undefined when it already is */
  private desired(n: Node, m: RaftMemberInfo | undefined, removed: Set<number>): Node | undefined {
    const desiredRole = n.spec?.desiredRole ?? NodeRole.WORKER;
    if (m) {
      const ms: ManagerStatus = {
        raftId: m.raftId,
        addr: m.addr,
        leader: m.leader,
        reachability: this.raft.isReachable(m.raftId) ? RaftMemberStatus.REACHABLE : RaftMemberStatus.UNREACHABLE,
      };
      const cur = n.managerStatus;
      const same = cur && cur.raftId === ms.raftId && cur.addr === ms.addr && cur.leader === ms.leader && cur.reachability === ms.reachability;
      if (same && n.role === NodeRole.MANAGER) return undefined;
      return { ...n, role: NodeRole.MANAGER, managerStatus: ms };
    }
    if (n.managerStatus?.raftId && removed.has(n.managerStatus.raftId)) {
      // it left raft (a demotion, or Raft.Leave): a worker from now on, until promoted again
      const { managerStatus: _gone, ...rest } = n;
      return { ...rest, role: NodeRole.WORKER, spec: { ...n.spec!, desiredRole: NodeRole.WORKER } };
    }
    if (desiredRole === NodeRole.WORKER && (n.role !== NodeRole.WORKER || n.managerStatus)) {
      const { managerStatus: _gone, ...rest } = n;
      return { ...rest, role: NodeRole.WORKER };
    }
    if (desiredRole === NodeRole.MANAGER && n.role === NodeRole.WORKER) {
      // promotion: the node's daemon sees role MANAGER at its next registration renewal and joins raft
      return { ...n, role: NodeRole.MANAGER };
    }
    return undefined;
  }

  private async demote(ctx: LoopContext, n: Node, m: RaftMemberInfo, members: RaftMemberInfo[]): Promise<void> {
    const why = this.raft.removalRefusal(m.raftId);
    if (why) {
      if (this.refusedLogged.get(n.id) !== why) ctx.log.warn('demotion waits: it would lose quorum', { nodeId: n.id, raftId: m.raftId, reason: why });
      this.refusedLogged.set(n.id, why);
      return;
    }
    this.refusedLogged.delete(n.id);
    if (m.raftId === this.raft.selfRaftId) {
      const to = members.find((x) => !x.learner && x.raftId !== m.raftId && this.raft.isReachable(x.raftId));
      if (!to) return;
      ctx.log.info('demoting the leader: handing leadership over first', { nodeId: n.id, to: to.raftId });
      await this.raft.transferLeadership(to.raftId).catch((err: unknown) => ctx.log.warn('leadership transfer failed', { to: to.raftId, err: errorMessage(err) }));
      return; // the new leader carries on
    }
    if (n.role !== NodeRole.WORKER) {
      // recorded first, so that the node finds itself a worker when it learns it left raft
      await this.state.update((tx) => {
        ctx.checkLeader();
        const cur = tx.get('nodes', n.id);
        if (!cur || cur.meta?.version !== n.meta?.version) return;
        tx.update('nodes', { ...cur, role: NodeRole.WORKER });
      });
    }
    ctx.checkLeader();
    ctx.log.info('demoting a manager: removing it from raft', { nodeId: n.id, raftId: m.raftId });
    await this.raft.removeMember(m.raftId).catch((err: unknown) => {
      // e.g. another membership change still pending: the next pass tries again
      ctx.log.info('removing a demoted manager from raft did not go through yet', { nodeId: n.id, raftId: m.raftId, err: errorMessage(err) });
    });
  }
}
