// Manager: one manager node's state and services. It owns a Store whose Proposer is the RaftNode
// (one raft entry = one store entry; committed entries are applied into the store on every
// manager; raft snapshots are store snapshots, so a restarted manager rebuilds its store from its
// raft snapshot + log), serves Control (followers forward writes to the leader, whose Control
// address is its raft member address), Dispatcher, NodeCA and Raft on one gRPC server (its own
// when `listenAddr` is given, else the daemon's through services()), and runs the leader loops
// while raft says it leads: the bootstrap of the cluster object and of its own Node object,
// orchestrator, scheduler, updater, dispatcher and the tasks gauge. Logs and LogBroker are served
// on every manager (the leader's broker holds the agents' streams; followers forward; see logs/).
import { join } from 'node:path';
import { bindServer, createServer, grpc, RaftService, ShoalError, type WeightedPeer } from '@shoal/api';
import { RaftError, RaftNode, raftService, snapshotStaggerFor, type Entry, type Member, type StateMachine } from '@shoal/raft';
import { Store, type Proposer } from '@shoal/store';
import { ControlServer, type LeaderInfo } from './controlapi/server.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
import { LogBroker } from './logs/broker.js';
import { newObjectId } from './ids.js';
import { LogsServer } from './logs/server.js';
import { LeaderLoops, type LeadershipSource, type LeadershipState } from './leader-loops.js';
import { BootstrapLoop, controlLoops, DispatcherLoop, RoleLoop, type RaftMembership } from './loops/index.js';
import { ManagerMetrics } from './metrics.js';
import { StoreState } from './state/store-adapter.js';
import { realClock, type Clock } from './util/clock.js';
import { errorMessage, jsonLogger, type Logger } from './util/log.js';

export interface ManagerPeer {
  raftId: number;
  /** Raft + Control address of that manager */
  addr: string;
  nodeId?: string;
  learner?: boolean;
}

export interface ManagerRaftOptions {
  tickMs?: number;
  electionTicks?: number;
  snapshotEvery?: number;
  snapshotKeep?: number;
  /** snapshot once the entries applied since the last one hold this many bytes (raft's default: 64 MiB) */
  snapshotBytes?: number;
  /** fsync raft writes (default true) */
  sync?: boolean;
  requestTimeoutMs?: number;
}

/**
 * Per node, at most one incremental assignment message per this window (the first change after a
 * quiet window goes out at once): the loops' transactions in flight commit a few milliseconds
 * apart, and each would otherwise be a message to every node it places a task on.
 */
const ASSIGNMENT_BATCH_MS = 50;

/** longest run of applying committed entries before the event loop gets a turn */
const APPLY_SLICE_MS = 200;

/**
 * This manager's raft snapshotStagger: 0 to 3/8 by raft id (raft's snapshotStaggerFor). At
 * 100,000 tasks a snapshot of the store costs ~1.6 CPU-s on the leader and ~2.4 on each follower,
 * while the deploy waits on them: staggered, at most one manager is busy with it at a time. The
 * stagger scales the threshold in force, also when a large store's last snapshot is bigger than
 * snapshotBytes.
 */
export function snapshotStagger(raftId: number): number {
  return snapshotStaggerFor(raftId);
}

export interface ManagerOptions {
  nodeId: string;
  raftId: number;
  /** directory of the manager's dbs (raft log and snapshots under raft/) */
  dataDir: string;
  /** address the other managers and the agents reach this manager at (its raft member address) */
  advertiseAddr: string;
  /** raft cluster id and the cluster object's id (default "shoal") */
  clusterId?: string;
  hostname?: string;
  labels?: Record<string, string>;
  /** when set, the manager serves its own gRPC server there (tests, standalone use) */
  listenAddr?: string;
  /**
   * 'init': a new cluster whose voters are this manager and `peers` (ignored once dataDir holds
   * state); 'join': added through Raft.Join, `peers` are the current members; 'restart': recover
   * from dataDir (`peers` only supply addresses).
   */
  mode?: 'init' | 'join' | 'restart';
  peers?: ManagerPeer[];
  /**
   * 'join': the cluster's bootstrap configuration as Raft.Join answered it (the raft storage of a
   * joining manager starts from it; without it raft asks `peers`)
   */
  joinConfState?: { voters: number[]; learners: number[] };
  heartbeatPeriodMs?: number;
  logger?: Logger;
  clock?: Clock;
  newId?: () => string;
  raft?: ManagerRaftOptions;
  /** delay before a failed leader loop is restarted (default 1 s) */
  loopRestartDelayMs?: number;
}

