// The Raft role state machine (Ongaro & Ousterhout, "In Search of an Understandable Consensus
// Algorithm", and Ongaro's thesis). Pure: messages and ticks in, messages and log changes out.
// Leader-side replication lives in leader.ts; this file holds terms, roles, elections and the
// follower side.
import { RaftLog } from './log.js';
import { newMessage } from './message.js';
import { Progress } from './progress.js';
import { ReadOnly } from './readonly.js';
import { applyToConfState, cloneConfState } from './confchange.js';
import * as leader from './leader.js';
import {
  EntryType,
  MessageType,
  NONE,
  RaftError,
  Role,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type RaftConfig,
  type RaftStorageReader,
  type ReadState,
  type SnapshotMetadata,
  type Snapshot,
} from './types.js';

/** Deliberately unsafe behaviours, only for proving that the simulator's checks can fail. */
export interface TestingKnobs {
  /** the leader commits an entry of an earlier term by counting replicas (violates §5.4.2) */
  unsafeCommitOldTerm?: boolean;
  /** a node grants its vote even if it already voted for someone else in this term */
  unsafeDoubleVote?: boolean;
  /** a node grants its vote without checking that the candidate's log is up to date (§5.4.1) */
  unsafeIgnoreLogOnVote?: boolean;
}

interface SnapshotAssembly {
  meta: SnapshotMetadata;
  parts: Uint8Array[];
  offset: number;
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = Role.Follower;
  readonly log: RaftLog;
  confState: ConfState;
  readonly prs = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee: NodeId = NONE;
  pendingConfIndex = 0;
  readOnly = new ReadOnly();
  /** ReadIndex requests that wait for the first commit of the leader's term */
  pendingReadIndex: Message[] = [];
  private snapRecv: SnapshotAssembly | undefined;
  /** the transport told us the leader's process died: its lease no longer holds */
  leaderGone = false;
  /** leader: new entries to replicate, and whether the commit index moved, not yet sent (leader.flushAppends) */
  pendingAppend = false;
  pendingCommit = false;

  constructor(
    readonly cfg: RaftConfig,
    storage: RaftStorageReader,
    readonly knobs: TestingKnobs = {},
  ) {
    if (cfg.id <= 0) throw new RaftError('InvalidArgument', 'raft: id must be positive');
    if (cfg.heartbeatTicks <= 0 || cfg.electionTicks <= cfg.heartbeatTicks) {
      throw new RaftError('InvalidArgument', 'raft: need 0 < heartbeatTicks < electionTicks');
    }
    this.id = cfg.id;
    this.log = new RaftLog(storage);
    const { hardState, confState } = storage.initialState();
    this.confState = cloneConfState(confState);
    if (hardState.commit > 0) this.log.commitTo(Math.min(hardState.commit, this.log.lastIndex()));
    this.becomeFollower(hardState.term, NONE);
    this.vote = hardState.vote;
  }

  // ---- configuration helpers ----

  isVoter(id: NodeId): boolean {
    return this.confState.voters.includes(id);
  }
  promotable(): boolean {
    return this.isVoter(this.id);
  }
  quorum(): number {
    return Math.floor(this.confState.voters.length / 2) + 1;
  }

  send(p: Partial<Message> & { type: MessageType; to: NodeId }): void {
    const local = p.type === MessageType.Propose || p.type === MessageType.ReadIndex;
    this.msgs.push(newMessage({ from: this.id, term: local ? 0 : this.term, ...p }));
  }

