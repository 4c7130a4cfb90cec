// A minimal in-test manager: NodeCA + Dispatcher + LogBroker over real gRPC on 127.0.0.1:0.
// Records registrations, sessions, heartbeats and status updates, and lets a test push
// assignments (COMPLETE / INCREMENTAL) and log subscriptions.
import {
  AssignmentAction,
  AssignmentsType,
  bindServer,
  createServer,
  DispatcherService,
  LogBrokerService,
  msDuration,
  NodeCAService,
  NodeRole,
  ShoalError,
  type AssignmentsMessage,
  type Config,
  type DispatcherServer,
  type LogBrokerServer,
  type NodeCAServer,
  type PublishLogsMessage,
  type Secret,
  type SubscriptionMessage,
  type Task,
  type TaskStatus,
  type WeightedPeer,
  type grpc,
} from '@shoal/api';

export class TestDispatcher {
  readonly server: grpc.Server;
  addr = '';
  /** Manager list sent with each session (defaults to this dispatcher only). */
  managers: WeightedPeer[] = [];
  heartbeatPeriodMs = 5000;
  /** When set, heartbeats fail with this error (a manager that lost its quorum, say). */
  heartbeatError: ShoalError | undefined;
  /** The next this many heartbeats fail (a manager too busy to answer in time, say). */
  heartbeatFailuresLeft = 0;
  /** When set, opening a session fails with this error (e.g. NotFound: the node is not known). */
  sessionError: ShoalError | undefined;
  sessionAttempts = 0;
  issued = 0;
  heartbeats = 0;
  readonly sessionIds: string[] = [];
  readonly validSessions = new Set<string>();
  readonly statusRpcs: { updates: number }[] = [];
  readonly latest = new Map<string, TaskStatus>();
  readonly history: { taskId: string; status: TaskStatus }[] = [];
  readonly tasks = new Map<string, Task>();
  /** Secrets and configs sent with every COMPLETE set. */
  secrets: Secret[] = [];
  configs: Config[] = [];
  readonly published: PublishLogsMessage[] = [];
  assignmentStreams = 0;
  private seq = 0;
  private nextSession = 1;
  private readonly streams = new Set<grpc.ServerWritableStream<unknown, AssignmentsMessage>>();
  private readonly sessionCalls = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  private readonly listeners = new Set<grpc.ServerWritableStream<unknown, SubscriptionMessage>>();

  constructor(readonly name = 'd') {
    this.server = createServer();
    const ca: NodeCAServer = {
      issueNodeCertificate: (call, cb) => {
        if (call.request.token !== 'join-token') return cb(new ShoalError('PermissionDenied', 'bad join token').toGrpc());
        this.issued++;
        cb(null, { nodeId: 'node-1', role: NodeRole.WORKER, certificate: Buffer.alloc(0), caCert: Buffer.alloc(0), clusterId: 'cluster-1' });
      },
      nodeCertificateStatus: (_call, cb) => cb(new ShoalError('Unimplemented', 'no').toGrpc()),
    };
    const dispatcher: DispatcherServer = {
      session: (call) => {
        this.sessionAttempts++;
        if (this.sessionError) {
          call.emit('error', this.sessionError.toGrpc());
          return;
        }
        const id = `${this.name}-s${this.nextSession++}`;
        this.sessionIds.push(id);
        this.validSessions.add(id);
        this.sessionCalls.add(call as grpc.ServerWritableStream<unknown, unknown>);
        call.on('cancelled', () => this.sessionCalls.delete(call as grpc.ServerWritableStream<unknown, unknown>));
        call.write({ sessionId: id, managers: this.managers.length ? this.managers : [{ nodeId: this.name, addr: this.addr, weight: 1 }] });
      },
      heartbeat: (call, cb) => {
        if (this.heartbeatError) return cb(this.heartbeatError.toGrpc());
        if (this.heartbeatFailuresLeft > 0) {
          this.heartbeatFailuresLeft--;
          return cb(new ShoalError('DeadlineExceeded', 'heartbeat not handled in time').toGrpc());
        }
        if (!this.validSessions.has(call.request.sessionId)) return cb(new ShoalError('NotFound', `session ${call.request.sessionId} not found`).toGrpc());
        this.heartbeats++;
        cb(null, { period: msDuration(this.heartbeatPeriodMs) });
      },
      updateTaskStatus: (call, cb) => {
        if (!this.validSessions.has(call.request.sessionId)) return cb(new ShoalError('NotFound', 'session not found').toGrpc());
        this.statusRpcs.push({ updates: call.request.updates.length });
        for (const u of call.request.updates) {
          if (!u.status) continue;
          this.latest.set(u.taskId, u.status);
          this.history.push({ taskId: u.taskId, status: u.status });
        }
        cb(null, {});
      },
      assignments: (call) => {
        if (!this.validSessions.has(call.request.sessionId)) {
          call.emit('error', new ShoalError('NotFound', 'session not found').toGrpc());
          return;
        }
        this.assignmentStreams++;
        this.streams.add(call);
        call.on('cancelled', () => this.streams.delete(call));
        call.write(this.completeMessage());
      },
    };
    const broker: LogBrokerServer = {
      listenSubscriptions: (call) => {
        this.listeners.add(call);
        call.on('cancelled', () => this.listeners.delete(call));
      },
      publishLogs: (call, cb) => {
        call.on('data', (m: PublishLogsMessage) => this.published.push(m));
        call.on('end', () => cb(null, {}));
        call.on('error', () => {});
      },
    };
    this.server.addService(NodeCAService, ca);
    this.server.addService(DispatcherService, dispatcher);
    this.server.addService(LogBrokerService, broker);
  }