/** gRPC implementations to add to the node's servers (what the daemon calls services()). */
export interface ManagerGrpcServices {
  control: grpc.UntypedServiceImplementation;
  dispatcher: grpc.UntypedServiceImplementation;
  nodeCA: grpc.UntypedServiceImplementation;
  raft: grpc.UntypedServiceImplementation;
  logs: grpc.UntypedServiceImplementation;
  logBroker: grpc.UntypedServiceImplementation;
}

/** Leadership as the loops see it: raft leads AND has applied everything committed before its term. */
class RaftLeadership implements LeadershipSource {
  private readyTerm = -1;
  private checking = -1;
  private readonly subs = new Set<(s: LeadershipState) => void>();
  constructor(
    private readonly raft: () => RaftNode | undefined,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  current(): LeadershipState {
    const r = this.raft();
    if (!r) return { leader: false, term: 0 };
    return { leader: r.isLeader && r.term === this.readyTerm, term: r.term };
  }

  subscribe(cb: (s: LeadershipState) => void): () => void {
    this.subs.add(cb);
    return () => void this.subs.delete(cb);
  }

  /** Called on every raft role/leader change. */
  changed(): void {
    const r = this.raft();
    if (r?.isLeader && this.readyTerm !== r.term && this.checking !== r.term) {
      // a read barrier commits an entry of our term and waits until it is applied: the store
      // then holds everything earlier leaders committed before the loops read it
      const term = r.term;
      this.checking = term;
      r.readIndex().then(
        () => {
          this.checking = -1;
          if (r.isLeader && r.term === term) {
            this.readyTerm = term;
            this.emit();
          }
        },
        (err: unknown) => {
          this.checking = -1;
          this.log.debug('leader read barrier failed; retrying', { term, err: errorMessage(err) });
          this.clock.setTimer(100, () => this.changed());
        },
      );
    }
    this.emit();
  }

  private emit(): void {
    const s = this.current();
    for (const cb of [...this.subs]) cb(s);
  }
}

function toShoalError(err: unknown): unknown {
  if (err instanceof RaftError) {
    const code = err.code === 'InvalidArgument' ? 'InvalidArgument' : 'Unavailable';
    return new ShoalError(code, err.code === 'NotLeader' ? 'not the leader (raft)' : `raft: ${err.message}`, { cause: err });
  }
  return err;
}

export class Manager {
  readonly nodeId: string;
  readonly raftId: number;
  readonly clusterId: string;
  readonly metrics: ManagerMetrics;
  readonly store: Store;
  readonly state: StoreState;
  readonly control: ControlServer;
  readonly dispatcher: Dispatcher;
  readonly logBroker: LogBroker;
  readonly logs: LogsServer;
  readonly leadership: RaftLeadership;
  readonly loops: LeaderLoops;
  /** resolves with a message when this manager learns it was removed from the cluster */
  readonly removed: Promise<string>;
  private raftNode: RaftNode | undefined;
  private raftImpl: grpc.UntypedServiceImplementation | undefined;
  private server: grpc.Server | undefined;
  private boundPort = 0;
  private readonly clock: Clock;
  private readonly log: Logger;
  private onRemoved: ((msg: string) => void) | undefined;
  private started = false;