  // ---- role transitions ----

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.leaderGone = false;
    this.pendingAppend = false;
    this.pendingCommit = false;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NONE;
    this.votes.clear();
    this.prs.clear();
    this.pendingConfIndex = 0;
    this.readOnly = new ReadOnly();
    this.pendingReadIndex = [];
  }

  resetRandomizedElectionTimeout(): void {
    const n = this.cfg.electionTicks;
    this.randomizedElectionTimeout = n + this.cfg.randInt(n);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = Role.Follower;
  }

  private becomePreCandidate(): void {
    // Pre-vote (thesis §9.6): no term change, so a node that cannot win does not disrupt.
    this.role = Role.PreCandidate;
    this.votes.clear();
    this.lead = NONE;
    this.electionElapsed = 0;
    this.resetRandomizedElectionTimeout();
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.role = Role.Leader;
    const next = this.log.lastIndex() + 1;
    for (const v of this.confState.voters) this.prs.set(v, new Progress(v, next, this.cfg.maxInflightMsgs, false));
    for (const l of this.confState.learners) this.prs.set(l, new Progress(l, next, this.cfg.maxInflightMsgs, true));
    const self = this.prs.get(this.id);
    if (self) {
      // only what the driver has durably persisted counts towards the quorum
      self.match = this.log.persisted;
      self.becomeReplicate();
      self.recentActive = true;
    }
    // conservatively, a conf change may be pending anywhere in the uncommitted log
    this.pendingConfIndex = this.log.lastIndex();
    // §5.4.2: commit entries of earlier terms by committing an entry of this term
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array() }]);
    leader.bcastAppend(this);
  }

  appendEntries(ents: Entry[]): void {
    let li = this.log.lastIndex();
    for (const e of ents) {
      e.term = this.term;
      e.index = ++li;
    }
    this.log.append(ents);
  }

  // ---- elections ----

  private hasUnappliedConfChanges(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    for (const e of this.log.slice(lo, this.log.committed + 1, Number.MAX_SAFE_INTEGER)) {
      if (e.type === EntryType.ConfChange) return true;
    }
    return false;
  }

  /** starts an election (a pre-vote first, if enabled) unless this node cannot or should not */
  hup(transfer = false): void {
    if (this.role === Role.Leader || !this.promotable()) return;
    if (this.hasUnappliedConfChanges()) return;
    if (this.cfg.preVote && !transfer) this.campaign('pre');
    else this.campaign(transfer ? 'transfer' : 'election');
  }

  private campaign(kind: 'pre' | 'election' | 'transfer'): void {
    let voteTerm: number;
    let type: MessageType;
    if (kind === 'pre') {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
      type = MessageType.PreVote;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
      type = MessageType.Vote;
    }
    if (this.poll(this.id, false) === 'won') {
      if (kind === 'pre') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const v of this.confState.voters) {
      if (v === this.id) continue;
      this.send({ type, to: v, term: voteTerm, index, logTerm, transfer: kind === 'transfer' });
    }
  }

  private poll(from: NodeId, reject: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(from)) this.votes.set(from, !reject);
    let granted = 0;
    let rejected = 0;
    for (const v of this.confState.voters) {
      const g = this.votes.get(v);
      if (g === true) granted++;
      else if (g === false) rejected++;
    }
    const q = this.quorum();
    if (granted >= q) return 'won';
    if (rejected >= q) return 'lost';
    return 'pending';
  }

  private inLease(): boolean {
    if (this.leaderGone) return false;
    return this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTicks;
  }

  private handleVoteRequest(m: Message): void {
    const pre = m.type === MessageType.PreVote;
    const respType = pre ? MessageType.PreVoteResp : MessageType.VoteResp;
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (pre && m.term > this.term) ||
      (!pre && this.knobs.unsafeDoubleVote === true && this.role !== Role.Leader);
    const upToDate = this.knobs.unsafeIgnoreLogOnVote === true || this.log.isUpToDate(m.index, m.logTerm);
    if (canVote && upToDate && !(pre && this.outranks(m))) {
      // a granted pre-vote answers in the term the candidate would campaign in
      this.send({ type: respType, to: m.from, term: m.term });
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, term: this.term, reject: true });
    }
  }

  /**
   * After a leader's crash every survivor may campaign at about the same moment (the break is
   * seen everywhere at once, and load can skew the drivers' stagger). If each granted the others'
   * pre-votes they could all turn candidate and split the vote, falling back to the election
   * timeout. So a voter that lost its leader this way refuses the pre-vote of a higher id whose
   * log is not more up to date than its own: of such rivals only the best (most up-to-date log,
   * then lowest id) collects their grants. Pre-votes are advisory (no term or vote changes), so
   * safety does not depend on this; a rival whose messages cannot reach us is not refused.
   */
  private outranks(m: Message): boolean {
    if (!this.leaderGone || !this.promotable() || m.from < this.id) return false;
    const lastTerm = this.log.lastTerm();
    const moreUpToDate = m.logTerm > lastTerm || (m.logTerm === lastTerm && m.index > this.log.lastIndex());
    return !moreUpToDate;
  }

  // ---- stepping ----

  step(m: Message): void {
    if (m.term === 0) {
      // local messages (proposals and reads forwarded by followers) carry no term
    } else if (m.term > this.term) {
      if (m.type === MessageType.PreVote || m.type === MessageType.Vote) {
        // §4.2.3: a node that heard from a leader recently ignores requests to vote
        if (!m.transfer && this.inLease()) return;
      }
      if (m.type === MessageType.PreVote) {
        // a pre-vote request never changes our term
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // the term is bumped when the pre-vote is won
      } else {
        const fromLeader =
          m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot;
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      const fromLeader =
        m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot;
      if ((this.cfg.checkQuorum || this.cfg.preVote) && fromLeader) {
        // tell a stale leader about the newer term so that it steps down
        this.send({ type: MessageType.AppendResp, to: m.from });
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResp, to: m.from, reject: true });
      }
      return;
    }

    if (m.type === MessageType.PreVote || m.type === MessageType.Vote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case Role.Leader:
        leader.stepLeader(this, m);
        return;
      case Role.Candidate:
      case Role.PreCandidate:
        this.stepCandidate(m);
        return;
      case Role.Follower:
        this.stepFollower(m);
        return;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
      case MessageType.Heartbeat:
      case MessageType.Snapshot:
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case MessageType.PreVoteResp:
      case MessageType.VoteResp: {
        const expected = this.role === Role.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
        if (m.type !== expected) return;
        const res = this.poll(m.from, m.reject);
        if (res === 'won') {
          if (this.role === Role.PreCandidate) this.campaign('election');
          else this.becomeLeader();
        } else if (res === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return; // proposals and reads are dropped while there is no leader
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Propose:
      case MessageType.ReadIndex:
        if (this.lead === NONE) return;
        this.msgs.push({ ...m, to: this.lead });
        return;
      case MessageType.Append:
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.heardFromLeader(m.from);
        this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
        this.send({ type: MessageType.HeartbeatResp, to: m.from, context: m.context });
        return;
      case MessageType.Snapshot:
        this.heardFromLeader(m.from);
        this.handleSnapshotChunk(m);
        return;
      case MessageType.TimeoutNow:
        // §3.10: the leader asks us to start an election at once, bypassing leases
        this.hup(true);
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  private heardFromLeader(id: NodeId): void {
    this.electionElapsed = 0;
    this.lead = id;
    this.leaderGone = false;
  }

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: MessageType.AppendResp, to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: MessageType.AppendResp, to: m.from, index: lastNew });
      return;
    }
    // §5.3 consistency check failed: hint where our logs may match, skipping whole terms
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      type: MessageType.AppendResp,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  private handleSnapshotChunk(m: Message): void {
    const meta = m.snapshot;
    if (!meta) return;
    const ack = (offset: number, done: boolean): void =>
      this.send({ type: MessageType.SnapshotResp, to: m.from, index: meta.index, snapshotOffset: offset, snapshotDone: done });
    if (meta.index <= this.log.committed) {
      // we already have everything the snapshot covers
      this.snapRecv = undefined;
      ack(0, true);
      this.send({ type: MessageType.AppendResp, to: m.from, index: this.log.committed });
      return;
    }
    const same = (a: SnapshotMetadata): boolean => a.index === meta.index && a.term === meta.term;
    if (m.snapshotOffset === 0 && (!this.snapRecv || !same(this.snapRecv.meta))) {
      this.snapRecv = { meta, parts: [], offset: 0 };
    }
    const rs = this.snapRecv;
    if (!rs || !same(rs.meta) || m.snapshotOffset !== rs.offset) {
      ack(rs && same(rs.meta) ? rs.offset : 0, false);
      return;
    }
    rs.parts.push(m.snapshotData.slice());
    rs.offset += m.snapshotData.byteLength;
    if (!m.snapshotDone) {
      ack(rs.offset, false);
      return;
    }
    this.snapRecv = undefined;
    const data = new Uint8Array(rs.offset);
    let off = 0;
    for (const p of rs.parts) {
      data.set(p, off);
      off += p.byteLength;
    }
    const installed = this.restore({ metadata: meta, data });
    ack(rs.offset, true);
    this.send({ type: MessageType.AppendResp, to: m.from, index: installed ? this.log.lastIndex() : this.log.committed });
  }

  /** installs a snapshot received from the leader; false if the log already covers it */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.log.committed) return false;
    if (this.log.matchTerm(s.metadata.index, s.metadata.term)) {
      // our log already contains the snapshot's last entry: just move the commit index
      this.log.commitTo(s.metadata.index);
      return false;
    }
    this.log.restore(s);
    this.confState = cloneConfState(s.metadata.confState);
    return true;
  }

  // ---- time ----

  tick(): void {
    if (this.role === Role.Leader) leader.tickLeader(this);
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup();
      return;
    }
    if (this.role === Role.PreCandidate && this.leaderGone && this.electionElapsed >= this.cfg.heartbeatTicks) {
      // our leader died: a voter that has not noticed yet ignores our pre-vote (its lease still
      // holds) without answering, so ask again every heartbeat instead of waiting for the
      // election timeout. A pre-vote changes no term: repeating it disrupts nobody.
      this.hup();
    }
  }

  /**
   * The stream to `id` broke (its process died, not merely went quiet). If `id` is our leader,
   * its lease no longer holds: we grant the pre-votes of others who saw the same, and return
   * true. When to campaign is the driver's call (campaignIfLeaderGone): every follower sees the
   * break at the same moment, and campaigning all at once would split the vote.
   */
  peerStreamBroken(id: NodeId): boolean {
    if (this.role !== Role.Follower || id === NONE || id !== this.lead) return false;
    this.leaderGone = true;
    return true;
  }

  /** starts a pre-vote if our leader was reported gone and no leader has been heard from since */
  campaignIfLeaderGone(): void {
    if (this.role !== Role.Follower || !this.leaderGone) return;
    this.electionElapsed = 0;
    this.hup();
  }

  /**
   * This node's place (0 first) among the voters that may campaign once `gone` died, or -1 if it
   * may not. Drivers stagger the survivors' campaigns by it: the first usually wins before the
   * next starts, so they do not split the vote (and no randomness is needed).
   */
  failoverRank(gone: NodeId): number {
    if (!this.promotable() || gone === this.id) return -1;
    return this.confState.voters
      .filter((v) => v !== gone)
      .sort((a, b) => a - b)
      .indexOf(this.id);
  }

  // ---- membership ----

  applyConfChange(cc: ConfChange): ConfState {
    this.confState = applyToConfState(this.confState, cc);
    if (this.role === Role.Leader) leader.onConfChange(this);
    return cloneConfState(this.confState);
  }
}
