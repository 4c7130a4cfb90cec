// The deterministic simulation of a Raft cluster: one seed chooses the configuration, every
// fault, every message delay and every client operation. Invariants are checked after every step.
import { decodeConfChange } from '../../src/core/confchange.js';
import { contextKey } from '../../src/core/message.js';
import type { TestingKnobs } from '../../src/core/raft.js';
import { ConfChangeType, EntryType, RaftError, Role, type ConfState, type Entry, type NodeId, type RaftConfig, type Ready } from '../../src/core/types.js';
import { Checker, Violation } from './invariants.js';
import { decodeOp, encodeOp, KvStateMachine, type WriteOp } from './kv.js';
import { SimNetwork } from './network.js';
import { SimNode } from './node.js';
import { Rng } from './prng.js';
import type { HistoryOp, PendingOp, SimOptions, SimResult } from './types.js';

export type { HistoryOp, SimOptions, SimResult } from './types.js';

const KEYS = ['x', 'y', 'z'];

export class Simulation {
  readonly rng: Rng;
  readonly net: SimNetwork;
  readonly checker = new Checker();
  readonly nodes = new Map<NodeId, SimNode>();
  now = 0;
  /** a logical clock for the history: every event gets a new value */
  private seq = 0;
  private nextOpId = 1;
  private nextNodeId: NodeId;
  readonly history: HistoryOp[] = [];
  private readonly pending = new Map<number, PendingOp>(); // by client
  private readonly clients: number[];
  /** write ops acknowledged to a client, by op id, with the index they were applied at */
  readonly acked = new Map<number, number>();
  private readonly cfgBase: Omit<RaftConfig, 'id' | 'randInt'>;
  private readonly snapEvery: number;
  private readonly keep: number;
  private readonly knobs: TestingKnobs;
  private readonly trace: ((line: string) => void) | undefined;
  private crashReadyRate: number;
  private faultsOn = true;
  private readonly bootstrap: ConfState;
  private readonly inReady = new Set<NodeId>();
  /** campaigns after a leader's crash, staggered by failoverRank as the driver does */
  private campaigns: { at: number; node: NodeId; rn: NonNullable<SimNode['rn']> }[] = [];
  private stats = { committed: 0, elections: 0, crashes: 0, confChanges: 0, snapshots: 0, acked: 0 };
  private readonly rates: { part: number; heal: number; crash: number; restart: number; conf: number; transfer: number; op: number };

  constructor(private readonly opts: SimOptions) {
    this.rng = new Rng(opts.seed);
    const r = this.rng;
    this.knobs = opts.knobs ?? {};
    this.trace = opts.trace;
    this.net = new SimNetwork(r.fork(), { dropRate: r.float() * 0.15, dupRate: r.float() * 0.05, maxDelay: r.range(0, 4) });
    this.cfgBase = {
      electionTicks: 10,
      heartbeatTicks: r.range(1, 3),
      maxSizePerMsg: r.pick([64, 256, 1024, 65536]),
      maxInflightMsgs: r.pick([1, 2, 4, 16]),
      maxSnapshotChunk: r.pick([64, 256, 1024, 1 << 20]),
      preVote: true,
      checkQuorum: true,
      // half the seeds run as the real driver does (commit advances ride on the next append or
      // heartbeat, or go out at the next tick: flushCommit below); chosen without drawing from
      // the PRNG, so that every seed's faults stay what they were
      lazyCommit: opts.seed % 2 === 1,
    };
    this.snapEvery = r.pick([8, 20, 50, 100000]);
    this.keep = r.range(0, 5);
    this.crashReadyRate = r.chance(0.5) ? 0.002 : 0;
    this.rates = {
      part: r.float() * 0.03,
      heal: 0.01 + r.float() * 0.04,
      crash: r.float() * 0.01,
      restart: 0.02 + r.float() * 0.05,
      conf: r.float() * 0.02,
      transfer: r.float() * 0.005,
      op: 0.05 + r.float() * 0.3,
    };
    if (opts.profile === 'crashy') {
      this.cfgBase.maxSizePerMsg = 1;
      this.rates.crash = 0.02 + this.rates.crash * 3;
      this.rates.restart = 0.1 + this.rates.restart;
      this.rates.conf = 0;
      this.crashReadyRate = 0.01;
    }
    const size = r.range(3, 5);
    const voters = Array.from({ length: size }, (_, i) => i + 1);
    this.nextNodeId = size + 1;
    this.bootstrap = { voters, learners: [] };
    for (const id of voters) this.addNode(id, this.bootstrap).start();
    this.clients = Array.from({ length: r.range(2, 5) }, (_, i) => i);
  }