  constructor(private readonly o: ManagerOptions) {
    this.nodeId = o.nodeId;
    this.raftId = o.raftId;
    this.clusterId = o.clusterId || 'shoal';
    this.clock = o.clock ?? realClock;
    this.log = (o.logger ?? jsonLogger()).child({ component: 'manager', nodeId: o.nodeId, raftId: o.raftId });
    const newId = o.newId ?? newObjectId;
    this.metrics = new ManagerMetrics();
    const proposer: Proposer = { propose: (entry) => this.propose(entry) };
    this.store = new Store({ proposer, clock: () => this.clock.now(), newId });
    this.state = new StoreState(this.store);
    this.removed = new Promise((resolve) => (this.onRemoved = resolve));
    this.removed.catch(() => undefined);

    const leaderInfo: LeaderInfo = { isLeader: () => this.isLeader(), leaderAddr: () => this.leaderAddr() };
    const membership: RaftMembership = {
      selfRaftId: o.raftId,
      members: () => this.members(),
      removedIds: () => this.raftNode?.removedIds() ?? [],
      isReachable: (id) => this.raftNode?.isReachable(id) ?? false,
      removalRefusal: (id) => (this.raftNode ? this.raftNode.removalRefusal(id) : 'raft is not started'),
      removeMember: (id) => this.removeManager(id),
      transferLeadership: (id) => this.transferLeadership(id),
    };
    const logger = o.logger ?? jsonLogger();
    this.control = new ControlServer(
      {
        state: this.state,
        newId,
        clock: this.clock,
        log: logger.child({ component: 'controlapi' }),
        readBarrier: async () => {
          const r = this.raftNode;
          if (!r) throw new ShoalError('Unavailable', 'raft is not started');
          await r.readIndex().catch((err: unknown) => Promise.reject(toShoalError(err)));
        },
        managerAddrs: () => this.members().map((m) => m.addr),
        membership,
      },
      { leader: leaderInfo, metrics: this.metrics },
    );
    this.dispatcher = new Dispatcher({
      state: this.state,
      newId,
      clock: this.clock,
      log: logger,
      metrics: this.metrics,
      ...(o.heartbeatPeriodMs !== undefined ? { heartbeatPeriodMs: o.heartbeatPeriodMs } : {}),
      assignmentBatchMs: ASSIGNMENT_BATCH_MS,
      managers: () => this.weightedPeers(),
    });
    this.logBroker = new LogBroker({ state: this.state, newId, clock: this.clock, log: logger });
    this.logs = new LogsServer(this.logBroker, leaderInfo, logger);
    this.leadership = new RaftLeadership(() => this.raftNode, this.clock, this.log);
    const deps = { state: this.state, clock: this.clock, newId, metrics: this.metrics };
    const self = { nodeId: o.nodeId, clusterId: this.clusterId, hostname: o.hostname ?? '', labels: o.labels ?? {}, raftId: o.raftId, addr: o.advertiseAddr };
    this.loops = new LeaderLoops(this.leadership, [new BootstrapLoop(this.state, self), new RoleLoop(this.state, membership, this.clock), ...controlLoops(deps), new DispatcherLoop(this.dispatcher)], {
      clock: this.clock,
      logger,
      restartDelayMs: o.loopRestartDelayMs ?? 1000,
    });
  }

  // ------------------------------------------------------------ lifecycle

