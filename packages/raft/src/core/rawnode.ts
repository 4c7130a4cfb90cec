// RawNode: the public face of the core. The driver feeds it ticks and messages, and repeatedly
// takes a Ready (what to persist, send and apply), handles it in order, then calls advance().
//
// Contract with the driver (the simulator in test/sim/cluster.ts follows it exactly):
// - Ready: (1) persist rd.snapshot (storage.applySnapshot), rd.entries (append, overwriting any
//   conflicting suffix) and rd.hardState, and sync; (2) only then send rd.messages, since some
//   acknowledge what was just persisted; (3) restore the state machine from rd.snapshot.data if
//   present, apply rd.committedEntries in order, calling applyConfChange() for ConfChange
//   entries; collect rd.readStates (a read for that context may be served once the state machine
//   has applied up to its index); (4) advance(rd). Do not call ready() again before advance().
// - Exception to (2), the leader's own write (Raft thesis §10.2.1): splitEarly(rd) returns the
//   messages that may be sent before or while rd is persisted: the appends, heartbeats and
//   snapshot chunks of a leader of the current term whose term and vote are already durable
//   (none of them acknowledges a local write); everything else waits for the sync. Between
//   Readies a leader may also send, under the same rule, the appends flushAppends() moves into
//   raft.msgs while its write is in flight. This is safe because the leader's own entries count
//   towards commitment only once advance() reports them persisted (selfPersisted: its match is
//   the persisted index, never the last index). A follower or candidate persists first: its vote
//   and append answers promise durability, and a new term must be durable before it is used.
// - Restart: `new RawNode(config, storage)`. storage.initialState() returns the persisted
//   HardState and the ConfState *of the latest snapshot* (not the latest applied one): the node
//   restarts with applied = snapshot index and hands out the committed entries after it again, so
//   the driver restores the state machine from storage.snapshot().data and re-applies them,
//   conf changes included.
// - Snapshots and compaction are driven from above: after applying index i the driver may call
//   storage.createSnapshot(i, status().confState, stateMachineData) and then
//   storage.compact(i - keep). When a follower needs entries below storage.firstIndex(), the
//   leader reads storage.snapshot() and streams it in chunks of maxSnapshotChunk bytes, one
//   chunk in flight at a time (resent if no progress for 3 heartbeats); the follower hands the
//   reassembled snapshot out as Ready.snapshot.
// - A node joining the cluster starts from an empty log whose ConfState is the cluster's
//   bootstrap configuration (the one the founding members had at index 0), so that replaying the
//   log's conf changes gives the same result everywhere; or it receives a snapshot.
import { checkConfChange, cloneConfState, encodeConfChange } from './confchange.js';
import * as leader from './leader.js';
import { newMessage } from './message.js';
import { Raft, type TestingKnobs } from './raft.js';
import {
  EntryType,
  MessageType,
  NONE,
  RaftError,
  Role,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  type RaftStorageReader,
  type Ready,
  type SoftState,
} from './types.js';

export interface ProgressStatus {
  match: number;
  next: number;
  state: string;
  isLearner: boolean;
}

export interface Status {
  id: NodeId;
  term: number;
  leader: NodeId;
  role: Role;
  commit: number;
  applied: number;
  lastIndex: number;
  confState: ConfState;
  /** replication progress per member, on the leader only */
  progress: Record<number, ProgressStatus>;
}

const MAX_COMMITTED_BYTES = 64 * 1024 * 1024;

/** what a leader may send before its own write completes: none of these acknowledges a local write */
export const LEADER_EARLY: ReadonlySet<MessageType> = new Set([MessageType.Append, MessageType.Heartbeat, MessageType.Snapshot]);

