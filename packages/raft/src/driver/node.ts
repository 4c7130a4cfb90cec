// RaftNode: runs a RawNode against level storage, the gRPC transport and a real tick timer.
// The Ready loop: persist (synced) -> send -> apply -> advance, except that the leader sends its
// appends before its own fsync (Raft thesis §10.2.1: its own copy counts towards the quorum only
// once persisted; RawNode.splitEarly says which messages may go early), while followers persist
// before they answer. Proposals arriving while a save
// is in flight pile up in the core and go out together in the next Ready (group commit).
import { EventEmitter } from 'node:events';
import { realClock, sleep, type Clock, type Timer } from '../clock.js';
import { decodeConfChange } from '../core/confchange.js';
import { LEADER_EARLY, RawNode, type Status } from '../core/rawnode.js';
import {
  ConfChangeType,
  EntryType,
  NONE,
  RaftError,
  Role,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type Ready,
  type Snapshot,
} from '../core/types.js';
import { LevelStorage } from '../storage/level-storage.js';
import { createLogger, type Logger } from '../transport/logger.js';
import { RaftTransport } from '../transport/transport.js';
import { decodeEnvelope } from './envelope.js';
import { ProposalForwarder } from './forward.js';
import { CommitFlush, DeferredCommitIndex } from './lazy-commit.js';
import { RemovalProbe, bootstrapEmptyStorage, promoteCaughtUpLearner, removalRefusal } from './membership.js';
import { withDefaults, type Member, type RaftNodeOptions, type ResolvedOptions, type StateMachine } from './options.js';
import { PendingProposals, PendingReads } from './pending.js';
import { SnapshotScheduler } from './snapshots.js';
import { trace } from '../trace.js';

export interface RaftNodeEvents {
  leader: [{ leader: NodeId; term: number }];
  role: [Role];
  /** this node was removed from the cluster */
  removed: [];
}

export class RaftNode extends EventEmitter<RaftNodeEvents> {
  readonly id: NodeId;
  readonly clusterId: string;
  readonly transport: RaftTransport;
  readonly log: Logger;
  /** time, timers and randomness of this node, its transport and its services */
  readonly clock: Clock;
  private node!: RawNode;
  private readonly sm: StateMachine;
  private readonly o: ResolvedOptions;
  private readonly members = new Map<NodeId, string>();
  private removed = new Set<NodeId>();
  /** when a message from each peer last arrived (membership checks: who is reachable) */
  private readonly heard = new Map<NodeId, number>();
  private applied = 0;
  private readonly snapshots: SnapshotScheduler;
  private readonly proposals = new PendingProposals();
  private readonly reads = new PendingReads();
  private appliedWaiters: { index: number; resolve: () => void }[] = [];
  private ticker: Timer | undefined;
  private readonly removalProbe: RemovalProbe;
  /** 'removed' was emitted */
  private removedSelf = false;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private stopped = false;
  private fatal: Error | undefined;
  private readonly forwarder: ProposalForwarder;
  private lastLeader: NodeId = NONE;
  private saving = false;
  /** the Ready being written allows the leader to send appends before the write completes */
  private earlyOk = false;
  private readonly deferredCommit = new DeferredCommitIndex();
  private notifyScheduled = false;
  /** sends a commit advance no append took along (commitDelayMs) */
  private readonly commitFlush: CommitFlush;

  private constructor(
    private readonly storage: LevelStorage,
    opts: RaftNodeOptions,
  ) {
    super();
    this.o = withDefaults(opts);
    this.id = opts.id;
    this.clock = opts.clock ?? realClock;
    this.clusterId = opts.clusterId;
    this.sm = opts.stateMachine;
    this.log = opts.log ?? createLogger('raft', { raftId: opts.id });
    trace?.(`id=${opts.id}`, 0);
    this.snapshots = new SnapshotScheduler({ storage, sm: this.sm, log: this.log, clock: this.clock, opts: this.o, stopped: () => this.stopped });
    this.commitFlush = new CommitFlush({
      delayMs: this.o.commitDelayMs,
      clock: this.clock,
      unsent: () => this.node.hasUnsentCommit(),
      flush: () => {
        if (this.stopped) return;
        this.node.flushCommit();
        this.notify();
      },
    });
    this.forwarder = new ProposalForwarder({ members: this.members, clock: this.clock, timeoutMs: this.o.requestTimeoutMs });
    this.removalProbe = new RemovalProbe({
      self: this.id,
      members: this.members,
      leader: () => this.node.raft.lead,
      leaderlessMs: this.o.electionTicks * this.o.tickMs,
      done: () => this.stopped || this.removedSelf,
      onRemoved: (peer) => {
        this.removedSelf = true;
        this.removed.add(this.id);
        this.log.warn('this member was removed from the cluster (a peer says so)', { peer });
        this.emit('removed');
      },
      clock: this.clock,
    });
    this.transport = new RaftTransport({
      id: opts.id,
      clusterId: opts.clusterId,
      log: this.log.child({ component: 'raft-transport' }),
      clock: this.clock,
      handler: {
        onMessages: (msgs) => {
          if (this.stopped) return;
          const now = this.clock.now();
          for (const m of msgs) {
            this.heard.set(m.from, now);
            try {
              this.node.step(m);
            } catch (err) {
              this.log.warn('dropping message the core refused', { from: m.from, type: m.type, err });
            }
          }
          this.notify();
        },
        onUnreachable: (id) => {
          if (this.stopped) return;
          this.node.reportUnreachable(id);
          this.notify();
        },
        onSnapshotFailed: (id) => {
          if (this.stopped) return;
          this.node.reportSnapshot(id, false);
          this.notify();
        },
        onStreamBroken: (id, reason) => this.onStreamBroken(id, reason),
      },
    });
  }