  /** Opens raft from dataDir (restoring the store), serves (with listenAddr) and follows leadership. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const o = this.o;
    const self: Member = { id: o.raftId, addr: o.advertiseAddr };
    const others: Member[] = (o.peers ?? []).filter((p) => p.raftId !== o.raftId).map((p) => ({ id: p.raftId, addr: p.addr }));
    const mode = o.mode ?? 'init';
    const r = o.raft ?? {};
    const sm: StateMachine = {
      // A batch of committed entries can hold several transactions of a thousand tasks (the
      // loops propose a few at once): after APPLY_SLICE_MS of applying, the rest waits for one
      // turn of the event loop, so that heartbeats and raft messages are not held up behind a
      // long batch. Long enough that a group of placements (~100 ms) is applied, and so reaches
      // the dispatcher, in one piece.
      apply: async (entries: Entry[]) => {
        let since = performance.now();
        for (const e of entries) {
          this.store.apply(e.data, e.index);
          if (performance.now() - since < APPLY_SLICE_MS) continue;
          await new Promise((resolve) => setImmediate(resolve));
          since = performance.now();
        }
      },
      // captured now, encoded between other work: 100,000 tasks take seconds to encode
      snapshot: () => this.store.snapshotInSlices(() => new Promise((resolve) => setImmediate(resolve))),
      restore: (data) => this.store.restore(data),
    };
    const raft = await RaftNode.start({
      id: o.raftId,
      clusterId: this.clusterId,
      dataDir: join(o.dataDir, 'raft'),
      stateMachine: sm,
      ...(mode === 'init' ? { bootstrap: [self, ...others] } : {}),
      peers: mode === 'init' ? [] : others,
      ...(mode === 'join' && o.joinConfState ? { joinConfState: o.joinConfState } : {}),
      ...(r.tickMs !== undefined ? { tickMs: r.tickMs } : {}),
      ...(r.electionTicks !== undefined ? { electionTicks: r.electionTicks } : {}),
      ...(r.snapshotEvery !== undefined ? { snapshotEvery: r.snapshotEvery } : {}),
      ...(r.snapshotKeep !== undefined ? { snapshotKeep: r.snapshotKeep } : {}),
      ...(r.snapshotBytes !== undefined ? { snapshotBytes: r.snapshotBytes } : {}),
      snapshotStagger: snapshotStagger(o.raftId),
      ...(r.sync !== undefined ? { sync: r.sync } : {}),
      ...(r.requestTimeoutMs !== undefined ? { requestTimeoutMs: r.requestTimeoutMs } : {}),
      log: this.log.child({ component: 'raft' }),
    });
    this.raftNode = raft;
    this.raftImpl = raftService(raft) as unknown as grpc.UntypedServiceImplementation;
    const onChange = (): void => {
      this.metrics.raftTerm.set(raft.term);
      this.metrics.raftLeader.set(raft.isLeader ? 1 : 0);
      this.leadership.changed();
    };
    raft.on('leader', onChange);
    raft.on('role', onChange);
    raft.on('removed', () => {
      this.log.warn('this manager was removed from the cluster');
      this.onRemoved?.(`manager ${o.nodeId} (raft id ${o.raftId}) was removed from the cluster`);
    });
    if (o.listenAddr) {
      const server = createServer();
      this.register(server);
      this.boundPort = await bindServer(server, o.listenAddr);
      this.server = server;
    }
    this.loops.start();
    onChange();
    this.log.info('manager started', { mode, appliedIndex: raft.appliedIndex, storeIndex: this.store.index });
  }

  /** Stops the loops (flushing the dispatcher), raft and the server. */
  async stop(): Promise<void> {
    await this.loops.stop();
    await this.control.close();
    this.logBroker.close();
    this.logs.close();
    const raft = this.raftNode;
    if (raft) {
      raft.removeAllListeners();
      await raft.stop();
    }
    this.server?.forceShutdown();
    this.server = undefined;
    this.metrics.close();
    this.log.info('manager stopped');
  }

  /** The port the manager's own server is bound to (with listenAddr). */
  get port(): number {
    return this.boundPort;
  }

  get raft(): RaftNode | undefined {
    return this.raftNode;
  }

  // ------------------------------------------------------------ gRPC

  /** Service implementations for the daemon's servers; Raft answers Unavailable until start(). */
  services(): ManagerGrpcServices {
    const captured: Record<string, grpc.UntypedServiceImplementation> = {};
    const fake = { addService: (def: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation) => (captured[Object.values(def)[0]!.path.split('/')[1]!] = impl) };
    this.dispatcher.register(fake as unknown as grpc.Server);
    const nodeCA = Object.entries(captured).find(([k]) => k.endsWith('NodeCA'))![1];
    const dispatcher = Object.entries(captured).find(([k]) => k.endsWith('Dispatcher'))![1];
    return {
      control: this.control.implementation() as unknown as grpc.UntypedServiceImplementation,
      dispatcher,
      nodeCA,
      raft: this.lazyRaft(),
      logs: this.logs.logsImplementation(),
      logBroker: this.logs.brokerImplementation(),
    };
  }

  grpcServices(): ManagerGrpcServices {
    return this.services();
  }

  /** Adds Control, Dispatcher, NodeCA, Raft, Logs and LogBroker to `server`. */
  register(server: grpc.Server): void {
    this.control.register(server);
    this.dispatcher.register(server);
    this.logs.register(server);
    server.addService(RaftService, this.lazyRaft());
  }