  async start(): Promise<this> {
    const port = await bindServer(this.server, '127.0.0.1:0');
    this.addr = `127.0.0.1:${port}`;
    return this;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  get openAssignmentStreams(): number {
    return this.streams.size;
  }

  private completeMessage(): AssignmentsMessage {
    return {
      type: AssignmentsType.ASSIGNMENTS_COMPLETE,
      appliesTo: 0,
      resultsIn: this.seq,
      changes: [
        ...[...this.tasks.values()].map((task) => ({ assignment: { item: { $case: 'task' as const, task } }, action: AssignmentAction.ASSIGNMENT_UPDATE })),
        ...this.secrets.map((secret) => ({ assignment: { item: { $case: 'secret' as const, secret } }, action: AssignmentAction.ASSIGNMENT_UPDATE })),
        ...this.configs.map((config) => ({ assignment: { item: { $case: 'config' as const, config } }, action: AssignmentAction.ASSIGNMENT_UPDATE })),
      ],
    };
  }

  /** Replaces the assignment set and sends it COMPLETE to every open stream. */
  setTasks(tasks: Task[]): void {
    this.tasks.clear();
    for (const t of tasks) this.tasks.set(t.id, t);
    this.seq++;
    for (const s of this.streams) s.write(this.completeMessage());
  }

  /** Sends an INCREMENTAL change. `skipSeq` forges a gap. */
  incremental(update: Task[], remove: string[], opts: { skipSeq?: boolean } = {}): void {
    for (const t of update) this.tasks.set(t.id, t);
    for (const id of remove) this.tasks.delete(id);
    const appliesTo = opts.skipSeq ? this.seq + 1 : this.seq;
    this.seq = appliesTo + 1;
    const msg: AssignmentsMessage = {
      type: AssignmentsType.ASSIGNMENTS_INCREMENTAL,
      appliesTo,
      resultsIn: this.seq,
      changes: [
        ...update.map((task) => ({ assignment: { item: { $case: 'task' as const, task } }, action: AssignmentAction.ASSIGNMENT_UPDATE })),
        ...remove.map((id) => ({ assignment: { item: { $case: 'task' as const, task: { ...this.removedStub(id) } } }, action: AssignmentAction.ASSIGNMENT_REMOVE })),
      ],
    };
    for (const s of this.streams) s.write(msg);
  }

  private removedStub(id: string): Task {
    return { id, serviceId: '', slot: 0, nodeId: '', desiredState: 0, networks: [], restartAttempt: 0 };
  }

  subscribe(m: SubscriptionMessage): void {
    for (const l of this.listeners) l.write(m);
  }

  /** Forget every session: the next heartbeat/status call with an old id gets NotFound. */
  expireSessions(): void {
    this.validSessions.clear();
  }

  totalStatusUpdates(): number {
    return this.statusRpcs.reduce((n, r) => n + r.updates, 0);
  }

  /** Dies like a crashed process: every stream breaks at once. */
  kill(): void {
    this.server.forceShutdown();
  }
}