  /** opens the storage, restores the state machine from its snapshot and starts ticking */
  static async start(opts: RaftNodeOptions): Promise<RaftNode> {
    const storage = await LevelStorage.open(opts.dataDir, opts.sync === undefined ? {} : { sync: opts.sync });
    const n = new RaftNode(storage, opts);
    try {
      await n.init();
    } catch (err) {
      n.transport.stop();
      await storage.close();
      throw err;
    }
    return n;
  }

  private async init(): Promise<void> {
    const o = this.o;
    if (this.storage.isEmpty()) await bootstrapEmptyStorage(this.storage, o, this.log, this.clock);
    for (const [id, addr] of this.storage.bootstrapAddrs()) this.members.set(id, addr);
    for (const m of [...(o.bootstrap ?? []), ...(o.peers ?? [])]) this.members.set(m.id, m.addr);
    const snap = this.storage.snapshot();
    if (snap.metadata.index > 0) await this.restoreSnapshot(snap);
    for (const [id, addr] of this.members) this.transport.addPeer(id, addr);
    this.node = new RawNode(
      {
        id: o.id,
        electionTicks: o.electionTicks,
        heartbeatTicks: o.heartbeatTicks,
        maxSizePerMsg: o.maxSizePerMsg,
        maxInflightMsgs: o.maxInflightMsgs,
        maxSnapshotChunk: o.maxSnapshotChunk,
        preVote: true,
        checkQuorum: true,
        lazyCommit: o.commitDelayMs > 0,
        randInt: (k) => Math.floor(this.clock.random() * k),
      },
      this.storage,
    );
    this.ticker = this.clock.setRepeating(o.tickMs, () => this.tick());
    this.removalProbe.start(Math.max(250, o.tickMs * 5));
    this.loopDone = this.loop().catch((err: unknown) => {
      this.fatal = err instanceof Error ? err : new Error(String(err));
      this.log.error('raft loop failed: stopping this node', { err: this.fatal });
      void this.stop();
    });
    // the only voter can't be outvoted and nobody else will lead: no need to wait out an
    // election timeout (30 ticks on shoald managers) before the first write
    const cs = this.node.raft.confState;
    if (cs.voters.length === 1 && cs.voters[0] === o.id) {
      this.node.campaign();
      this.notify();
    }
  }

  private async restoreSnapshot(snap: Snapshot): Promise<void> {
    const env = decodeEnvelope(snap.data);
    await this.sm.restore(env.data, snap.metadata);
    for (const id of env.removed) this.removed.add(id);
    const keep = new Set([...snap.metadata.confState.voters, ...snap.metadata.confState.learners]);
    for (const [id, addr] of env.members) if (keep.has(id)) this.members.set(id, addr);
    for (const id of [...this.members.keys()]) if (!keep.has(id) || this.removed.has(id)) this.members.delete(id);
    this.applied = snap.metadata.index;
    this.snapshots.restored(snap.metadata.index, snap.data.byteLength);
  }