  private lazyRaft(): grpc.UntypedServiceImplementation {
    const impl: Record<string, (call: never, cb?: never) => void> = {};
    for (const key of Object.keys(RaftService)) {
      impl[key] = (call: never, cb?: never) => {
        const real = this.raftImpl?.[key] as ((c: never, cb?: never) => void) | undefined;
        if (real) return real(call, cb);
        const err = Object.assign(new Error('raft is not started'), { code: grpc.status.UNAVAILABLE, details: 'raft is not started' });
        if (typeof cb === 'function') (cb as (e: unknown) => void)(err);
        else (call as unknown as { destroy(e: Error): void }).destroy(err);
      };
    }
    return impl as grpc.UntypedServiceImplementation;
  }

  // ------------------------------------------------------------ leadership and membership

  isLeader(): boolean {
    return this.raftNode?.isLeader ?? false;
  }

  /** Control (and Raft) address of the current leader, when known. */
  leaderAddr(): string | undefined {
    const r = this.raftNode;
    if (!r || !r.leader) return undefined;
    if (r.leader === this.raftId) return this.o.advertiseAddr;
    return r.memberList().find((m) => m.id === r.leader)?.addr || undefined;
  }

  members(): { raftId: number; addr: string; learner: boolean; leader: boolean }[] {
    const r = this.raftNode;
    if (!r) return [];
    return r.memberList().map((m) => ({ raftId: m.id, addr: m.id === this.raftId ? this.o.advertiseAddr : m.addr, learner: m.learner, leader: m.id === r.leader }));
  }

  /** Adds a manager as a raft learner (promoted once caught up). Leader only. */
  async addManager(raftId: number, addr: string): Promise<void> {
    await this.requireRaft().addMember(raftId, addr).catch((e: unknown) => Promise.reject(toShoalError(e)));
  }

  /** Removes a manager from raft. Leader only. */
  async removeManager(raftId: number): Promise<void> {
    await this.requireRaft().removeMember(raftId).catch((e: unknown) => Promise.reject(toShoalError(e)));
  }

  /** Promotes a learner to voter. Leader only. */
  async promote(raftId: number): Promise<void> {
    await this.requireRaft().promote(raftId).catch((e: unknown) => Promise.reject(toShoalError(e)));
  }

  /** Demotes a manager: it leaves raft (the node keeps running as a worker). Leader only. */
  async demote(raftId: number): Promise<void> {
    const why = this.requireRaft().removalRefusal(raftId);
    if (why) throw new ShoalError('FailedPrecondition', `can't demote raft member ${raftId}: ${why}`);
    await this.removeManager(raftId);
  }

  /** Hands leadership to another manager; resolves once it leads. */
  async transferLeadership(raftId: number): Promise<void> {
    await this.requireRaft().transferLeadership(raftId).catch((e: unknown) => Promise.reject(toShoalError(e)));
  }

  private requireRaft(): RaftNode {
    if (!this.raftNode) throw new ShoalError('Unavailable', 'raft is not started');
    return this.raftNode;
  }

  private weightedPeers(): WeightedPeer[] {
    const byRaft = new Map(this.state.view((tx) => tx.all('nodes')).flatMap((n) => (n.managerStatus ? [[n.managerStatus.raftId, n.id] as const] : [])));
    return this.members().map((m) => ({ nodeId: byRaft.get(m.raftId) ?? String(m.raftId), addr: m.addr, weight: 1 }));
  }

  private async propose(entry: Uint8Array): Promise<{ index: number }> {
    const raft = this.raftNode;
    if (!raft) throw new ShoalError('Unavailable', 'raft is not started');
    const t0 = performance.now();
    this.metrics.storeEntriesProposed.inc();
    this.metrics.storeEntryBytesProposed.inc(entry.length);
    try {
      const r = await raft.propose(entry);
      this.metrics.raftCommitLatency.observe((performance.now() - t0) / 1000);
      return r;
    } catch (err) {
      throw toShoalError(err);
    }
  }
}
