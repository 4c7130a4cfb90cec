// Membership pieces of RaftNode that only need what they are handed: the bootstrap configuration
// of an empty node (founding, or asked of the peers through Raft.Members), the removal probe
// (a removed member learns its removal), the promotion of caught-up learners and the quorum check
// before a removal.
import { RaftClient, createClient, grpc, type RaftMembersResponse } from '@shoal/api';
import { sleep, type Clock, type Timer } from '../clock.js';
import type { RawNode } from '../core/rawnode.js';
import { ConfChangeType, NONE, RaftError, Role, type ConfState, type NodeId } from '../core/types.js';
import type { LevelStorage } from '../storage/level-storage.js';
import type { Logger } from '../transport/logger.js';
import type { Member, RaftNodeOptions } from './options.js';

/** one Raft.Members call to `addr` (2 s deadline) */
async function askMembers(addr: string, clock: Clock): Promise<RaftMembersResponse> {
  const client = createClient(RaftClient, addr);
  try {
    return await new Promise<RaftMembersResponse>((resolve, reject) => {
      client.members({}, new grpc.Metadata(), { deadline: clock.now() + 2_000 }, (err, r) => (err ? reject(err) : resolve(r)));
    });
  } finally {
    client.close();
  }
}

/**
 * Writes the bootstrap configuration into empty storage. A founding member starts from the
 * founding voters; a joining one from the same configuration, as the cluster tells it (the
 * rawnode.ts contract): the log it replicates only holds the membership changes made after the
 * founding.
 */
export async function bootstrapEmptyStorage(
  storage: LevelStorage,
  o: Pick<RaftNodeOptions, 'id' | 'bootstrap' | 'peers' | 'joinConfState'> & { joinTimeoutMs: number },
  log: Logger,
  clock: Clock,
): Promise<void> {
  const known = new Map<NodeId, string>([...(o.bootstrap ?? []), ...(o.peers ?? [])].map((m) => [m.id, m.addr]));
  let boot: ConfState | undefined;
  if (o.bootstrap) boot = { voters: o.bootstrap.map((m) => m.id).sort((a, b) => a - b), learners: [] };
  else if (o.joinConfState && o.joinConfState.voters.length > 0) boot = o.joinConfState;
  else if (o.peers && o.peers.length > 0) {
    const fetched = await fetchBootstrap(o.id, o.peers, o.joinTimeoutMs, clock);
    boot = fetched.confState;
    for (const [id, addr] of fetched.addrs) if (!known.get(id)) known.set(id, addr);
  }
  if (boot) {
    // the founders' addresses too: the log only carries those of the members added later
    const addrs = new Map<NodeId, string>();
    for (const id of [...boot.voters, ...boot.learners]) {
      const addr = known.get(id);
      if (addr) addrs.set(id, addr);
    }
    await storage.bootstrap(boot, addrs);
    log.info('bootstrap configuration', { voters: boot.voters, learners: boot.learners, founding: o.bootstrap !== undefined });
  } else {
    log.warn('empty storage and no bootstrap configuration: waiting for a snapshot from the leader');
  }
}