  /**
   * The stream to or from `id` broke. If `id` leads, it most likely died: stop honouring its
   * lease at once (so that we grant the pre-votes of others who saw the same) and campaign after
   * failoverRank ticks: the first survivor in id order campaigns at once and has usually won
   * before the next one starts, so that the survivors do not split the vote (which would fall
   * back to the election timeout). This delay is the only one: the core adds none.
   */
  private onStreamBroken(id: NodeId, reason: string): void {
    if (this.stopped || !this.node.peerStreamBroken(id)) return;
    const rank = this.node.failoverRank(id);
    if (rank < 0) return;
    const delay = rank * this.o.tickMs;
    this.log.info('stream to the leader broke: pre-vote', { leader: id, reason, inMs: delay });
    const campaign = (): void => {
      if (this.stopped) return;
      this.node.campaignIfLeaderGone(); // a no-op once a leader was heard from
      this.notify();
    };
    if (delay === 0) campaign();
    else this.clock.setTimer(delay, campaign, { unref: true });
  }

  private tick(): void {
    if (this.stopped) return;
    this.node.tick();
    this.flushDeferredHardState();
    this.reads.expire(this.clock.now());
    if (this.o.autoPromote !== false) promoteCaughtUpLearner(this.node, this.members, this.log);
    this.notify();
  }

  /**
   * There is work for the Ready loop. It runs once the current I/O callbacks are done
   * (setImmediate): proposals and messages that arrive together are handled in one Ready (one
   * write, one append per follower) instead of one Ready each, at the cost of no added wait.
   */
  private notify(): void {
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    setImmediate(() => {
      this.notifyScheduled = false;
      if (this.saving && this.earlyOk && this.node.raft.role === Role.Leader) this.drainLeaderMessages();
      const w = this.wake;
      if (w) {
        this.wake = undefined;
        w();
      }
    });
  }

