// The Dispatcher and NodeCA services: nodes register with a join token, keep one session,
// heartbeat within a TTL (a node that misses 3 periods goes DOWN and its tasks are orphaned),
// receive their full assignment set then incremental changes, and report task status, which is
// batched into few store transactions. Runs on the leader: start() on gaining leadership,
// stop() on losing it (every write goes through the store, which refuses on a follower).
import {
  AssignmentsType,
  DispatcherService,
  NodeAvailability,
  NodeCAService,
  NodeRole,
  NodeState,
  ShoalError,
  isoTime,
  msDuration,
  type AssignmentChange,
  type AssignmentsMessage,
  type AssignmentsRequest,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type IssueNodeCertificateRequest,
  type IssueNodeCertificateResponse,
  type Node,
  type SessionMessage,
  type Task,
  type SessionRequest,
  type UpdateTaskStatusRequest,
  type WeightedPeer,
  grpc,
} from '@shoal/api';
import { getCluster, requireCluster } from '../ca/cluster.js';
import { roleForToken } from '../ca/join-tokens.js';
import type { ManagerMetrics } from '../metrics.js';
import type { Change, Commit, ManagerState } from '../state/state.js';
import { realClock, type Clock, type Timer } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/log.js';
import { applyTaskChanges, assignmentChanged, assignmentKey, assignmentSet, diffAssignments } from './assignments.js';
import { orphanNodeTasks } from './node-down.js';
import { StatusBatcher } from './status-batcher.js';

export interface DispatcherOptions {
  state: ManagerState;
  newId: () => string;
  clock?: Clock;
  log?: Logger;
  metrics?: ManagerMetrics;
  heartbeatPeriodMs?: number;
  /** missed periods before a node is down (default 3) */
  gracePeriods?: number;
  statusBatchMs?: number;
  statusBatchMax?: number;
  /** per node, at most one incremental assignment message per this many ms (default 0: per turn) */
  assignmentBatchMs?: number;
  managers?: () => WeightedPeer[];
}

interface SessionEntry {
  id: string;
  nodeId: string;
  timer: Timer | undefined;
  end: () => void;
}

export class Dispatcher {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly periodMs: number;
  private readonly grace: number;
  private readonly sessions = new Map<string, SessionEntry>(); // by node id
  private readonly expiry = new Map<string, Timer>(); // nodes known but without a session yet
  private readonly batcher: StatusBatcher;
  /**
   * open Assignments streams by node id: one store subscription fans commits out to them, each
   * with the commit's changes that concern its node (undefined: re-read the node's whole set)
   */
  private readonly streams = new Map<string, Set<(c: Commit, mine: Change[] | undefined) => void>>();
  private unsubscribe: (() => void) | undefined;
  private running = false;

  constructor(private readonly o: DispatcherOptions) {
    this.clock = o.clock ?? realClock;
    this.log = (o.log ?? silentLogger).child({ component: 'dispatcher' });
    this.periodMs = o.heartbeatPeriodMs ?? 5000;
    this.grace = o.gracePeriods ?? 3;
    // up to 1,000 updates per raft entry (~0.5 MB): a thousand agents reporting a hundred tasks
    // each through five states must not become thousands of small entries
    this.batcher = new StatusBatcher(o.state, this.clock, this.log, o.statusBatchMs ?? 50, o.statusBatchMax ?? 1_000, () => o.metrics?.dispatcherStatusBatches.inc());
  }