/** asks the peers (Raft.Members) for the cluster's bootstrap configuration, until one knows it */
export async function fetchBootstrap(
  self: NodeId,
  peers: Member[],
  joinTimeoutMs: number,
  clock: Clock,
): Promise<{ confState: ConfState; addrs: Map<NodeId, string> }> {
  const deadline = clock.now() + joinTimeoutMs;
  let last = 'no answer';
  for (let round = 0; ; round++) {
    for (const p of peers) {
      if (p.id === self || !p.addr) continue;
      try {
        const res = await askMembers(p.addr, clock);
        const cs = res.bootstrap;
        if (cs && cs.voters.length > 0) {
          const addrs = new Map(res.members.filter((m) => m.addr).map((m) => [Number(m.raftId), m.addr] as const));
          return { confState: { voters: cs.voters.map(Number), learners: cs.learners.map(Number) }, addrs };
        }
        last = `${p.addr}: bootstrap configuration unknown`;
      } catch (err) {
        last = `${p.addr}: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    if (clock.now() > deadline) {
      throw new RaftError('Unavailable', `joining node ${self}: no peer gave the cluster's bootstrap configuration within ${joinTimeoutMs} ms (${last})`);
    }
    await sleep(clock, Math.min(1_000, 100 * 2 ** round));
  }
}

export interface RemovalProbeDeps {
  self: NodeId;
  /** the members' addresses (read live at each probe) */
  members: ReadonlyMap<NodeId, string>;
  /** the leader this node knows of, NONE if none */
  leader: () => NodeId;
  /** how long without a leader before asking (an election timeout) */
  leaderlessMs: number;
  /** the node stopped or already knows it was removed: nothing to do */
  done: () => boolean;
  /** a peer (`peer`) says this node was removed */
  onRemoved: (peer: NodeId) => void;
  clock: Clock;
}

/**
 * A removed member often never learns that its removal committed: the others stop talking to
 * it as soon as they apply it. Once it has gone without a leader for an election timeout it
 * asks its peers (Raft.Members); a peer that lists its id as removed settles it (ids are never
 * reused, so the removal did commit).
 */
export class RemovalProbe {
  private timer: Timer | undefined;
  private leaderlessSince = 0;
  private probing = false;

  constructor(private readonly d: RemovalProbeDeps) {}

  /** probes every `everyMs` (the timer does not keep the process alive) */
  start(everyMs: number): void {
    this.timer = this.d.clock.setRepeating(everyMs, () => this.probe(), { unref: true });
  }

  stop(): void {
    this.timer?.cancel();
  }

  private probe(): void {
    if (this.probing || this.d.done()) return;
    if (this.d.leader() !== NONE) {
      this.leaderlessSince = 0;
      return;
    }
    const now = this.d.clock.now();
    if (this.leaderlessSince === 0) this.leaderlessSince = now;
    if (now - this.leaderlessSince < this.d.leaderlessMs) return;
    this.probing = true;
    void this.askRemoved().finally(() => (this.probing = false));
  }

  private async askRemoved(): Promise<void> {
    for (const [id, addr] of this.d.members) {
      if (id === this.d.self || !addr || this.d.done()) continue;
      try {
        const res = await askMembers(addr, this.d.clock);
        if (res.removed.map(Number).includes(this.d.self) && !this.d.done()) {
          this.d.onRemoved(id);
          return;
        }
      } catch {
        // that peer is down too: ask the next
      }
    }
  }
}

/** on the leader, proposes promoting the first learner that has caught up (one change at a time) */
export function promoteCaughtUpLearner(node: RawNode, members: ReadonlyMap<NodeId, string>, log: Logger): void {
  const r = node.raft;
  if (r.role !== Role.Leader || r.confState.learners.length === 0 || r.pendingConfIndex > r.log.applied) return;
  for (const id of r.confState.learners) {
    const pr = r.prs.get(id);
    if (!pr || pr.match + 10 < r.log.committed || !members.has(id)) continue;
    try {
      node.proposeConfChange({ type: ConfChangeType.PromoteLearner, nodeId: id, context: new Uint8Array() });
      log.info('promoting caught-up learner', { member: id });
    } catch {
      // another change is pending: try again next tick
    }
    return;
  }
}

/**
 * Why removing member `id` from configuration `cs` would cost the cluster its quorum, or
 * undefined when it is safe: the voters left must still have a reachable majority.
 */
export function removalRefusal(cs: ConfState, id: NodeId, isReachable: (id: NodeId) => boolean): string | undefined {
  if (cs.learners.includes(id)) return undefined;
  if (!cs.voters.includes(id)) return `raft member ${id} is not a member`;
  const rest = cs.voters.filter((v) => v !== id);
  if (rest.length === 0) return `raft member ${id} is the last voter`;
  const reachable = rest.filter((v) => isReachable(v)).length;
  const quorum = Math.floor(rest.length / 2) + 1;
  if (reachable < quorum) {
    return `removing raft member ${id} would lose quorum: ${reachable} of the ${rest.length} remaining voters are reachable and ${quorum} are needed`;
  }
  return undefined;
}