  /**
   * While the leader's own fsync is in flight, appends for proposals that arrived meanwhile go
   * out at once instead of waiting for the next Ready (pipelining, thesis §10.2.1). Only the
   * leader's replication messages are taken: anything else (e.g. a vote after stepping down)
   * waits for the Ready and its persistence.
   */
  private drainLeaderMessages(): void {
    const r = this.node.raft;
    if (this.stopped || r.role !== Role.Leader) return;
    this.node.flushAppends();
    if (r.msgs.length === 0) return;
    const out: Message[] = [];
    const keep: Message[] = [];
    for (const m of r.msgs) (LEADER_EARLY.has(m.type) && m.term === r.term ? out : keep).push(m);
    if (out.length === 0) return;
    r.msgs = keep;
    this.transport.send(out);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (!this.node.hasReady()) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      await this.handleReady(this.node.ready());
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (trace) {
      if (rd.entries.length > 0) trace('ready', (rd.entries[rd.entries.length - 1] as Entry).index);
      if (rd.committedEntries.length > 0) trace('commit', (rd.committedEntries[rd.committedEntries.length - 1] as Entry).index);
    }
    if (rd.softState) this.onSoftState(rd.softState.leader, rd.softState.role);
    // §10.2.1: a leader replicates while it writes its own copy; the rest waits for the write
    const { allowed, early, late } = this.node.splitEarly(rd);
    this.earlyOk = allowed;
    if (early.length > 0) this.transport.send(early);
    const hs = this.deferredCommit.toWrite(rd, this.storage.hardState());
    const durableLast = this.storage.lastIndex();
    let saved: Promise<unknown> | undefined;
    if (hs || rd.entries.length > 0 || rd.snapshot) {
      this.saving = true;
      saved = this.storage.save(hs, rd.entries, rd.snapshot).then(
        () => undefined,
        (err: unknown) => err,
      );
    }
    // Committed entries that are already in our durable log need not wait for this Ready's write
    // (committed entries are never overwritten): apply them while the write is in flight.
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1]?.index ?? 0;
    const applyFirst = !rd.snapshot && lastCommitted <= durableLast;
    try {
      if (applyFirst) await this.applyEntries(rd.committedEntries);
    } finally {
      if (saved) {
        const err = await saved;
        this.saving = false;
        if (err) throw err;
        if (trace && rd.entries.length > 0) trace('saved', (rd.entries[rd.entries.length - 1] as Entry).index);
      }
    }
    if (this.stopped) return;
    if (late.length > 0) this.transport.send(late); // e.g. a follower answers only what it persisted
    if (rd.snapshot) {
      this.log.info('installing snapshot from the leader', { index: rd.snapshot.metadata.index, bytes: rd.snapshot.data.byteLength });
      await this.restoreSnapshot(rd.snapshot);
      this.proposals.skippedTo(rd.snapshot.metadata.index);
      for (const [id, addr] of this.members) this.transport.addPeer(id, addr);
      for (const id of this.transport.peerIds()) if (!this.members.has(id)) this.transport.removePeer(id);
    }
    if (!applyFirst) await this.applyEntries(rd.committedEntries);
    if (trace && rd.committedEntries.length > 0) trace('applied', (rd.committedEntries[rd.committedEntries.length - 1] as Entry).index);
    for (const rs of rd.readStates) this.reads.readState(rs.context, rs.index, this.applied);
    this.node.advance(rd);
    this.snapshots.maybeSnapshot(this.applied, this.node.raft.confState, this.members, this.removed);
    this.commitFlush.schedule();
  }

  /** writes a deferred commit index (see DeferredCommitIndex) while nothing else is being written */
  private flushDeferredHardState(): void {
    if (this.saving) return;
    const hs = this.deferredCommit.take();
    if (hs) this.storage.save(hs, []).catch((err: unknown) => this.log.warn('writing the commit index failed', { err }));
  }

  private onSoftState(leader: NodeId, role: Role): void {
    this.emit('role', role);
    if (leader !== this.lastLeader) {
      this.lastLeader = leader;
      this.log.info('leader changed', { leader, term: this.node.raft.term, role });
      this.emit('leader', { leader, term: this.node.raft.term });
    }
  }

  private async applyEntries(ents: Entry[]): Promise<void> {
    let batch: Entry[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const b = batch;
      batch = [];
      await this.sm.apply(b);
    };
    for (const e of ents) {
      if (e.index <= this.applied) continue; // covered by the snapshot we restored at start
      if (e.type === EntryType.ConfChange) {
        await flush();
        this.applyConfChange(decodeConfChange(e.data));
      } else if (e.data.byteLength > 0) {
        batch.push(e);
      }
    }
    await flush();
    for (const e of ents) {
      if (e.index <= this.applied) continue;
      this.applied = e.index;
      this.proposals.applied(e.index, e.term);
    }
    this.reads.applied(this.applied);
    if (this.appliedWaiters.length > 0) {
      const ready = this.appliedWaiters.filter((w) => w.index <= this.applied);
      this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > this.applied);
      for (const w of ready) w.resolve();
    }
  }

  private applyConfChange(cc: ConfChange): void {
    this.node.applyConfChange(cc);
    if (cc.type === ConfChangeType.RemoveNode) {
      this.members.delete(cc.nodeId);
      this.removed.add(cc.nodeId);
      this.transport.removePeer(cc.nodeId);
      this.log.info('member removed', { member: cc.nodeId });
      if (cc.nodeId === this.id && !this.removedSelf) {
        this.removedSelf = true;
        this.emit('removed');
      }
      return;
    }
    if (cc.type === ConfChangeType.AddLearner && cc.context.byteLength > 0) {
      const addr = Buffer.from(cc.context).toString('utf8');
      this.members.set(cc.nodeId, addr);
      this.transport.addPeer(cc.nodeId, addr);
    }
    this.log.info('membership changed', { type: ConfChangeType[cc.type], member: cc.nodeId });
  }

  // ---- public API ----

  private check(): void {
    if (this.fatal) throw new RaftError('Unavailable', `raft node failed: ${this.fatal.message}`);
    if (this.stopped) throw new RaftError('Unavailable', 'raft node stopped');
  }

  /**
   * Proposes `data`; resolves with its index once it is committed and applied here. On a
   * follower it rejects with NotLeader (and the leader's id) unless `forward` is set.
   */
  propose(data: Uint8Array, opts: { forward?: boolean } = {}): Promise<{ index: number }> {
    try {
      this.check();
      const r = this.node.raft;
      if (r.role !== Role.Leader) {
        if (opts.forward && r.lead !== NONE) return this.forward(r.lead, data);
        throw new RaftError('NotLeader', 'not the leader', r.lead);
      }
      this.node.propose(data);
      const index = r.log.lastIndex();
      trace?.('propose', index);
      const p = new Promise<{ index: number }>((resolve, reject) => this.proposals.add(index, r.term, { resolve, reject }));
      this.notify();
      return p;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async forward(leader: NodeId, data: Uint8Array): Promise<{ index: number }> {
    const index = await this.forwarder.propose(leader, data);
    await this.waitApplied(index);
    return { index };
  }

  /** sends the followers the commit index now if some were not sent it yet (see commitDelayMs) */
  flushCommit(): void {
    if (this.stopped || !this.node.hasUnsentCommit()) return;
    this.node.flushCommit();
    this.notify();
  }

  /** resolves once this node applied `index` */
  waitApplied(index: number): Promise<void> {
    if (this.applied >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  /** a linearizable read point: resolves with the read index once this node applied it */
  readIndex(): Promise<number> {
    try {
      this.check();
      const ctx = this.reads.nextContext(this.id);
      // ask the core first: it refuses at once (e.g. no leader known), and a request registered
      // before that would stay behind and reject at its deadline with nobody listening. Its read
      // state can only come out of a later Ready, after the registration below.
      this.node.readIndex(ctx);
      const p = new Promise<number>((resolve, reject) => this.reads.add(ctx, { resolve, reject }, this.clock.now() + this.o.requestTimeoutMs));
      this.notify();
      return p;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private proposeChange(cc: ConfChange): Promise<{ index: number }> {
    try {
      this.check();
      const r = this.node.raft;
      if (r.role !== Role.Leader) throw new RaftError('NotLeader', 'not the leader', r.lead);
      const before = r.log.lastIndex();
      this.node.proposeConfChange(cc);
      const index = r.log.lastIndex();
      if (index === before) throw new RaftError('ProposalDropped', 'membership change dropped');
      const p = new Promise<{ index: number }>((resolve, reject) => this.proposals.add(index, r.term, { resolve, reject }));
      this.notify();
      return p;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** adds a member as a learner (promoted automatically once caught up, unless autoPromote is off) */
  addMember(id: NodeId, addr: string): Promise<{ index: number }> {
    if (this.removed.has(id)) return Promise.reject(new RaftError('InvalidArgument', `raft id ${id} was removed and cannot be reused`));
    return this.proposeChange({ type: ConfChangeType.AddLearner, nodeId: id, context: Buffer.from(addr) });
  }

  promote(id: NodeId): Promise<{ index: number }> {
    return this.proposeChange({ type: ConfChangeType.PromoteLearner, nodeId: id, context: new Uint8Array() });
  }

  removeMember(id: NodeId): Promise<{ index: number }> {
    return this.proposeChange({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array() });
  }

  /** asks the leader (this node) to hand leadership to `to`; resolves when `to` leads or rejects after the timeout */
  async transferLeadership(to: NodeId): Promise<void> {
    this.check();
    this.node.transferLeadership(to);
    this.notify();
    const deadline = this.clock.now() + this.o.requestTimeoutMs;
    while (this.node.raft.lead !== to) {
      if (this.clock.now() > deadline || this.stopped) throw new RaftError('Unavailable', `leadership transfer to ${to} did not complete`);
      await sleep(this.clock, this.o.tickMs / 2);
    }
  }

  status(): Status {
    return this.node.status();
  }

  get leader(): NodeId {
    return this.node.raft.lead;
  }

  get isLeader(): boolean {
    return this.node.raft.role === Role.Leader;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  get term(): number {
    return this.node.raft.term;
  }

  /** id -> address of every member, and whether it is a learner */
  memberList(): (Member & { learner: boolean })[] {
    const cs = this.node.raft.confState;
    return [...cs.voters, ...cs.learners].map((id) => ({ id, addr: this.members.get(id) ?? '', learner: cs.learners.includes(id) }));
  }

  /**
   * Whether `id` was heard from within an election timeout and our stream to it is up (a peer
   * whose process died is unreachable at once). This node always is. Meaningful on the leader,
   * which every member answers at each heartbeat.
   */
  isReachable(id: NodeId): boolean {
    if (id === this.id) return true;
    const t = this.heard.get(id);
    return t !== undefined && this.clock.now() - t <= this.o.electionTicks * this.o.tickMs && this.transport.peerState(id) === 'connected';
  }

  /**
   * Why removing member `id` now would cost the cluster its quorum (the leader's view), or
   * undefined when it is safe: the voters left must still have a reachable majority.
   */
  removalRefusal(id: NodeId): string | undefined {
    return removalRefusal(this.node.raft.confState, id, (v) => this.isReachable(v));
  }

  /** the cluster's bootstrap configuration (founding voters at index 0), handed to joining nodes */
  bootstrapConfState(): ConfState | undefined {
    return this.storage.bootstrapConfState();
  }

  removedIds(): NodeId[] {
    return [...this.removed];
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ticker?.cancel();
    this.commitFlush.stop();
    this.removalProbe.stop();
    this.transport.stop();
    this.forwarder.close();
    this.notify();
    await this.loopDone;
    await this.snapshots.inFlight;
    const err = this.fatal ?? new RaftError('Unavailable', 'raft node stopped');
    this.proposals.rejectAll(err);
    this.reads.rejectAll(err);
    const hs = this.deferredCommit.take();
    if (hs && !this.fatal) await this.storage.save(hs, []).catch(() => undefined);
    await this.storage.close();
  }
}