export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  /** the last ready() was taken by a leader whose term and vote were already persisted */
  private lastReadyEarly = false;

  constructor(config: RaftConfig, storage: RaftStorageReader, knobs: TestingKnobs = {}) {
    this.raft = new Raft(config, storage, knobs);
    this.prevSoft = this.softState();
    this.prevHard = this.hardState();
  }

  private softState(): SoftState {
    return { leader: this.raft.lead, role: this.raft.role };
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }

  tick(): void {
    this.raft.tick();
  }

  /** feeds a message received from a peer */
  step(msg: Message): void {
    if (msg.from === NONE) throw new RaftError('InvalidArgument', 'raft: message without sender');
    this.raft.step(msg);
  }

  /** proposes data; on a follower it is forwarded to the leader (no guarantee it commits) */
  propose(data: Uint8Array): void {
    this.proposeEntry({ term: 0, index: 0, type: EntryType.Normal, data });
  }

  /** proposes a membership change (one at a time: throws ProposalDropped while one is pending) */
  proposeConfChange(cc: ConfChange): void {
    checkConfChange(this.raft.confState, cc);
    this.proposeEntry({ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) });
  }

  private proposeEntry(e: Entry): void {
    const r = this.raft;
    if (r.role === Role.Leader) {
      if (!leader.propose(r, [e])) {
        throw new RaftError('ProposalDropped', r.leadTransferee !== NONE ? 'raft: leadership transfer in progress' : 'raft: proposal dropped');
      }
      return;
    }
    if (r.lead === NONE) throw new RaftError('NotLeader', 'raft: no leader known', NONE);
    r.msgs.push(newMessage({ type: MessageType.Propose, from: r.id, to: r.lead, term: 0, entries: [e] }));
  }

  /**
   * Asks for a linearizable read point. The answer comes out as a ReadState in a later Ready:
   * once the state machine applied up to its index, a read reflects every earlier commit.
   */
  readIndex(context: Uint8Array): void {
    const r = this.raft;
    const m = newMessage({ type: MessageType.ReadIndex, from: r.id, to: r.lead, term: 0, context });
    if (r.role === Role.Leader) {
      r.step(m);
      return;
    }
    if (r.lead === NONE) throw new RaftError('NotLeader', 'raft: no leader known', NONE);
    r.msgs.push(m);
  }

  campaign(): void {
    this.raft.hup();
  }

  transferLeadership(to: NodeId): void {
    const r = this.raft;
    if (r.role !== Role.Leader) throw new RaftError('NotLeader', 'raft: not the leader', r.lead);
    leader.transferLeadership(r, to);
  }

  hasReady(): boolean {
    const r = this.raft;
    if (r.pendingAppend || r.pendingCommit) return true;
    const ss = this.softState();
    if (ss.leader !== this.prevSoft.leader || ss.role !== this.prevSoft.role) return true;
    const hs = this.hardState();
    if (!sameHardState(hs, this.prevHard)) return true;
    if (r.log.unstable.entries.length > 0 || r.log.hasPendingSnapshot()) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    return r.log.hasNextCommittedEntries();
  }

  /** the pending effects; the caller handles them in order and then calls advance(rd) */
  ready(): Ready {
    const r = this.raft;
    leader.flushAppends(r);
    const rd: Ready = {
      entries: r.log.unstableEntries(),
      committedEntries: r.log.nextCommittedEntries(MAX_COMMITTED_BYTES),
      messages: coalesceAppendResps(r.msgs),
      readStates: r.readStates,
    };
    const ss = this.softState();
    if (ss.leader !== this.prevSoft.leader || ss.role !== this.prevSoft.role) {
      rd.softState = ss;
      this.prevSoft = ss;
    }
    const hs = this.hardState();
    // what the previous Readies persisted: this one may be sent early only if its term and vote are durable
    this.lastReadyEarly = r.role === Role.Leader && hs.term === this.prevHard.term && hs.vote === this.prevHard.vote;
    if (!sameHardState(hs, this.prevHard)) {
      rd.hardState = hs;
      this.prevHard = hs;
    }
    if (r.log.unstable.snapshot) rd.snapshot = r.log.unstable.snapshot;
    r.msgs = [];
    r.readStates = [];
    return rd;
  }

  /**
   * Splits the messages of the Ready just taken into those the driver may send before it
   * persists that Ready (the leader's replication traffic of its current term, when its term and
   * vote are already durable: see the contract at the top) and those that must wait for the write.
   * `allowed` says whether the leader may also send appends early while this Ready is written.
   */
  splitEarly(rd: Ready): { allowed: boolean; early: Message[]; late: Message[] } {
    if (!this.lastReadyEarly) return { allowed: false, early: [], late: rd.messages };
    const term = this.raft.term;
    const early: Message[] = [];
    const late: Message[] = [];
    for (const m of rd.messages) (m.term === term && LEADER_EARLY.has(m.type) ? early : late).push(m);
    return { allowed: true, early, late };
  }

  /**
   * Moves the appends that proposals and commit advances left pending into raft.msgs (ready()
   * does it too): a driver that sends the leader's appends before the next Ready calls it first.
   */
  flushAppends(): void {
    leader.flushAppends(this.raft);
  }

  /**
   * lazyCommit: sends the current commit index to the followers that were not sent it yet (empty
   * appends, taken by the next Ready or flushAppends); the driver calls it a moment after
   * hasUnsentCommit() became true, unless an append took the commit index along meanwhile.
   */
  flushCommit(): void {
    leader.flushCommit(this.raft);
  }

  /** lazyCommit: this leader advanced its commit index and some follower was not sent it yet */
  hasUnsentCommit(): boolean {
    return leader.commitUnsent(this.raft);
  }

  /** the driver persisted, sent and applied `rd` */
  advance(rd: Ready): void {
    const r = this.raft;
    if (rd.snapshot) {
      r.log.stableSnapTo(rd.snapshot.metadata.index);
      r.log.appliedTo(rd.snapshot.metadata.index);
    }
    const lastEnt = rd.entries[rd.entries.length - 1];
    if (lastEnt) r.log.stableTo(lastEnt.index, lastEnt.term);
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted) r.log.appliedTo(lastCommitted.index);
    if (r.role === Role.Leader) leader.selfPersisted(r);
  }

  /** applies a committed membership change (call it when applying the ConfChange entry) */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  reportUnreachable(id: NodeId): void {
    leader.reportUnreachable(this.raft, id);
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    leader.reportSnapshot(this.raft, id, ok);
  }

  /**
   * The transport saw the stream to `id` break (its process died, not merely went quiet). If `id`
   * led, its lease is dropped and this returns true: the driver then calls campaignIfLeaderGone()
   * after a delay of failoverRank(id) steps, so that the survivors do not all campaign at once.
   */
  peerStreamBroken(id: NodeId): boolean {
    return this.raft.peerStreamBroken(id);
  }

  /** campaigns if the leader was reported gone (peerStreamBroken) and none was heard from since */
  campaignIfLeaderGone(): void {
    this.raft.campaignIfLeaderGone();
  }

  /** this node's turn (0 first) to campaign after `gone` died, or -1 if it may not campaign */
  failoverRank(gone: NodeId): number {
    return this.raft.failoverRank(gone);
  }

  status(): Status {
    const r = this.raft;
    const progress: Record<number, ProgressStatus> = {};
    if (r.role === Role.Leader) {
      for (const pr of r.prs.values()) {
        progress[pr.id] = { match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner };
      }
    }
    return {
      id: r.id,
      term: r.term,
      leader: r.lead,
      role: r.role,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      confState: cloneConfState(r.confState),
      progress,
    };
  }
}

/**
 * Drops a successful AppendResp when a later one in the same list goes to the same node in the
 * same term with an index at least as high: it says all the earlier one says (the follower's log
 * matches the leader's up to that index). A follower that took several appends in one go then
 * answers once.
 */
export function coalesceAppendResps(msgs: Message[]): Message[] {
  let n = 0;
  for (const m of msgs) if (m.type === MessageType.AppendResp && !m.reject) n++;
  if (n < 2) return msgs;
  const best = new Map<string, number>();
  const out: Message[] = [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i] as Message;
    if (m.type === MessageType.AppendResp && !m.reject) {
      const key = `${m.to}/${m.term}`;
      const later = best.get(key);
      if (later !== undefined && later >= m.index) continue;
      best.set(key, m.index);
    }
    out.push(m);
  }
  return out.reverse();
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