  private log(line: string): void {
    this.trace?.(`t=${this.now} ${line}`);
  }

  private addNode(id: NodeId, cs: ConfState): SimNode {
    const rng = this.rng.fork();
    const cfg: RaftConfig = { ...this.cfgBase, id, randInt: (n) => rng.int(n) };
    const n = new SimNode(id, cs, cfg, this.knobs);
    this.nodes.set(id, n);
    return n;
  }

  private node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  /** the configuration as applied by the most advanced node */
  latestConf(): ConfState {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.rn && !n.retired && (!best || n.appliedIndex > best.appliedIndex)) best = n;
    }
    return best?.rn?.raft.confState ?? { voters: [], learners: [] };
  }

  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.upNodes()) {
      if (n.rn?.raft.role === Role.Leader && (!best || (n.rn.raft.term > (best.rn?.raft.term ?? 0)))) best = n;
    }
    return best;
  }

  // ---- the driver: handle a Ready exactly as the real driver does ----

  private handleReady(n: SimNode): void {
    const rn = n.rn;
    if (!rn) return;
    if (this.inReady.has(n.id)) throw new Error(`handleReady re-entered for node ${n.id}`);
    this.inReady.add(n.id);
    try {
      this.drain(n, rn);
    } finally {
      this.inReady.delete(n.id);
    }
  }

  private drain(n: SimNode, rn: NonNullable<SimNode['rn']>): void {
    while (rn === n.rn && rn.hasReady()) {
      const rd = rn.ready();
      if (rd.softState?.role === Role.Leader) {
        this.stats.elections++;
        this.log(`n${n.id} leader of term ${rn.raft.term}`);
        this.checker.leaderElected(n, rn.raft.term);
      }
      const crashAt = this.faultsOn && this.rng.chance(this.crashReadyRate) ? this.rng.int(3) : -1;
      // as the real driver does, a leader sends its appends while it writes its own copy (thesis
      // §10.2.1; RawNode.splitEarly): its entries count towards commitment only once advance()
      // reports them persisted. A crash before the sync then loses what was already sent.
      const { early, late } = rn.splitEarly(rd);
      if (early.length > 0) this.net.send(this.now, early);
      // 1. write to the volatile buffer, then sync; a crash before sync loses the writes
      if (crashAt === 0) return this.crash(n, 'before sync');
      this.persist(n, rd);
      // 2. a follower sends only after the sync: its answers acknowledge what it persisted
      if (crashAt === 1) return this.crash(n, 'after sync, before send');
      if (late.length > 0) this.net.send(this.now, late);
      if (crashAt === 2) return this.crash(n, 'after send, before apply');
      // 3. apply
      this.apply(n, rd);
      // 4. advance
      rn.advance(rd);
      this.maybeCompact(n);
    }
  }

  private persist(n: SimNode, rd: Ready): void {
    if (rd.snapshot) {
      n.durable.applySnapshot(rd.snapshot);
      this.checker.snapshotInstalled(n, rd.snapshot.metadata.index, rd.snapshot.metadata.term);
    }
    if (rd.entries.length > 0) {
      const floor = n.durable.firstIndex() - 1;
      n.durable.append(rd.entries);
      this.checker.persisted(n, rd.entries.filter((e) => e.index > floor));
    }
    if (rd.hardState) n.durable.setHardState(rd.hardState);
  }

  private apply(n: SimNode, rd: Ready): void {
    const rn = n.rn;
    if (!rn) return;
    if (rd.snapshot) {
      n.sm = KvStateMachine.restore(rd.snapshot.data);
      n.appliedIndex = rd.snapshot.metadata.index;
      this.log(`n${n.id} installed snapshot at ${n.appliedIndex}`);
      this.stats.snapshots++;
      this.resolveWrites(n);
    }
    for (const e of rd.committedEntries) {
      if (n.rn !== rn) return; // removed from the cluster while applying
      this.applyEntry(n, e);
    }
    for (const rs of rd.readStates) {
      for (const p of this.pending.values()) {
        if (p.node === n.id && p.ctx === contextKey(rs.context)) p.readIndex = rs.index;
      }
    }
    this.resolveReads(n);
  }

  private applyEntry(n: SimNode, e: Entry): void {
    const rn = n.rn as NonNullable<SimNode['rn']>;
    if (e.index <= n.appliedIndex) throw new Violation(`node ${n.id} applied index ${e.index} twice`);
    if (e.index !== n.appliedIndex + 1) throw new Violation(`node ${n.id} skipped from ${n.appliedIndex} to ${e.index}`);
    this.checker.appliedEntry(n, e);
    n.appliedIndex = e.index;
    if (e.index > this.stats.committed) this.stats.committed = e.index;
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      const cs = rn.applyConfChange(cc);
      this.checker.configuration(n, e.index, cs);
      this.log(`n${n.id} applied conf change ${ConfChangeType[cc.type]} ${cc.nodeId} at ${e.index}: voters=${cs.voters} learners=${cs.learners}`);
      if (cc.type === ConfChangeType.RemoveNode) {
        const gone = this.nodes.get(cc.nodeId);
        if (gone && !gone.retired) {
          gone.retired = true;
          if (gone.up) this.crash(gone, 'removed from the cluster');
        }
      }
      return;
    }
    const op = decodeOp(e.data);
    if (!op) return;
    const result = n.sm.apply(op);
    for (const [client, p] of this.pending) {
      if (p.node === n.id && p.op.id === op.id) {
        p.op.output = p.op.kind === 'cas' ? result === 'true' : undefined;
        this.complete(client, p, e.index);
      }
    }
  }

  private complete(client: number, p: PendingOp, index: number): void {
    p.op.ret = ++this.seq;
    this.pending.delete(client);
    if (p.op.kind !== 'get') {
      this.acked.set(p.op.id, index);
      this.stats.acked++;
    }
  }

  /** after a snapshot install, writes that the snapshot covers are known to be applied */
  private resolveWrites(n: SimNode): void {
    for (const [client, p] of this.pending) {
      if (p.node !== n.id || p.op.kind === 'get') continue;
      const r = n.sm.results.get(p.op.id);
      if (r === undefined) continue;
      p.op.output = p.op.kind === 'cas' ? r === 'true' : undefined;
      this.complete(client, p, n.appliedIndex);
    }
  }

  private resolveReads(n: SimNode): void {
    for (const [client, p] of this.pending) {
      if (p.node !== n.id || p.op.kind !== 'get' || p.readIndex === undefined) continue;
      if (n.appliedIndex < p.readIndex) continue;
      p.op.output = n.sm.get(p.op.key);
      this.complete(client, p, n.appliedIndex);
    }
  }

  private maybeCompact(n: SimNode): void {
    const rn = n.rn;
    if (!rn) return;
    const snapIndex = n.durable.snapshot().metadata.index;
    if (n.appliedIndex - snapIndex < this.snapEvery) return;
    n.durable.createSnapshot(n.appliedIndex, rn.raft.confState, n.sm.snapshot());
    n.durable.compact(Math.max(n.durable.firstIndex() - 1, n.appliedIndex - this.keep));
  }

  // ---- faults ----

  private crash(n: SimNode, why: string): void {
    if (!n.up) return;
    this.log(`n${n.id} crashes (${why})`);
    this.stats.crashes++;
    n.crash();
    this.net.dropNode(n.id);
    for (const [client, p] of this.pending) {
      if (p.node !== n.id) continue;
      if (p.op.kind === 'get') this.forget(p.op); // a read without an answer had no effect
      this.pending.delete(client);
    }
    // the kernel closes the dead process's sockets: peers see their streams to it break; as the
    // driver does, a survivor that lost its leader campaigns after failoverRank steps
    for (const other of this.upNodes()) {
      const rn = other.rn;
      if (rn && this.net.linked(n.id, other.id) && this.rng.chance(0.9) && rn.peerStreamBroken(n.id)) {
        const rank = rn.failoverRank(n.id);
        if (rank >= 0) this.campaigns.push({ at: this.now + rank, node: other.id, rn });
      }
    }
  }

  private restart(n: SimNode): void {
    if (n.up || n.retired) return;
    this.log(`n${n.id} restarts`);
    n.start();
    this.handleReady(n);
  }

  private forget(op: HistoryOp): void {
    const i = this.history.lastIndexOf(op);
    if (i >= 0) this.history.splice(i, 1);
  }

  private injectFaults(): void {
    const r = this.rng;
    const members = [...this.nodes.values()].filter((n) => !n.retired).map((n) => n.id);
    if (members.length > 1 && r.chance(this.rates.part)) {
      const kind = r.int(3);
      if (kind === 0) {
        const shuffled = r.shuffle(members.slice());
        const cut = r.range(1, Math.max(1, shuffled.length - 1));
        this.net.partition(shuffled.slice(0, cut), shuffled.slice(cut));
        this.log(`partition ${shuffled.slice(0, cut)} | ${shuffled.slice(cut)}`);
      } else if (kind === 1) {
        const a = r.pick(members);
        const b = r.pick(members);
        if (a !== b) {
          this.net.cut(a, b);
          this.log(`one-way cut ${a} -> ${b}`);
        }
      } else {
        const a = this.leader()?.id ?? r.pick(members);
        this.net.partition([a], members.filter((m) => m !== a));
        this.log(`isolate ${a}`);
      }
    }
    if (r.chance(this.rates.heal)) {
      this.net.healAll();
      this.log('heal network');
    }
    if (r.chance(this.rates.crash)) {
      const up = this.upNodes().filter((n) => !n.retired);
      const lead = this.leader();
      const victim = lead && r.chance(0.5) ? lead : up.length > 0 ? r.pick(up) : undefined;
      if (victim) this.crash(victim, 'fault');
    }
    if (r.chance(this.rates.restart)) {
      const down = [...this.nodes.values()].filter((n) => !n.up && !n.retired);
      if (down.length > 0) this.restart(r.pick(down));
    }
    if (r.chance(this.rates.conf)) this.changeMembership();
    if (r.chance(this.rates.transfer)) {
      const lead = this.leader();
      const voters = lead?.rn?.raft.confState.voters ?? [];
      const to = voters.length > 0 ? r.pick(voters) : 0;
      if (lead?.rn && to !== 0 && to !== lead.id) {
        try {
          lead.rn.transferLeadership(to);
          this.log(`transfer leadership ${lead.id} -> ${to}`);
        } catch {
          /* not possible right now */
        }
        this.handleReady(lead);
      }
    }
  }

  private changeMembership(): void {
    const lead = this.leader();
    if (!lead?.rn) return;
    const cs = lead.rn.raft.confState;
    const r = this.rng;
    const size = cs.voters.length + cs.learners.length;
    const choices: ('add' | 'promote' | 'remove')[] = [];
    if (size < 5) choices.push('add');
    if (cs.learners.length > 0 && cs.voters.length < 5) choices.push('promote');
    if (cs.voters.length > 3 || (cs.learners.length > 0 && r.chance(0.3))) choices.push('remove');
    if (choices.length === 0) return;
    const what = r.pick(choices);
    let cc;
    if (what === 'add') {
      // reuse a node that was created for an add that never committed
      let fresh = [...this.nodes.values()].find((n) => !n.retired && !cs.voters.includes(n.id) && !cs.learners.includes(n.id) && n.durable.lastIndex() === 0);
      if (!fresh) {
        // a joining node starts from the cluster's bootstrap configuration (index 0), as the
        // current leader hands it on (Raft.Join) from its own storage, whether it founded the
        // cluster or joined it; it learns the rest from the log or from a snapshot
        const boot = this.opts.unsafeJoinWithoutBootstrap ? { voters: [], learners: [] } : lead.durable.bootstrapConfState();
        if (!boot) throw new Violation(`leader ${lead.id} does not know the bootstrap configuration`);
        fresh = this.addNode(this.nextNodeId++, boot);
        fresh.start();
        this.log(`n${fresh.id} created to join with bootstrap voters=${boot.voters}`);
      }
      cc = { type: ConfChangeType.AddLearner, nodeId: fresh.id, context: new Uint8Array() };
    } else if (what === 'promote') {
      cc = { type: ConfChangeType.PromoteLearner, nodeId: r.pick(cs.learners), context: new Uint8Array() };
    } else {
      const pool = cs.voters.length > 3 ? [...cs.voters, ...cs.learners] : cs.learners;
      cc = { type: ConfChangeType.RemoveNode, nodeId: r.pick(pool), context: new Uint8Array() };
    }
    try {
      lead.rn.proposeConfChange(cc);
      this.stats.confChanges++;
      this.log(`n${lead.id} proposes ${ConfChangeType[cc.type]} ${cc.nodeId}`);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
    }
    this.handleReady(lead);
  }

  // ---- clients ----

  private clientActs(allowNew: boolean): void {
    for (const [client, p] of this.pending) {
      if (this.now >= p.deadline) {
        // outcome unknown: a write stays open in the history, a read is forgotten
        if (p.op.kind === 'get') this.forget(p.op);
        this.pending.delete(client);
      }
    }
    if (!allowNew) return;
    for (const client of this.clients) {
      if (this.pending.has(client) || !this.rng.chance(this.rates.op)) continue;
      const up = this.upNodes().filter((n) => !n.retired);
      if (up.length === 0) return;
      const n = this.rng.pick(up);
      this.invoke(client, n, this.rng.int(10));
    }
  }

  private invoke(client: number, n: SimNode, dice: number): void {
    const rn = n.rn;
    if (!rn) return;
    const key = this.rng.pick(KEYS);
    const id = this.nextOpId++;
    const kind = dice < 4 ? 'get' : dice < 8 ? 'put' : 'cas';
    const value = kind === 'get' ? null : `v${id}`;
    const expect = kind === 'cas' ? (this.rng.chance(0.3) ? null : `v${this.rng.range(Math.max(1, id - 10), id)}`) : null;
    const op: HistoryOp = { id, key, kind, value, expect, output: undefined, invoke: ++this.seq, ret: undefined };
    this.history.push(op);
    const p: PendingOp = { op, node: n.id, deadline: this.now + 80 };
    try {
      if (kind === 'get') {
        p.ctx = contextKey(new TextEncoder().encode(`r${id}`));
        rn.readIndex(new TextEncoder().encode(`r${id}`));
      } else {
        const w: WriteOp = kind === 'put' ? { id, kind, key, value: value as string } : { id, kind: 'cas', key, expect, value: value as string };
        rn.propose(encodeOp(w));
      }
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      this.forget(op); // rejected at once: it never entered the log
      return;
    }
    this.pending.set(client, p);
    this.handleReady(n);
  }

  // ---- the main loop ----

  private step(allowOps: boolean): void {
    if (this.campaigns.length > 0) {
      const due = this.campaigns.filter((c) => c.at <= this.now);
      this.campaigns = this.campaigns.filter((c) => c.at > this.now);
      for (const c of due) {
        const n = this.nodes.get(c.node);
        if (!n || n.rn !== c.rn) continue; // crashed since
        c.rn.campaignIfLeaderGone();
        this.handleReady(n);
      }
    }
    this.now++;
    for (const n of this.upNodes()) {
      n.rn?.tick();
      if (this.cfgBase.lazyCommit && n.rn?.hasUnsentCommit()) n.rn.flushCommit();
      this.handleReady(n);
    }
    for (const n of this.upNodes()) this.handleReady(n);
    for (const m of this.net.due(this.now)) {
      const to = this.nodes.get(m.to);
      if (!to?.rn) continue;
      to.rn.step(m);
      this.handleReady(to);
    }
    this.clientActs(allowOps);
  }

  run(): SimResult {
    const chaos = this.opts.chaosTicks ?? 400;
    const bound = this.opts.livenessBound ?? 600;
    try {
      for (let i = 0; i < chaos; i++) {
        this.injectFaults();
        this.step(true);
      }
      this.heal();
      const healedAt = this.now;
      let probe: { id: number; index?: number } | undefined;
      while (!this.settled(probe)) {
        if (this.now - healedAt > bound) {
          const lead = this.leader();
          throw new Violation(
            `liveness: not settled ${bound} ticks after healing (leader ${lead?.id ?? 'none'}, pending ${this.pending.size}, ` +
              `probe ${probe ? (probe.index ?? 'unacked') : 'none'}, applied ${this.upNodes().map((n) => `${n.id}:${n.appliedIndex}`).join(' ')})`,
          );
        }
        if ((this.now - healedAt) % 40 === 0 && probe?.index === undefined) probe = this.proposeProbe() ?? probe;
        this.step(false);
        if (probe && probe.index === undefined) probe.index = this.acked.get(probe.id);
      }
      this.finalChecks();
      return this.result(true);
    } catch (err) {
      if (err instanceof Violation) return this.result(false, err.message);
      throw err;
    }
  }

  private result(ok: boolean, reason?: string): SimResult {
    const r: SimResult = { seed: this.opts.seed, ok, ticks: this.now, history: this.history, stats: this.stats };
    if (reason !== undefined) r.reason = reason;
    return r;
  }

  private heal(): void {
    this.faultsOn = false;
    this.crashReadyRate = 0;
    this.net.healAll();
    this.net.faults = { ...this.net.faults, dropRate: 0, dupRate: 0 };
    this.log('heal everything');
    for (const n of this.nodes.values()) if (!n.retired) this.restart(n);
  }

  /** a write through the leader that must commit once the cluster is healthy */
  private proposeProbe(): { id: number } | undefined {
    const lead = this.leader();
    if (!lead?.rn) return undefined;
    const id = this.nextOpId++;
    const op: HistoryOp = { id, key: 'probe', kind: 'put', value: `p${id}`, expect: null, output: undefined, invoke: ++this.seq, ret: undefined };
    try {
      lead.rn.propose(encodeOp({ id, kind: 'put', key: 'probe', value: `p${id}` }));
    } catch {
      return undefined;
    }
    this.history.push(op);
    this.pending.set(-1 - id, { op, node: lead.id, deadline: Number.MAX_SAFE_INTEGER });
    this.handleReady(lead);
    return { id };
  }

  private settled(probe: { id: number; index?: number } | undefined): boolean {
    if (!probe || probe.index === undefined) return false;
    if ([...this.pending.keys()].some((k) => k >= 0)) return false;
    const lead = this.leader();
    if (!lead?.rn) return false;
    const conf = this.latestConf();
    const members = [...conf.voters, ...conf.learners].map((id) => this.node(id));
    const commit = lead.rn.raft.log.committed;
    return members.every((m) => m.up && m.appliedIndex === commit && m.rn?.raft.lead === lead.id);
  }

  private finalChecks(): void {
    const conf = this.latestConf();
    const members = [...conf.voters, ...conf.learners].map((id) => this.node(id));
    const first = members[0];
    if (!first) throw new Violation('no members left');
    for (const m of members) {
      for (const [opId, index] of this.acked) {
        if (!m.sm.results.has(opId)) {
          throw new Violation(`lost write: op ${opId} acknowledged at index ${index} is not applied on node ${m.id}`);
        }
      }
      if (m.sm.fingerprint() !== first.sm.fingerprint()) {
        throw new Violation(`state machines of nodes ${first.id} and ${m.id} differ at index ${m.appliedIndex}`);
      }
    }
  }
}

export function runSeed(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