  /**
   * Start serving (on gaining leadership): every READY node must reconnect within twice the TTL.
   * The agents of a dead leader only learn of the new one by trying the managers in turn while the
   * election runs, so they get one TTL more than a node that merely misses heartbeats.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.o.state.subscribe((c) => this.fanOut(c));
    for (const n of this.o.state.view((tx) => tx.all('nodes'))) {
      if (n.status?.state === NodeState.NODE_READY && !this.sessions.has(n.id)) this.armExpiry(n.id, undefined, 2);
    }
  }

  /** Stop (on losing leadership): end every session so that agents move to the new leader. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.streams.clear();
    for (const s of [...this.sessions.values()]) this.endSession(s);
    for (const t of this.expiry.values()) t.cancel();
    this.expiry.clear();
    await this.batcher.flush().catch(() => undefined);
    this.batcher.cancel();
  }

  /** UpdateTaskStatus requests waiting for the next status batch */
  get statusRequestsWaiting(): number {
    return this.batcher.waiting;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  private requireRunning(): void {
    if (!this.running) throw new ShoalError('Unavailable', 'this manager is not the leader; its dispatcher is not serving');
  }

  // ---------------------------------------------------------------- registration (NodeCA)

  async issueNodeCertificate(req: IssueNodeCertificateRequest): Promise<IssueNodeCertificateResponse> {
    const cluster = this.o.state.view((tx) => requireCluster(tx));
    const role = roleForToken(req.token, cluster.rootCa?.joinTokens);
    if (role === undefined) throw new ShoalError('PermissionDenied', 'invalid join token');
    if (req.nodeId && cluster.removedNodes.includes(req.nodeId)) {
      throw new ShoalError('PermissionDenied', `node ${req.nodeId} was removed from the cluster and cannot rejoin with its old identity`);
    }
    const node = await this.o.state.update((tx) => {
      const c = getCluster(tx)!;
      const existing = req.nodeId ? tx.get('nodes', req.nodeId) : undefined;
      if (existing) return existing;
      const id = req.nodeId || this.o.newId();
      if (c.removedNodes.includes(id)) throw new ShoalError('PermissionDenied', `node ${id} was removed from the cluster`);
      const n: Node = {
        id,
        spec: { annotations: { name: '', labels: {} }, desiredRole: role, availability: NodeAvailability.ACTIVE },
        description: { hostname: req.hostname, engineVersion: '', engineLabels: {} },
        status: { state: NodeState.NODE_UNKNOWN, message: 'registered', addr: req.addr },
        role,
        dataPathAddr: '',
      };
      tx.create('nodes', n);
      return n;
    });
    this.log.info('node registered', { nodeId: node.id, role: NodeRole[node.role] });
    return { nodeId: node.id, role: node.role, certificate: Buffer.alloc(0), caCert: cluster.rootCa?.caCert ?? Buffer.alloc(0), clusterId: cluster.id };
  }

  // ---------------------------------------------------------------- session and heartbeats

  /** Open a session: marks the node READY and returns the first message; `end` is called when it expires. */
  async openSession(req: SessionRequest, end: () => void): Promise<SessionMessage> {
    this.requireRunning();
    const prev = this.sessions.get(req.nodeId);
    if (prev) this.endSession(prev);
    const node = await this.o.state.update((tx) => {
      const n = tx.get('nodes', req.nodeId);
      if (!n) throw new ShoalError('NotFound', `node ${req.nodeId} is not registered`);
      const next: Node = {
        ...n,
        description: req.description ?? n.description,
        dataPathAddr: req.dataPathAddr || n.dataPathAddr,
        status: { state: NodeState.NODE_READY, message: 'session started', addr: n.status?.addr ?? '' },
      };
      tx.update('nodes', next);
      return tx.get('nodes', n.id)!;
    });
    const s: SessionEntry = { id: this.o.newId(), nodeId: node.id, timer: undefined, end };
    this.expiry.get(node.id)?.cancel();
    this.expiry.delete(node.id);
    this.sessions.set(node.id, s);
    this.armExpiry(node.id, s);
    this.o.metrics?.dispatcherSessions.set(this.sessions.size);
    this.log.info('session started', { nodeId: node.id, sessionId: s.id });
    return { sessionId: s.id, node, managers: this.o.managers?.() ?? [] };
  }

  heartbeat(req: HeartbeatRequest): HeartbeatResponse {
    this.requireRunning();
    const s = this.session(req.nodeId, req.sessionId);
    this.o.metrics?.dispatcherHeartbeats.inc();
    this.armExpiry(s.nodeId, s);
    return { period: msDuration(this.periodMs) };
  }

  private session(nodeId: string, sessionId: string): SessionEntry {
    const s = this.sessions.get(nodeId);
    if (!s || s.id !== sessionId) throw new ShoalError('FailedPrecondition', `session ${sessionId} of node ${nodeId} is not valid; open a new session`);
    return s;
  }

  private armExpiry(nodeId: string, s: SessionEntry | undefined, ttls = 1): void {
    this.armTimer(nodeId, s, this.periodMs * this.grace * ttls);
  }

  private armTimer(nodeId: string, s: SessionEntry | undefined, ttl: number): void {
    const due = this.clock.now() + ttl;
    const timer = this.clock.setTimer(ttl, () => {
      // Fired more than a heartbeat period late: this process was stalled (GC, a long apply,
      // CPU starvation), and heartbeats that arrived meanwhile may still be unread behind this
      // timer. Give the node one more period before calling it down; a node that is really gone
      // stays silent through it.
      const late = this.clock.now() - due;
      if (late > this.periodMs) {
        this.log.info('heartbeat expiry fired late; checking the node once more', { nodeId, lateMs: late });
        this.armTimer(nodeId, s, this.periodMs);
        return;
      }
      void this.expire(nodeId, s);
    });
    if (s) {
      s.timer?.cancel();
      s.timer = timer;
    } else {
      this.expiry.get(nodeId)?.cancel();
      this.expiry.set(nodeId, timer);
    }
  }

  private endSession(s: SessionEntry): void {
    s.timer?.cancel();
    if (this.sessions.get(s.nodeId) === s) this.sessions.delete(s.nodeId);
    this.o.metrics?.dispatcherSessions.set(this.sessions.size);
    s.end();
  }

  /** The node missed its heartbeats: DOWN, and its tasks orphaned so that they are replaced. */
  private async expire(nodeId: string, s: SessionEntry | undefined): Promise<void> {
    if (!this.running) return;
    if (s) {
      if (this.sessions.get(nodeId) !== s) return;
      this.endSession(s);
    } else this.expiry.delete(nodeId);
    this.log.warn('node missed its heartbeats; marking it down', { nodeId });
    try {
      await this.o.state.update((tx) => {
        const n = tx.get('nodes', nodeId);
        if (!n) return;
        tx.update('nodes', { ...n, status: { state: NodeState.NODE_DOWN, message: 'heartbeat failure', addr: n.status?.addr ?? '' } });
        orphanNodeTasks(tx, nodeId, 'node is down', isoTime(this.clock.now()));
      });
    } catch (err) {
      this.log.error('marking node down failed', { nodeId, err: (err as Error).message });
    }
  }

  // ---------------------------------------------------------------- task status and assignments

  async updateTaskStatus(req: UpdateTaskStatusRequest): Promise<void> {
    this.requireRunning();
    this.session(req.nodeId, req.sessionId);
    const updates = req.updates.filter((u) => u.status).map((u) => ({ taskId: u.taskId, status: u.status! }));
    this.o.metrics?.dispatcherStatusRequests.inc();
    this.o.metrics?.dispatcherStatusUpdates.inc(updates.length);
    if (updates.length > 0) await this.batcher.add(req.nodeId, updates);
  }

  /**
   * Hands a commit to the Assignments streams of the nodes it concerns, each with its own share
   * of the changes: task creates and deletes on the node, and task updates that change what its
   * agent acts on (see assignmentChanged; status-only updates concern nobody) go to the task's
   * old and new node; a secret or config change sends every stream to a full re-read. One
   * subscription for all streams: the cost of a commit is its size, not its size times the
   * number of nodes.
   */
  private fanOut(c: Commit): void {
    if (this.streams.size === 0) return;
    const perNode = new Map<string, Change[]>();
    const add = (nodeId: string, ch: Change): void => {
      if (!nodeId || !this.streams.has(nodeId)) return;
      const list = perNode.get(nodeId);
      if (list) list.push(ch);
      else perNode.set(nodeId, [ch]);
    };
    let all = false;
    for (const ch of c.changes) {
      if (ch.table === 'tasks') {
        const t = ch.object as Task;
        if (ch.action === 'update') {
          const old = ch.old as Task;
          if (!assignmentChanged(old, t)) continue;
          if (old.nodeId !== t.nodeId) add(old.nodeId, ch);
        }
        add(t.nodeId, ch);
      } else if (ch.table === 'secrets' || ch.table === 'configs') all = true;
    }
    if (all) {
      for (const set of [...this.streams.values()]) for (const listener of set) listener(c, undefined);
      return;
    }
    for (const [id, mine] of perNode) {
      for (const listener of this.streams.get(id) ?? []) listener(c, mine);
    }
  }

  /**
   * Stream assignments: listen first, then read the full set, then send the changes each
   * commit makes to this node's set. Returns a function that stops the stream.
   */
  streamAssignments(req: AssignmentsRequest, send: (m: AssignmentsMessage) => void): () => void {
    this.requireRunning();
    const s = this.session(req.nodeId, req.sessionId);
    let seq = 0;
    let current = new Map() as ReturnType<typeof assignmentSet>;
    /** version of the full read: commits up to it are in `current` already */
    let readVersion = Number.POSITIVE_INFINITY;
    // Changes go out at most once per `assignmentBatchMs` per stream, and those of commits
    // delivered together always in one message: when the scheduler's placements commit back to
    // back, a node gets its tasks in one message instead of one per commit, and its agent reports
    // their states in one call (SwarmKit batches assignments the same way). The window is a rate
    // limit, not a delay: after a quiet window the next change goes out in a microtask. The
    // latest change of an item wins.
    const windowMs = this.o.assignmentBatchMs ?? 0;
    let queued: Map<string, AssignmentChange> | undefined;
    let scheduled = false;
    let timer: Timer | undefined;
    let lastSendAt = -Infinity;
    let closed = false;
    const flush = (): void => {
      scheduled = false;
      timer = undefined;
      const q = queued;
      queued = undefined;
      if (!q || closed) return;
      lastSendAt = this.clock.now();
      const changes = [...q.values()];
      this.o.metrics?.dispatcherAssignmentMessages.inc();
      this.o.metrics?.dispatcherAssignmentChanges.inc(changes.length);
      send({ type: AssignmentsType.ASSIGNMENTS_INCREMENTAL, appliesTo: seq, resultsIn: seq + 1, changes });
      seq++;
    };
    const emit = (changes: AssignmentsMessage['changes']): void => {
      if (changes.length === 0) return;
      queued ??= new Map();
      for (const ch of changes) queued.set(assignmentKey(ch), ch);
      if (scheduled) return;
      scheduled = true;
      const wait = lastSendAt + windowMs - this.clock.now();
      if (wait > 0) timer = this.clock.setTimer(wait, flush);
      else queueMicrotask(flush);
    };
    const refresh = (): void => {
      const next = this.o.state.view((tx) => {
        readVersion = tx.version;
        return assignmentSet(tx, s.nodeId);
      });
      const changes = diffAssignments(current, next);
      current = next;
      emit(changes);
    };
    // Commits reach listeners some time after they are applied, in commit order: those at or
    // below the last full read's version are in it already; each later one is applied on top.
    const listener = (c: Commit, mine: Change[] | undefined): void => {
      if (c.version <= readVersion) return;
      const changes = mine && applyTaskChanges(current, s.nodeId, mine);
      if (changes) emit(changes);
      else refresh();
    };
    let set = this.streams.get(s.nodeId);
    if (!set) this.streams.set(s.nodeId, (set = new Set()));
    set.add(listener);
    const unsubscribe = (): void => {
      closed = true;
      timer?.cancel();
      const cur = this.streams.get(s.nodeId);
      cur?.delete(listener);
      if (cur?.size === 0) this.streams.delete(s.nodeId);
    };
    this.o.state.view((tx) => {
      current = assignmentSet(tx, s.nodeId);
      readVersion = tx.version;
    });
    send({ type: AssignmentsType.ASSIGNMENTS_COMPLETE, appliesTo: 0, resultsIn: ++seq, changes: [...current.values()].map((v) => v.change) });
    return unsubscribe;
  }

  // ---------------------------------------------------------------- gRPC

  register(server: grpc.Server): void {
    const fail = (cb: (e: grpc.ServiceError) => void) => (err: unknown) => cb(ShoalError.fromGrpc(err).toGrpc() as grpc.ServiceError);
    server.addService(NodeCAService, {
      issueNodeCertificate: (call: grpc.ServerUnaryCall<IssueNodeCertificateRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        this.issueNodeCertificate(call.request).then((r) => cb(null, r), fail(cb));
      },
      nodeCertificateStatus: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { state: 2, certificate: Buffer.alloc(0), message: '' }),
    });
    server.addService(DispatcherService, {
      session: (call: grpc.ServerWritableStream<SessionRequest, SessionMessage>) => {
        let closed = false;
        const end = (): void => {
          if (!closed) {
            closed = true;
            call.end();
          }
        };
        call.on('cancelled', () => {
          closed = true;
          const s = this.sessions.get(call.request.nodeId);
          // the stream broke: the node gets the TTL to come back before it is marked down
          if (s && s.end === end) s.end = () => {};
        });
        this.openSession(call.request, end).then(
          (m) => call.write(m),
          (err) => call.emit('error', ShoalError.fromGrpc(err).toGrpc()),
        );
      },
      heartbeat: (call: grpc.ServerUnaryCall<HeartbeatRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        try {
          cb(null, this.heartbeat(call.request));
        } catch (err) {
          fail(cb)(err);
        }
      },
      updateTaskStatus: (call: grpc.ServerUnaryCall<UpdateTaskStatusRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        this.updateTaskStatus(call.request).then(() => cb(null, {}), fail(cb));
      },
      assignments: (call: grpc.ServerWritableStream<AssignmentsRequest, AssignmentsMessage>) => {
        try {
          const stop = this.streamAssignments(call.request, (m) => call.write(m));
          call.on('cancelled', stop);
          call.on('close', stop);
        } catch (err) {
          call.emit('error', ShoalError.fromGrpc(err).toGrpc());
        }
      },
    });
  }
}
